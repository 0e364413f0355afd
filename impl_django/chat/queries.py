"""Raw SQL the service runs outside the ORM: the health check's ``SELECT 1``."""

from __future__ import annotations

from django.db import connection


def select_one() -> None:
    """``SELECT 1`` on this thread's connection; raises ``DatabaseError`` when it cannot."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
