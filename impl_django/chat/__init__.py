"""The `chat` app: the ChatMessage resource and the API contract around it."""
