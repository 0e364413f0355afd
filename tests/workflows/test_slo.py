"""Capacity under a latency objective (``chatbench run --slo``): the search's logic, the
objective's parsing, and a short real search on a service of known capacity.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.analysing import slo as slo_answer
from chatbench.analysing import stats
from chatbench.analysing.answers import run_answer
from chatbench.configuration import settings as config
from chatbench.configuration.profiles import parse_slo, slo_parts
from chatbench.errors import UsageError
from chatbench.load import latency
from chatbench.load.openloop import users_for
from chatbench.presenting import charts
from chatbench.storing import record as rec
from chatbench.storing.rundir import load_run
from chatbench.workflows import bench, slo
from chatbench.workflows.equal_load import LATENCY_BUDGET_S


def run_search(capacity: float, knee: float) -> slo.Search:
    """A search against a service that passes every rate up to ``knee`` and no rate above."""
    search = slo.Search(capacity)
    while (rate := search.next_rate()) is not None:
        search.observe(rate, rate <= knee)
    return search


@pytest.mark.parametrize("knee", [37.0, 120.0, 260.0, 390.0, 400.0, 555.0])
def test_the_search_finds_the_knee_within_its_stated_precision(knee: float) -> None:
    capacity = 400.0
    found = run_search(capacity, knee).found
    assert found <= min(knee, capacity)
    # 4 bisections: within 2^(1/16) of the knee from a 2x bracket, 4^(1/16) from a 4x one (+1
    # req/s of rounding); at or above the capacity the capacity itself is the answer.
    assert found >= min(knee, capacity) / 4 ** (1 / 16) - 1, found


def test_a_search_that_never_passes_finds_nothing_and_stops() -> None:
    search = run_search(400.0, knee=0.0)
    assert search.found == 0.0
    assert len(search.tried) <= 4 and min(r for r, _ in search.tried) >= slo.FLOOR * 400


def test_the_answer_reads_the_confirmations_where_the_run_writes_them() -> None:
    assert slo_answer.CONFIRM_DIR == slo.CONFIRM_DIR


def test_a_step_passes_only_within_the_objective_and_at_the_rate() -> None:
    assert slo.passes(49.9, 50, overloaded=False)
    assert not slo.passes(50.1, 50, overloaded=False)
    assert not slo.passes(10.0, 50, overloaded=True)
    assert not slo.passes(math.nan, 50, overloaded=False)


def test_objectives_parse_to_one_canonical_form() -> None:
    assert parse_slo("p99=50ms") == "p99=50ms"
    assert parse_slo(" P99.9 = 20.5ms ") == "p99.9=20.5ms"
    assert slo_parts("p95=8ms") == (95.0, 8.0)


@pytest.mark.parametrize("text", ["p99=50", "p99<50ms", "p100=5ms", "p40=5ms", "p99=0ms", "x"])
def test_a_bad_objective_is_one_sentence_and_exit_2(text: str) -> None:
    with pytest.raises(UsageError, match="latency objective"):
        parse_slo(text)
    assert cli.main(["run", "--slo", text]) == 2


def test_an_objective_needs_a_closed_loop_capacity_to_start_from() -> None:
    with pytest.raises(UsageError, match="--slo"):
        config.build("smoke", mode="rate", rate=100, slo="p99=50ms")


PROFILE = """\
scenario = chat
mode = closed
users = 4
warmup = 1
duration = 2
repeat = 1
processes = 1
equal_load_warmup = 1
equal_load_duration = 2
"""
BURN_US = 5000
OBJECTIVE_MS = 30.0


def test_the_search_converges_on_an_independently_swept_slo_capacity(
    pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fastapi slowed by 5 ms of CPU per request: its p50 ≤ 30 ms capacity (the median: steadier
    than a tail in 2 s windows on a shared test machine), found by one search,
    lies within 10 % of the bracket a fixed sweep of rates (each a rate-mode run of its own)
    measures here."""
    monkeypatch.setattr(slo, "ROUNDS", 1)  # one search: convergence, not its interval
    monkeypatch.setattr(slo, "CONFIRMATIONS", 1)
    profile = tmp_path / "tiny.conf"
    profile.write_text(PROFILE)
    common = dict(
        variants=("fastapi",), database_url=pg_server_url, allow_unfair=True,
        service_env={"fastapi": {"CHATBENCH_BURN_US": str(BURN_US)}},
    )  # fmt: skip
    cfg = config.build(str(profile), out_dir=tmp_path / "search", slo=f"p50={OBJECTIVE_MS:g}ms",
                       **common)  # fmt: skip
    outcome = bench.run(cfg, report=False)
    section = rec.load(outcome.run_dir).slo
    assert section is not None and section.objective == "p50=30ms"
    (found,) = section.found["fastapi"]
    capacity = section.capacities["fastapi"]
    assert 0 < found <= capacity
    steps = [s for s in section.steps if s.variant == "fastapi"]
    assert all(s.passed == (s.value_ms is not None and s.value_ms <= OBJECTIVE_MS and not s.overloaded)
               for s in steps)  # fmt: skip
    assert found == max(s.rate for s in steps if s.passed)

    # The independent answer: a fixed sweep of rates, each its own short rate-mode run.
    sweep = {}
    for fraction in (0.4, 0.6, 0.75, 0.9, 1.0):
        rate = round(fraction * capacity)
        run_cfg = config.build(str(profile), out_dir=tmp_path / f"sweep-{rate}", mode="rate",
                               rate=rate, users=users_for(rate, LATENCY_BUDGET_S), **common)  # fmt: skip
        run_dir = bench.run(run_cfg, report=False).run_dir
        (entry,) = rec.load(run_dir).repetitions
        doc = latency.read_requests(run_dir / "raw" / "fastapi" / "rep-1" / "requests.json")
        p50 = latency.percentiles(doc.all_endpoints_histogram(), [50])[50]
        sweep[rate] = slo.passes(p50, OBJECTIVE_MS, bool(entry.overloaded))
    # The sweep brackets the SLO capacity: the last rate that held before the first that did
    # not, and that one (or the closed-loop capacity when every rate held).
    rates = sorted(sweep)
    first_fail = next((r for r in rates if not sweep[r]), None)
    lower = max(
        (r for r in rates if sweep[r] and (first_fail is None or r < first_fail)), default=0
    )
    upper = first_fail if first_fail is not None else capacity
    print(f"SLO search found {found:g} req/s; sweep {sweep}; closed-loop capacity {capacity:g}")
    assert lower > 0, sweep
    assert 0.9 * lower <= found <= 1.1 * upper, (found, sweep)
    said = " ".join(run_answer(outcome.run_dir).sentences)
    assert "Capacity at p50 ≤ 30 ms" in said and "fastapi holds" in said
    assert charts.draw_chart(load_run(outcome.run_dir), "slo")[0].name == "slo.png"


