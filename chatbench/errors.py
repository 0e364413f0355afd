"""Errors a user can cause, under one root.

    ChatbenchError                 one clear sentence; exit code 1
    ├── UsageError                 bad arguments, suite or baseline file; exit code 2
    │   └── ToolMissing            a program chatbench drives is not installed (`make tools`)
    ├── NotComparableError         what was measured cannot be compared (a baseline from other
    │                              settings, a fairness rule violated); exit code 3
    ├── PostgresError              the database could not be provisioned or reached
    ├── ServerError                a service failed to start, answer or stay alive
    ├── LoadgenError               a load generator (Locust, the open-model one) failed
    ├── IntegrityError             rows in the database != successful creates counted
    └── Interrupted                Ctrl-C; exit code 130

The CLI turns each into its message and exit code in one place; anything else is a
programming error and stays a traceback.

`chatbench check` has two exit codes of its own besides these, for verdicts rather than
errors: 1 for a regression and 4 for "undecided within the budget" (``EXIT_*`` below, used by
``chatbench.analysing.gate``), so CI can tell a slower commit (1) from a noisy runner (4), a
wrong command line (2) and a reference that cannot be compared with the run (3).
"""

from __future__ import annotations


class ChatbenchError(Exception):
    """Base of every error a user can cause or must act on."""

    exit_code = 1

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # e.g. a log tail, printed under the sentence

    def __str__(self) -> str:
        return self.message


class UsageError(ChatbenchError):
    exit_code = 2


class ToolMissing(UsageError):
    """A program chatbench drives (wrk, node and the open-model generator's packages) is
    missing or too old: the message says how to install it (``make tools``)."""


class NotComparableError(ChatbenchError):
    """What was measured cannot be compared: a baseline taken under other settings or on
    another machine class, one without the figures the gate was asked to judge, or a run
    whose fairness rule was violated (``analysing.fairness.NotComparable``)."""

    exit_code = 3


class PostgresError(ChatbenchError):
    pass


class ServerError(ChatbenchError):
    pass


class LoadgenError(ChatbenchError):
    pass


class IntegrityError(ChatbenchError):
    pass


class Interrupted(ChatbenchError):
    exit_code = 130


# `chatbench check`'s exit codes (docs/ci-gate.md, "Exit codes").
EXIT_NO_REGRESSION = 0
EXIT_REGRESSION = 1
EXIT_USAGE = UsageError.exit_code
EXIT_NOT_COMPARABLE = NotComparableError.exit_code
EXIT_UNDECIDED = 4


def log_tail(text: str, lines: int = 15) -> str:
    """The last lines of a log, for error messages."""
    return "\n".join(text.strip().splitlines()[-lines:])
