"""The verdict a run opens with (``presenting.headline``): one sentence per answer, a small
table whose every figure carries the interval ``analysing`` gave it or says why it was not
measured, and whether each difference is significant — read from the committed sample (capacity,
equal load at two rates, an SLO search) and the small fixture (2 repetitions)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

from chatbench.analysing import openload, stats, tails
from chatbench.analysing.answers import run_answer
from chatbench.analysing.slo import SloRatio
from chatbench.presenting import headline, verdict_cells
from chatbench.storing.record import InvalidRepetition
from chatbench.storing.rundir import Run, load_run
from tests.conftest import REPO_ROOT
from tests.fixtures.runs import RUN_SMALL

# A fixed run with every case the verdict handles (tests/fixtures/README.md), not results/sample,
# which each re-measurement changes.
SAMPLE = REPO_ROOT / "tests" / "fixtures" / "sample_2026_11_30"


@pytest.fixture(scope="module")
def sample() -> Run:
    return load_run(SAMPLE)


@pytest.fixture(scope="module")
def verdict(sample: Run) -> headline.Headline:
    return headline.headline(sample)


def test_one_sentence_per_answer_in_order(sample: Run, verdict: headline.Headline) -> None:
    assert [s.split(" (")[0].split(",")[0] for s in verdict.sentences] == [
        "Capacity",
        "Latency at equal offered load",
        "Capacity within p99 ≤ 50 ms",
    ]
    answer = run_answer(sample)
    (ratio,) = answer.ratios
    first = verdict.sentences[0]
    assert f"fastapi serves {ratio.ratio.value:.2f}× django's requests per second" in first
    assert f"[95 % CI {ratio.ratio.low:.2f}–{ratio.ratio.high:.2f}]" in first
    assert f"widened to {ratio.widened.low:.2f}–{ratio.widened.high:.2f}" in first
    assert "a significant difference (p = " in first
    assert verdict.ratio_headers == ("fastapi/django",)


def test_the_table_carries_each_figure_with_its_interval(sample: Run, verdict) -> None:
    answer = run_answer(sample)
    rows = {row.answer: row for row in verdict.rows}
    capacity = rows["Capacity (req/s)"]
    by_name = {c.variant: c for c in answer.capacities}
    assert capacity.figures == tuple(
        f"{by_name[v].rps.value:,.0f} [{by_name[v].rps.low:,.0f}–{by_name[v].rps.high:,.0f}]"
        for v in sample.variants
    )
    (ratio,) = capacity.ratios
    assert ratio.significant and ratio.judged.startswith("significant (p = ")
    assert "widened to" in ratio.judged
    for found in answer.equal_load:
        for metric in openload.SHOWN:
            label = f"{tails.label(tails.NAMED[metric])} at {found.rate:,.0f} req/s offered (ms)"
            measured = [v for v in found.variants if metric in v.percentiles]
            missing = [v for v in found.variants if metric in v.not_measured]
            if not measured and metric != openload.COMPARED:
                assert label not in rows  # a percentile no window can hold takes no row
                continue
            row = rows[label]
            for v, figure in zip(found.variants, row.figures, strict=True):
                if v in measured:
                    est = v.percentiles[metric]
                    assert figure.startswith(f"{est.value:.1f} ms [{est.low:.1f}–")
                elif v in missing:
                    assert figure == f"not measured: {v.not_measured[metric].reason}"
    # The p99 ratio is openload's own.
    (at_464,) = [r for r in answer.equal_load if r.ratios]
    (theirs,) = at_464.ratios
    row = rows[f"p99 at {at_464.rate:,.0f} req/s offered (ms)"]
    assert (
        row.ratios[0].text
        == f"{theirs.ratio.value:.2f}× [{theirs.ratio.low:.2f}–{theirs.ratio.high:.2f}]"
    )
    assert row.ratios[0].significant == stats.is_significant(theirs.ratio, theirs.p)
    # The SLO answer: no stable answer for either, so no ratio.
    slo = rows["Capacity within p99 ≤ 50 ms (req/s)"]
    assert all(f.startswith("no stable answer: p99 missed at") for f in slo.figures)
    assert slo.ratios == (verdict_cells.NO_RATIO,)


def test_closed_loop_tail_that_points_the_other_way_is_reconciled(verdict) -> None:
    """README's contradiction: fastapi serves 1.86× as much but its closed-loop p99 is higher."""
    said = verdict.reconciled
    assert said.startswith("The capacity ratio fastapi/django (1.86×) favours fastapi, but ")
    assert "fastapi's closed-loop p99 (89.8 vs 68.4 ms) points the other way" in said
    assert "not an answer" in said and "Little's law" in said


def test_two_repetitions_are_ranges_never_judged(tmp_path: Path) -> None:
    found = headline.headline(load_run(RUN_SMALL))
    (capacity,) = [r for r in found.rows if r.kind == verdict_cells.CAPACITY]
    assert all("[range " in f for f in capacity.figures)
    (ratio,) = capacity.ratios
    assert "[range " in ratio.text and ratio.judged == "not judged: 2 repetitions, 3 needed"
    assert not ratio.significant
    assert "[range of 2: " in found.sentences[0] and ", not judged: " in found.sentences[0]
    assert "95 % CI" not in " ".join(found.sentences)