@pytest.mark.parametrize(
    ("confirmed_ms", "overloaded", "expected"),
    [(40.0, 0, True), (63.0, 0, False), (40.0, 1, False), (math.nan, 0, False), (46.0, 0, False)],
)
def test_a_found_rate_is_confirmed_only_within_the_objective_and_at_the_rate(
    confirmed_ms: float, overloaded: int, expected: bool
) -> None:
    """A search's rate whose confirming windows missed the objective (or dropped sends) is not
    an answer, and the sentence says so instead of calling it confirmed: the interval's upper
    bound must be within it too (46 ms × 1.1 > 50 ms) — a percentile within the objective whose
    interval reaches above it is "at the edge", which is where a capacity lies."""
    est = stats.Estimate(confirmed_ms, confirmed_ms * 0.9, confirmed_ms * 1.1, 3, stats.T95_LOG)
    rate = stats.Estimate(500.0, 450.0, 550.0, 3, stats.T95_LOG)
    v = slo_answer.VariantSlo("fastapi", rate, est, overloaded, 3, bound_ms=50.0)
    assert v.confirmed is expected
    assert v.verdict == (
        slo_answer.CONFIRMED if expected
        else slo_answer.AT_THE_EDGE if confirmed_ms == 46.0
        else slo_answer.NOT_CONFIRMED
    )  # fmt: skip


def _at(ms: float, spread: float = 0.1, overloaded: int = 0) -> slo_answer.openload.VariantLatency:
    est = stats.Estimate(ms, ms * (1 - spread), ms * (1 + spread), 3, stats.T95_LOG)
    return slo_answer.openload.VariantLatency("django", 3, overloaded, {"p99": est}, {}, 100.0)


