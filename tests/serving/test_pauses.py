"""chatbench.serving.pauses: the services' pause files read back, windows summarised.

Small synthetic files in the services' format (docs/interfaces.md); the services' own writers
are checked against this reader in tests/services/test_gc_pauses.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbench.serving import pauses

T0 = 1_800_000_000.0  # an epoch second


def _state(kind: str, pid: int, t: float, *, gc: str = "default", frozen: int = 0) -> dict:
    return {
        "kind": kind,
        "pid": pid,
        "ppid": 1,
        "t": t,
        "gc": gc,
        "threshold": [700, 10, 10],
        "frozen": frozen,
    }


def _full(pid: int, t: float, ms: float) -> dict:
    return {"kind": "full", "pid": pid, "t": t, "ms": ms, "collected": 3}


def _young(pid: int, t: float, count: list[int], total: list[float], most: list[float]) -> dict:
    return {"kind": "young", "pid": pid, "t": t, "count": count, "ms_total": total, "ms_max": most}


def _write(directory: Path, pid: int, lines: list[dict], tail: str = "") -> None:
    text = "".join(json.dumps(line) + "\n" for line in lines) + tail
    (directory / f"gc-{pid}.jsonl").write_text(text)


@pytest.fixture
def two_workers(tmp_path: Path) -> Path:
    """Two workers whose collections interleave in time; worker 11 was killed mid-write."""
    _write(
        tmp_path,
        11,
        [
            _state("start", 11, T0),
            _full(11, T0 + 0.5, 30.0),
            _state("runtime", 11, T0 + 1),
            _young(11, T0 + 1.5, [40, 3], [4.0, 1.5], [0.3, 0.9]),
            _full(11, T0 + 10.0, 200.0),
            _young(11, T0 + 12.0, [20, 2], [2.0, 1.0], [0.2, 0.6]),
            _full(11, T0 + 14.0, 180.0),
        ],
        tail='{"kind": "full", "pid": 11, "t": 18',
    )
    _write(
        tmp_path,
        12,
        [
            _state("start", 12, T0 + 0.1),
            _state("runtime", 12, T0 + 1.1),
            _full(12, T0 + 12.0, 240.0),
            _young(12, T0 + 13.0, [10, 1], [1.0, 0.5], [0.4, 0.5]),
            _full(12, T0 + 20.0, 90.0),
        ],
    )
    return tmp_path


def test_every_process_is_read_and_a_truncated_last_line_is_skipped(two_workers: Path) -> None:
    log = pauses.read_pause_log(two_workers)
    assert log.pids == (11, 12)
    assert log.skipped_lines == 1
    assert [(c.pid, c.t - T0) for c in log.full] == [
        (11, 0.5),
        (11, 10.0),
        (12, 12.0),
        (11, 14.0),
        (12, 20.0),
    ]
    worker = log.processes[11]
    assert worker.start is not None and worker.start.threshold == (700, 10, 10)
    assert worker.runtime is not None and worker.runtime.t == T0 + 1
    assert [y.count for y in worker.young] == [(40, 3), (20, 2)]


def test_a_malformed_line_anywhere_is_skipped_not_fatal(tmp_path: Path) -> None:
    _write(tmp_path, 5, [_state("start", 5, T0)], tail="not json\n")
    with (tmp_path / "gc-5.jsonl").open("a") as fh:
        fh.write(json.dumps({"kind": "full", "pid": 5, "t": "soon"}) + "\n")  # wrong type
        fh.write(json.dumps({"kind": "major", "pid": 5, "t": T0}) + "\n")  # unknown kind
        fh.write(json.dumps(_full(5, T0 + 2, 12.5)) + "\n")
    log = pauses.read_pause_log(tmp_path)
    assert log.skipped_lines == 3
    assert [c.ms for c in log.full] == [12.5]


def test_no_directory_or_no_file_is_an_empty_log(tmp_path: Path) -> None:
    for directory in (tmp_path / "absent", tmp_path):
        log = pauses.read_pause_log(directory)
        assert log.pids == () and log.full == ()
        assert not pauses.startup_passed(log)
        window = pauses.summarise(log, T0, T0 + 10)
        assert window.full_count == 0 and window.full_interval_s is None
        assert pauses.describe(window) == "no full collection"


def test_a_window_counts_what_started_in_it_from_every_process(two_workers: Path) -> None:
    log = pauses.read_pause_log(two_workers)
    # [T0 + 10, T0 + 20): 10 is in (the edge belongs to the window), 20 is not.
    w = pauses.summarise(log, T0 + 10, T0 + 20)
    assert w.full_count == 3
    assert w.full_total_ms == pytest.approx(620.0)
    assert w.full_longest_ms == 240.0
    assert w.full_by_pid == {11: 2, 12: 1}
    assert w.processes == (11, 12)
    # Young lines with t in the window: 11's at +12 and 12's at +13 (11's at +1.5 is before it).
    assert w.young_count == 22 + 11
    assert w.young_total_ms == pytest.approx(3.0 + 1.5)
    assert w.young_longest_ms == 0.6
    # One time line for the service: collections at +10, +12, +14 → gaps 2 and 2.
    assert w.full_interval_s == pytest.approx(2.0)
    # The longest while serving up to the window's end: 240 ms; 11's 30 ms at +0.5 was start-up.
    assert w.life_longest_ms == 240.0
    assert pauses.summarise(log, T0 + 2, T0 + 11).life_longest_ms == 200.0
    assert pauses.summarise(log, T0, T0 + 5).life_longest_ms is None  # none while serving


def test_the_full_interval_merges_the_processes_and_takes_the_median(two_workers: Path) -> None:
    log = pauses.read_pause_log(two_workers)
    w = pauses.summarise(log, T0, T0 + 30)  # +0.5, +10, +12, +14, +20 → 9.5, 2, 2, 6
    assert w.full_count == 5
    assert w.full_interval_s == pytest.approx(4.0)
    one = pauses.summarise(log, T0 + 19, T0 + 30)
    assert one.full_count == 1 and one.full_interval_s is None
    assert one.full_by_pid == {11: 0, 12: 1}  # a process with none still shows, with 0


def test_processes_seen_are_those_started_before_the_window_ends(tmp_path: Path) -> None:
    _write(tmp_path, 1, [_state("start", 1, T0), _full(1, T0 + 1, 5.0)])
    _write(tmp_path, 2, [_state("start", 2, T0 + 50)])  # a worker started later
    w = pauses.summarise(pauses.read_pause_log(tmp_path), T0, T0 + 10)
    assert w.processes == (1,)
    assert w.full_by_pid == {1: 1}


def test_startup_counts_only_collections_after_start_up_ended(two_workers: Path) -> None:
    log = pauses.read_pause_log(two_workers)
    # 11's collection at +0.5 ran during start-up (before its runtime line at +1).
    assert pauses.serving_full_collections(log) == {11: 2, 12: 2}
    assert pauses.startup_passed(log)
    assert pauses.startup_passed(log, min_full=2)
    assert not pauses.startup_passed(log, min_full=3)


def test_startup_waits_for_every_process(tmp_path: Path) -> None:
    _write(
        tmp_path,
        1,
        [
            _state("start", 1, T0),
            _state("runtime", 1, T0 + 1),
            _full(1, T0 + 2, 5.0),
            _full(1, T0 + 3, 5.0),
        ],
    )
    _write(
        tmp_path, 2, [_state("start", 2, T0), _state("runtime", 2, T0 + 1), _full(2, T0 + 2, 5.0)]
    )
    log = pauses.read_pause_log(tmp_path)
    assert pauses.serving_full_collections(log) == {1: 2, 2: 1}
    assert not pauses.startup_passed(log)
    assert pauses.startup_passed(log, min_full=1)


@pytest.mark.parametrize(
    ("full_ms", "text"),
    [
        ([], "no full collection"),
        ([240.0], "1 full collection of 240 ms"),
        ([4.25], "1 full collection of 4.2 ms"),
        ([200.0, 240.4, 180.0, 190.0, 210.0], "5 full collections of up to 240 ms (total 1.0 s)"),
        ([35.0, 36.6], "2 full collections of up to 37 ms (total 72 ms)"),
    ],
)
def test_describe_names_count_longest_and_total(
    tmp_path: Path, full_ms: list[float], text: str
) -> None:
    _write(
        tmp_path,
        7,
        [_state("start", 7, T0)] + [_full(7, T0 + 1 + k, ms) for k, ms in enumerate(full_ms)],
    )
    window = pauses.summarise(pauses.read_pause_log(tmp_path), T0, T0 + 60)
    assert pauses.describe(window) == text
