"""First and last thirds of a window (``analysing.steadiness``)."""

from __future__ import annotations

import pytest

from chatbench.analysing import stats, steadiness
from chatbench.load import latency
from loadtests.recorder import Recorder
from tests.conftest import REPO_ROOT

T0 = 1_000_000.0
HISTORY = "GET /api/chat/messages"


def doc_with(monkeypatch: pytest.MonkeyPatch, per_second_ms: list[float], per_second: int = 200):
    """A window of ``len(per_second_ms)`` seconds whose every request in second ``i`` took
    ``per_second_ms[i]``, as the recorder writes it."""
    rec = Recorder()
    rec.start(T0, {"warmup_s": 0.0, "measure_s": float(len(per_second_ms)), "mode": "closed"})
    for second, ms in enumerate(per_second_ms):
        for k in range(per_second):
            now = T0 + second + k / per_second
            monkeypatch.setattr("loadtests.recorder.time.time", lambda now=now: now)
            rec.on_request("GET", HISTORY, ms, 10)
    return latency.parse_requests(rec.to_doc(now=T0 + len(per_second_ms)))


def test_the_thirds_are_cut_by_whole_seconds_of_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    doc = doc_with(monkeypatch, [10.0] * 3 + [20.0] * 3 + [40.0] * 3)
    first, last, n1, n2 = steadiness.window_thirds(doc)
    assert first["p50"] == pytest.approx(10.0, rel=0.01)
    assert last["p99"] == pytest.approx(40.0, rel=0.01)
    assert n1 == n2 == 600


def test_thirds_agree_when_their_intervals_overlap() -> None:
    same = [steadiness.Thirds("django", r, {"p50": 5.0 + r / 10}, {"p50": 5.05 + r / 10}, 1, 1)
            for r in range(1, 4)]  # fmt: skip
    (p50,) = [a for a in steadiness.agreements(same) if a.metric == "p50"]
    assert p50.agree and p50.first.method == stats.T95_LOG and p50.ratio.n == 3
    apart = [steadiness.Thirds("django", r, {"p50": 5.0 + r / 100}, {"p50": 9.0 + r / 100}, 1, 1)
             for r in range(1, 4)]  # fmt: skip
    (p50,) = [a for a in steadiness.agreements(apart) if a.metric == "p50"]
    assert not p50.agree and p50.ratio.value > 1.7


def test_every_repetition_of_a_run_directory_is_cut_into_thirds() -> None:
    """From a committed run: one Thirds per variant and repetition, each third counted."""
    found = steadiness.thirds(REPO_ROOT / "tests" / "fixtures" / "run_small")
    assert found and all(t.first_requests > 0 and t.last_requests > 0 for t in found)
    assert len({(t.variant, t.repetition) for t in found}) == len(found)