def test_an_equal_load_measurement_contradicts_a_found_rate_only_with_its_whole_interval() -> None:
    """The equal-load phase measures the same variant at other rates in other windows: an
    independent check of the search. Within the objective (whole interval) at a rate above the
    whole found interval: the search underestimates; beyond it below: it overestimates. A wide
    or overloaded measurement contradicts nothing, and a contradicted rate is not an answer."""
    found = stats.Estimate(110.0, 95.0, 121.0, 3, stats.T95_LOG)
    said = slo_answer.contradiction(found, "p99", 50.0, [(239.0, _at(20.0))])
    assert said.startswith("equal load kept p99 20.0 ms") and "239 req/s, above it" in said
    assert "below it" in slo_answer.contradiction(found, "p99", 50.0, [(60.0, _at(80.0))])
    # A rate below the found one that could not even be kept contradicts it too.
    below = slo_answer.contradiction(found, "p99", 50.0, [(60.0, _at(20.0, overloaded=1))])
    assert below == "equal load could not keep 60 req/s, below it"
    for consistent in (
        [(239.0, _at(38.1, spread=0.7))],  # its interval reaches above 50 ms
        [(60.0, _at(10.0)), (383.0, _at(90.0))],  # agrees on both sides
    ):
        assert slo_answer.contradiction(found, "p99", 50.0, consistent) == "", consistent
    for nothing_to_hold in (
        [(239.0, _at(20.0, overloaded=1))],  # above it and not kept: says nothing
        [(115.0, _at(20.0))],  # inside the found interval
        [],
    ):
        checked = slo_answer.contradiction(found, "p99", 50.0, nothing_to_hold)
        assert checked == slo_answer.NOT_CHECKED, nothing_to_hold
    rate_range = stats.Estimate(110.0, 95.0, 121.0, 2, stats.RANGE)
    checked = slo_answer.contradiction(rate_range, "p99", 50.0, [(239.0, _at(20.0))])
    assert checked == slo_answer.NOT_CHECKED
    ms = stats.Estimate(40.0, 36.0, 44.0, 3, stats.T95_LOG)
    v = slo_answer.VariantSlo("django", found, ms, 0, 3, 50.0, contradicted="equal load kept …")
    assert v.verdict == slo_answer.CONFIRMED and not v.answers
    assert v.why_not == "contradicted by equal load"
    unchecked = slo_answer.VariantSlo("django", found, ms, 0, 3, 50.0, slo_answer.NOT_CHECKED)
    assert unchecked.answers


def test_a_variant_whose_searches_found_nothing_is_said_so_and_enters_no_ratio(
    tmp_path: Path,
) -> None:
    """A search that kept the objective at no rate (found 0) is not averaged in as 0 req/s: a
    variant with no rate says so, one with a rate in some searches only is no answer, and
    neither enters a ratio."""
    section = rec.SloRecord(objective="p99=50ms", percentile=99.0, bound_ms=50.0,
                            capacities={"django": 480.0, "fastapi": 1000.0, "x": 900.0},
                            steps=[], found={"fastapi": [500.0, 520.0, 510.0],
                                             "django": [0.0, 0.0, 0.0],
                                             "x": [0.0, 400.0, 420.0]},
                            confirm_rates={})  # fmt: skip
    record = rec.RunRecord.model_construct(slo=section, equal_load=None)
    answer = slo_answer.slo_answer(tmp_path, record)
    assert answer is not None and not answer.ratios
    assert "django kept p99 ≤ 50 ms at none of the rates tried" in answer.sentence
    assert "x holds 410 req/s" in answer.sentence and "found in 2 of 3 searches" in answer.sentence
    # fastapi's rate had no confirming window (none was run here): the sentence says so.
    assert "fastapi holds 510 req/s" in answer.sentence
    assert "NOT confirmed: no valid confirming window" in answer.sentence
    assert " 0 req/s" not in answer.sentence
    # x's found rate, with confirming windows well within the objective, is still no answer.
    x = next(v for v in answer.variants if v.variant == "x")
    ms = stats.Estimate(20.0, 18.0, 22.0, 3, stats.T95_LOG)
    confirmed_x = slo_answer.VariantSlo("x", x.rate, ms, 0, 3, 50.0, "", x.searches_empty)
    assert confirmed_x.verdict == slo_answer.CONFIRMED and not confirmed_x.answers
    assert confirmed_x.why_not == "not found in every search"


def test_a_search_whose_verdicts_do_not_rise_with_the_rate_is_said_to_swing() -> None:
    """539 req/s missed the objective where 563 kept it (the 2026-11-30 FastAPI search: a
    full collection in one 3 s window and not the other): the sentence must say so."""
    assert slo_answer.swing([(539.0, False), (563.0, True), (1078.0, False)]) == (539.0, 563.0)
    assert slo_answer.swing([(100.0, True), (200.0, True), (300.0, False)]) is None
    assert slo_answer.swing([]) is None
