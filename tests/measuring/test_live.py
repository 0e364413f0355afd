"""Long-lived services (``measuring.live``): when an adaptive window may end, from a pause log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbench.measuring import live

T0 = 1_000_000.0


def pause_log(
    directory: Path, pid: int, fulls: list[float], serving_since: float = T0 - 30
) -> None:
    """A service process's pause log: started, serving since ``serving_since``, full
    collections starting at ``fulls`` (epoch s), 50 ms each."""
    directory.mkdir(parents=True, exist_ok=True)
    state = {"pid": pid, "ppid": 1, "gc": "default", "threshold": [700, 10, 10], "frozen": 0}
    lines = [{"kind": "start", "t": serving_since - 1, **state},
             {"kind": "runtime", "t": serving_since, **state}]  # fmt: skip
    lines += [{"kind": "full", "pid": pid, "t": t, "ms": 50.0, "collected": 10} for t in fulls]
    (directory / f"gc-{pid}.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))


def at(monkeypatch: pytest.MonkeyPatch, now: float) -> None:
    monkeypatch.setattr(live.time, "time", lambda: now)


def test_a_tail_window_ends_after_three_collections_and_not_on_a_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Collections at 1, 3 and 5 s (any process; 50 ms each in a 30 s life: 0.17 % of the
    time, so a p99.9 needs the span): at 5.5 s the window has held three in 5.5 s, its interval
    1.83 s, so it ends at 5 + 0.92 s, not on the collection. A p99 (1 %: beyond any pause's
    reach) ends at its shortest length."""
    pause_log(tmp_path, 11, [T0 + 1, T0 + 3, T0 + 5])
    end = live.TailWindowEnd(tmp_path, T0, rate=4000.0, percentile=99.9, shortest=5.0)
    at(monkeypatch, T0 + 5.5)
    assert not end()
    at(monkeypatch, T0 + 6.0)
    assert end()
    two = tmp_path / "two"
    pause_log(two, 12, [T0 + 1, T0 + 3])
    waits = live.TailWindowEnd(two, T0, rate=4000.0, percentile=99.9, shortest=5.0)
    at(monkeypatch, T0 + 30)
    assert not waits()  # two collections: the window runs to its maximum
    p99 = live.TailWindowEnd(two, T0, rate=4000.0, percentile=99.0, shortest=5.0)
    at(monkeypatch, T0 + 5.01)
    assert p99()


def test_a_tail_window_waits_for_its_shortest_length_and_its_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pause_log(tmp_path, 11, [T0 + 0.5, T0 + 1.0, T0 + 1.5, T0 + 2.0])
    quick = live.TailWindowEnd(tmp_path, T0, rate=400.0, percentile=99.0, shortest=5.0)
    at(monkeypatch, T0 + 4.9)
    assert not quick()  # shorter than the shortest window
    slow = live.TailWindowEnd(tmp_path, T0, rate=100.0, percentile=99.0, shortest=5.0)
    at(monkeypatch, T0 + 6.0)
    assert quick() and not slow()  # 600 of the 1,000 requests a p99 needs
    at(monkeypatch, T0 + 10.1)
    assert slow()


def test_collections_in_any_process_count(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pause_log(tmp_path, 11, [T0 + 1, T0 + 5])
    pause_log(tmp_path, 12, [T0 + 3])
    end = live.TailWindowEnd(tmp_path, T0, rate=4000.0, percentile=99.9, shortest=5.0)
    at(monkeypatch, T0 + 6.01)
    assert end()


def test_a_percentile_below_the_tail_and_a_quiet_or_unhooked_service_end_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pause_log(tmp_path / "busy", 11, [T0 + 2])
    median = live.TailWindowEnd(tmp_path / "busy", T0, rate=400.0, percentile=50.0, shortest=5.0)
    pause_log(tmp_path / "quiet", 11, [])
    quiet = live.TailWindowEnd(tmp_path / "quiet", T0, rate=400.0, percentile=99.0, shortest=5.0)
    unhooked = live.TailWindowEnd(tmp_path / "none", T0, rate=400.0, percentile=99.0, shortest=5.0)
    at(monkeypatch, T0 + 5.01)
    assert median() and quiet() and unhooked()


def test_a_window_ends_once_collections_rarer_than_it_could_not_set_its_tail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four 50 ms collections in the service's first second of serving make its life's share
    high enough that a p99 needs the span (2 × 20 % ≥ 1 %); in the window only one comes. Three
    collections of 50 ms could still set a p99 in a window under 30 s (2 × 3 × 50 ms / 30 s =
    1 %), not in a longer one: the window ends past 30 s, not at its maximum."""
    pause_log(tmp_path, 11, [T0 - 0.8, T0 - 0.6, T0 - 0.4, T0 - 0.2, T0 + 2], serving_since=T0 - 1)
    end = live.TailWindowEnd(tmp_path, T0, rate=400.0, percentile=99.0, shortest=5.0)
    at(monkeypatch, T0 + 29.0)
    assert not end()
    at(monkeypatch, T0 + 30.5)
    assert end()
    deeper = live.TailWindowEnd(tmp_path, T0, rate=4000.0, percentile=99.9, shortest=5.0)
    assert not deeper()  # a p99.9 would need 300 s
