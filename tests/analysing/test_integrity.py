"""The integrity rule: rows written == successful creates, allowing only cut-off POSTs."""

import pytest

from chatbench.analysing.integrity import integrity_holds


@pytest.mark.parametrize(
    ("creates", "actual", "unfinished", "holds"),
    [
        (100, 100, 0, True),
        (100, 99, 0, False),  # a lost write
        (100, 101, 0, False),  # an invented row
        (100, 102, 2, True),  # two POSTs cut off at stop, both committed
        (100, 103, 2, False),  # more extra rows than cut-off POSTs
        (100, 99, 5, False),  # cut-off POSTs never excuse a lost write
    ],
)
def test_integrity_holds(creates: int, actual: int, unfinished: int, holds: bool) -> None:
    assert integrity_holds(creates, actual, unfinished) is holds
