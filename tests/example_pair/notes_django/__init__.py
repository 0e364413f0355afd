"""A small Django project (Django Ninja on gunicorn): the Django half of the example pair.

It stands for a team's own service, outside chatbench: it imports nothing from chatbench and
reads only the environment the harness gives every service (docs/interfaces.md): DATABASE_URL,
CHATBENCH_HOST, CHATBENCH_PORT, CHATBENCH_WORKERS, CHATBENCH_THREADS.
"""
