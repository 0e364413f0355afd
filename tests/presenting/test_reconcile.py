"""Answers that point different ways get one sentence saying why from the data, or the weaker
is withheld (``presenting.reconcile``) — pure: synthetic answers on the small fixture's run."""

from __future__ import annotations

import math

import pytest

from chatbench.analysing import openload, stats, tails
from chatbench.analysing.answers import RunAnswer
from chatbench.presenting.reconcile import CLOSED_LOOP, Claim, cause, reconcile
from chatbench.storing.record import PauseRecord
from chatbench.storing.rundir import Run, load_run
from tests.fixtures.runs import RUN_SMALL

RATE = 464.0


@pytest.fixture(scope="module")
def run() -> Run:
    return load_run(RUN_SMALL)


def _window(pauses: PauseRecord | None) -> openload.LatencyWindow:
    held = {m: tails.Holding(q, True) for m, q in tails.NAMED.items()}
    return openload.LatencyWindow(1, False, {"p99": 9.0}, held, pauses, 20.0, 9000)


def _answer(fastapi_pauses: PauseRecord | None) -> RunAnswer:
    estimate = stats.Estimate(9.0, 8.0, 10.0, 3, stats.T95_LOG)
    variants = tuple(
        openload.VariantLatency(
            name,
            3,
            0,
            {"p99": estimate},
            {},
            RATE,
            (_window(fastapi_pauses if name == "fastapi" else None),) * 3,
        )
        for name in ("django", "fastapi")
    )
    at = openload.RateLatency(0.8, RATE, "equal-load/80pct", 100, variants, (), ())
    return RunAnswer("chat", "closed", 20, "django", (), (), (), (), (at,), None)


CAPACITY = Claim(
    "capacity",
    "the capacity ratio fastapi/django (1.90×)",
    "fastapi",
    "django",
    1.90,
    True,
    True,
    0,
)
SLOWER_TAIL = Claim(
    "equal load",
    f"the p99 ratio at {RATE:,.0f} req/s (1.30×)",
    "fastapi",
    "django",
    1.30,
    False,
    False,
    1,
    rate=RATE,
    percentile=99.0,
)
PAUSED = PauseRecord(
    full=4, full_longest_ms=240.0, full_interval_s=2.0, processes=1, paused_share=0.029
)


def test_pauses_that_can_set_the_tail_explain_it(run: Run) -> None:
    done = reconcile(run, _answer(PAUSED), [CAPACITY, SLOWER_TAIL])
    assert done.withheld == frozenset()
    assert done.sentence == (
        "The capacity ratio fastapi/django (1.90×) favours fastapi, but the p99 ratio at 464 "
        "req/s (1.30×) points the other way: fastapi's full collections of up to 240 ms (4 a "
        "window) paused it 2.9 % of the time; twice that, with the queue behind them, reaches the "
        "1 % a p99 leaves, so "
        "its pauses, not its speed, set its p99."
    )


def test_pauses_too_short_to_matter_explain_nothing_and_the_weaker_is_withheld(run) -> None:
    brief = PAUSED.but(paused_share=0.004)  # 0.4 %: less than the 1 % a p99 leaves
    assert cause(run, _answer(brief), SLOWER_TAIL, "fastapi") == ""
    done = reconcile(run, _answer(brief), [CAPACITY, SLOWER_TAIL])
    assert done.withheld == frozenset({SLOWER_TAIL.key})
    assert done.sentence.endswith(
        "points the other way: it is withheld: no recorded pause or overload explains it."
    )
    # Without any pause records it says that instead.
    silent = reconcile(run, _answer(None), [CAPACITY, SLOWER_TAIL])
    assert silent.sentence.endswith(
        "it is withheld: no pauses were recorded, and nothing else explains it."
    )


def test_answers_that_agree_or_decide_nothing_need_no_sentence(run: Run) -> None:
    faster_tail = Claim(**{**SLOWER_TAIL.__dict__, "value": 0.5})
    assert reconcile(run, _answer(PAUSED), [CAPACITY, faster_tail]).sentence == ""
    undecided = Claim(**{**CAPACITY.__dict__, "decided": False})
    assert reconcile(run, _answer(PAUSED), [undecided, SLOWER_TAIL]).sentence == ""
    # A decided latency answer is the strong one when capacity decides nothing.
    decided_tail = Claim(**{**SLOWER_TAIL.__dict__, "decided": True})
    said = reconcile(run, _answer(None), [undecided, decided_tail])
    assert said.sentence.startswith("The p99 ratio at 464 req/s (1.30×) favours django, but ")
    assert said.withheld == frozenset({undecided.key})


def test_a_closed_loop_tail_is_never_an_answer(run: Run) -> None:
    closed = Claim(
        CLOSED_LOOP,
        "fastapi's closed-loop p99 (89.8 vs 68.4 ms)",
        "fastapi",
        "django",
        89.8 / 68.4,
        False,
        False,
        9,
        percentile=99.0,
    )
    done = reconcile(run, _answer(None), [CAPACITY, closed])
    assert "fastapi's closed-loop p99 (89.8 vs 68.4 ms) points the other way" in done.sentence
    assert "it is not an answer: a closed loop holds each service at saturation" in done.sentence
    assert "Little's law" in done.sentence


def test_a_claim_leans_by_its_direction() -> None:
    assert CAPACITY.lean > 0  # more throughput: the variant is better
    assert SLOWER_TAIL.lean < 0  # more latency: the reference is better
    assert Claim(**{**CAPACITY.__dict__, "value": math.nan}).lean == 0


def test_several_claims_against_are_named_each_with_its_cause(run: Run) -> None:
    closed = Claim(
        CLOSED_LOOP,
        "fastapi's closed-loop p99 (89.8 vs 68.4 ms)",
        "fastapi",
        "django",
        89.8 / 68.4,
        False,
        False,
        9,
        percentile=99.0,
    )
    done = reconcile(run, _answer(PAUSED), [CAPACITY, SLOWER_TAIL, closed])
    assert done.sentence.startswith(
        "The capacity ratio fastapi/django (1.90×) favours fastapi, but the p99 ratio at 464 "
        "req/s (1.30×) and fastapi's closed-loop p99 (89.8 vs 68.4 ms) point the other way: "
        "the p99 ratio at 464 req/s: fastapi's full collections of up to 240 ms"
    )
    assert "; fastapi's closed-loop p99 is not an answer: a closed loop" in done.sentence
    assert done.withheld == frozenset({closed.key})