def test_a_run_with_no_valid_capacity_says_why() -> None:
    run = load_run(RUN_SMALL)
    reason = "loadgen saturated: load-generator CPU set {0} was 99 % busy"
    invalid = [
        InvalidRepetition(variant=r.variant, repetition=r.repetition, reason=reason)
        for r in run.repetitions
    ]
    run = dataclasses.replace(run, record=run.record.but(invalid_repetitions=invalid))
    found = headline.headline(run)
    assert found.sentences[0] == (
        "Capacity (closed loop, chat scenario, 4 users): not measured: no repetition could be "
        "kept (loadgen saturated)."
    )
    assert found.rows[0].figures == ("not measured (loadgen saturated)",) * 2
    assert found.reference == "django"


def test_a_withheld_answer_is_marked_where_it_is_stated(sample: Run) -> None:
    answer = run_answer(sample)
    (at_464,) = [r for r in answer.equal_load if r.ratios]
    key = (verdict_cells.EQUAL_LOAD, "fastapi", at_464.rate)
    sentences, rows, _ = headline._answers(sample, answer, frozenset({key}))
    row = next(r for r in rows if r.answer == f"p99 at {at_464.rate:,.0f} req/s offered (ms)")
    assert row.ratios[0].judged == verdict_cells.WITHHELD
    assert f"at {at_464.rate:,.0f} req/s" in sentences[1]
    assert "withheld (see below)" in sentences[1]
    # The p50 row at the same rate is not the compared one: it stays as it was.
    p50 = next(r for r in rows if r.answer == f"p50 at {at_464.rate:,.0f} req/s offered (ms)")
    assert p50.ratios[0].judged.startswith("significant")


@pytest.mark.parametrize(
    ("low", "high", "apart", "text"),
    [
        (1.16, 1.50, True, "1.33× (1.16–1.50)"),
        (0.80, 1.20, False, "1.33× (0.80–1.20)"),
        (0.0, 0.90, True, "1.33× (0–0.90)"),
        (1.10, math.inf, True, "1.33× (1.10–∞)"),
    ],
)
def test_an_slo_ratio_differs_only_where_its_brackets_exclude_1(low, high, apart, text) -> None:
    cell = headline.slo_ratio_cell(SloRatio("fastapi", "django", 1.33, low, high))
    assert cell.text == text and cell.significant is apart
    assert cell.judged.startswith("brackets apart" if apart else "brackets overlap")
    assert "significant" not in cell.judged  # a search's resolution is not a test


def test_short_reason_keeps_each_clause_head() -> None:
    reason = (
        "115 requests in a window, 200 needed; loadgen saturated: load-generator CPU set {0} "
        "was 99 % busy over the busiest 2.5 s (limit 90 %; mean 99 %)"
    )
    assert (
        verdict_cells.short_reason(reason)
        == "115 requests in a window, 200 needed; loadgen saturated"
    )


def test_the_open_model_cross_check_is_one_sentence_and_one_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The committed sample predates --open-crosscheck: its record gets a cross-check section
    and toolagreement's verdicts are given, so the answer states them."""
    from chatbench.analysing import toolagreement
    from chatbench.storing.record import CrossCheckTarget, OpenCrossCheckRecord

    run = load_run(RUN_SMALL)
    target = CrossCheckTarget(label="equal load 70 %", rate=406, variants=["django", "fastapi"])
    section = OpenCrossCheckRecord(tool="oha", pairs=3, targets=[target])
    run = dataclasses.replace(run, record=run.record.but(open_crosscheck=section))

    def agreement(variant: str, metric: str, value: float, low: float, high: float):
        est = stats.Estimate(value, low, high, 3, stats.PAIRED_T_LOG)
        return toolagreement.ToolAgreement(variant, target.label, 406.0, metric, est, 3)

    found = [
        agreement("django", "p50", 1.02, 0.97, 1.08),  # agree
        agreement("django", "p99", 1.05, 0.95, 1.12),  # agree
        agreement("fastapi", "p50", 1.01, 0.96, 1.07),  # agree
        agreement("fastapi", "p99", 1.31, 1.20, 1.43),  # differ
    ]
    monkeypatch.setattr(toolagreement, "agreements", lambda *_: found)
    verdict = headline.headline(run)
    (said,) = [s for s in verdict.sentences if s.startswith("Open-model cross-check")]
    assert said == (
        "Open-model cross-check (oha against Locust on the same services): they agree within "
        "±15 % on 3 of 4 percentiles compared; they differ on fastapi p99 at 406 req/s (1.31× "
        "[1.20–1.43]), where the answer's interval is widened to cover both."
    )
    (row,) = [r for r in verdict.rows if r.kind == verdict_cells.CROSSCHECK]
    assert row.figures == ("agree 2 · differ 0 · undecided 0", "agree 1 · differ 1 · undecided 0")
