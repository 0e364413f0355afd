"""Integrity: after a run, rows written == successful creates, per variant and repetition.

Nothing lost, nothing invented. The count of successful creates is our request listener's
exact count (``requests.json``), never Locust's stale CSV; the rows are counted in the
variant's own database before and after its load.
"""

from __future__ import annotations

from collections.abc import Iterable

from chatbench.errors import IntegrityError
from chatbench.storing.record import IntegrityRecord


def integrity_holds(creates: int, actual: int, unfinished: int) -> bool:
    """Every successful create is a row, and any extra row is one of the POSTs Locust cut off
    at stop (sent, maybe committed, response never seen)."""
    return creates <= actual <= creates + max(0, unfinished)


def entry(
    variant: str,
    repetition: int,
    *,
    creates: int,
    unfinished: int,
    rows_before: int | None,
    rows_after: int | None,
) -> IntegrityRecord:
    """One repetition's check (``rows_*`` None: the database was not reachable from here)."""
    if rows_before is None or rows_after is None:
        skipped = "no --database-url for the target's database"
        return IntegrityRecord(variant=variant, repetition=repetition, expected=creates,
                               actual=None, ok=True, skipped=skipped)  # fmt: skip
    actual = rows_after - rows_before
    return IntegrityRecord(
        variant=variant, repetition=repetition, rows_before=rows_before, rows_after=rows_after,
        expected=creates, actual=actual, unfinished_creates=unfinished,
        ok=integrity_holds(creates, actual, unfinished),
    )  # fmt: skip


def require(entries: Iterable[IntegrityRecord]) -> None:
    """Raise ``IntegrityError`` naming every repetition that failed the check."""
    bad = [r for r in entries if not r.ok]
    if bad:
        lines = "; ".join(
            f"{r.variant} rep {r.repetition}: {r.actual} rows written vs {r.expected} "
            "successful creates"
            for r in bad
        )
        raise IntegrityError(f"Integrity check failed: {lines}.")
