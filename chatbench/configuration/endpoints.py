"""The API's endpoints as every table, chart and file names them.

Labels are the ones the locustfile gives its requests (``tests/configuration`` checks that
they agree), so ``requests.json``, ``summary.csv``, ``sqlwork.csv`` and the report all use the
same strings. ``ALL`` is the label of "every endpoint merged".
"""

from __future__ import annotations

COLLECTION = "/api/chat/messages"
CREATE = f"POST {COLLECTION}"
HISTORY = f"GET {COLLECTION}"
DETAIL = f"GET {COLLECTION}/{{id}}"
DELETE = f"DELETE {COLLECTION}/{{id}}"
ENDPOINTS = (CREATE, HISTORY, DETAIL, DELETE)  # canonical order in every table
ALL = "ALL"

# Short names for the terminal table, where 80 columns are all there is.
_TERMINAL = {
    CREATE: "POST msgs",
    HISTORY: "GET history",
    DETAIL: "GET by id",
    DELETE: "DELETE by id",
    ALL: "all",
}


def sort_key(label: str) -> tuple[int, str]:
    """Canonical endpoints first, in order; unknown labels next; ``ALL`` last."""
    if label == ALL:
        return (len(ENDPOINTS) + 1, label)
    try:
        return (ENDPOINTS.index(label), label)
    except ValueError:
        return (len(ENDPOINTS), label)


def short(label: str) -> str:
    """Charts and the report: ``GET /api/chat/messages/{id}`` → ``GET /messages/{id}``;
    ``ALL`` → ``all endpoints``."""
    return "all endpoints" if label == ALL else label.replace("/api/chat", "")


def terminal(label: str) -> str:
    """The terminal table's name for an endpoint (``POST msgs``); unknown labels as given."""
    return _TERMINAL.get(label, label)
