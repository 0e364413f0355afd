"""The ChatMessage model, mapped onto the shared table from postgres/schema.sql."""

from django.db import models
from django.db.models.functions import Now


class ChatMessage(models.Model):
    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"
        SYSTEM = "system"

    id = models.BigAutoField(primary_key=True)
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField()
    session_id = models.CharField(max_length=64)
    # Set by Postgres (DEFAULT now()), like on the FastAPI side; with db_default
    # Django reads it back in the INSERT's RETURNING clause, so a create is one statement.
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        # The table (and its index on (session_id, id)) comes from postgres/schema.sql.
        managed = False
        db_table = "chat_messages"

    def __str__(self) -> str:
        return f"{self.session_id}#{self.id} {self.role}"
