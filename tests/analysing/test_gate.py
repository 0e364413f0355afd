"""The CI gate's rule (``chatbench.analysing.gate``): a pure function over two summaries.

Every verdict is fed numbers here: one metric at a time, whole summaries, the normalised
figures, the same-runner A/B rule and the paired (duet) judgement. The gate end to end, with
real runs, is ``tests/workflows/test_check.py``.
"""

from __future__ import annotations

import pytest

from chatbench.analysing import figures
from chatbench.analysing import gate as check_mod
from chatbench.analysing.gate import Outcome, Rule, Status, judge
from chatbench.errors import UsageError
from chatbench.presenting import verdict
from chatbench.storing import baselines as baseline_mod
from chatbench.storing.record import InvalidRepetition

REF = [100.0, 101.0, 99.0, 100.5, 99.5]


def _summary(values: dict, **settings) -> baseline_mod.Summary:
    return baseline_mod.Summary(values=values, settings=settings, run_id="r")


SATURATED = {"reason": "loadgen saturated"}


CONTROL = {1: 5000.0, 2: 5050.0, 3: 4950.0, 4: 5020.0, 5: 4980.0}


def _controlled(values: dict, control: dict[int, float], run_id: str) -> baseline_mod.Summary:
    """A Summary whose value lists are repetitions 1..n, normalised by ``control``."""
    rows = [
        (variant, endpoint, metric, rep, value)
        for variant, endpoints in values.items()
        for endpoint, metrics in endpoints.items()
        for metric, vals in metrics.items()
        for rep, value in enumerate(vals, 1)
    ]
    return baseline_mod.Summary(
        values=values,
        settings={},
        run_id=run_id,
        control=control,
        normalised=figures.normalise(rows, control),
    )


def _slower_machine() -> tuple[baseline_mod.Summary, baseline_mod.Summary]:
    """Candidate 20 % slower raw (rps × 0.8, p95 × 1.25) on a machine whose control probe is
    20 % slower too (ops/s × 0.8): the service itself did not change."""
    ref = _controlled({"fastapi": {"ALL": {"rps": REF, "p95": REF}}}, CONTROL, "a")
    cand = _controlled(
        {"fastapi": {"ALL": {"rps": [x * 0.8 for x in REF], "p95": [x * 1.25 for x in REF]}}},
        {k: v * 0.8 for k, v in CONTROL.items()},
        "b",
    )
    return ref, cand


def test_identical_values_are_no_change() -> None:
    f = judge(REF, REF, metric="rps")
    assert f.outcome is Outcome.NO_CHANGE
    assert f.change == pytest.approx(0.0)


def test_clear_throughput_drop_is_a_regression() -> None:
    f = judge(REF, [80.0, 81.0, 79.0, 80.5, 79.5], metric="rps")
    assert f.outcome is Outcome.REGRESSION
    assert f.change == pytest.approx(-0.2, abs=0.01)
    assert f.p_value < 0.05


def test_clear_latency_rise_is_a_regression_and_a_drop_an_improvement() -> None:
    assert judge(REF, [120, 121, 119, 120.5, 119.5], metric="p95").outcome is Outcome.REGRESSION
    assert judge(REF, [80, 81, 79, 80.5, 79.5], metric="p95").outcome is Outcome.IMPROVEMENT
    assert judge(REF, [120, 121, 119, 120.5, 119.5], metric="rps").outcome is Outcome.IMPROVEMENT


def test_significant_but_below_threshold_is_not_a_regression() -> None:
    # 3 % slower, perfectly separated: real, but smaller than the 10 % threshold.
    f = judge(REF, [x * 1.03 for x in REF], metric="p95", rule=Rule(threshold=0.10))
    assert f.outcome is Outcome.NO_CHANGE
    assert judge(REF, [x * 1.03 for x in REF], metric="p95", rule=Rule(threshold=0.02)).outcome is (
        Outcome.REGRESSION
    )


def test_noise_raises_the_threshold() -> None:
    noisy = [100.0, 130.0, 80.0, 115.0, 90.0]  # CV ≈ 19 %: threshold becomes ≈ 38 %
    slower = [x * 1.25 + 60 for x in noisy]  # separated, +~85 %
    f = judge(noisy, slower, metric="p99", rule=Rule(threshold=0.05))
    assert f.threshold == pytest.approx(2 * 0.19, abs=0.02)
    assert f.outcome is Outcome.REGRESSION
    shifted = [x + 30 for x in noisy]  # +~30 %: past 5 % but within the noise-aware threshold
    assert judge(noisy, shifted, metric="p99", rule=Rule(threshold=0.05)).outcome is not (
        Outcome.REGRESSION
    )


def test_a_throughput_collapse_beats_any_noise_threshold() -> None:
    # A 100 %+ noise-aware threshold must not make a 5× throughput drop unreachable:
    # 0.2× the requests per second is 400 % more time per request.
    noisy = [100.0, 180.0, 120.0]  # CV ≈ 31 %: threshold ≈ 125 %
    rule = Rule(threshold=0.05, noise_k=4, min_repetitions=3)
    f = judge(noisy, [25.0, 26.0, 27.0], metric="rps", rule=rule)
    assert f.threshold > 1.0
    assert check_mod.slowdown(f.ratio.value, "rps") > 3.0
    assert f.outcome is Outcome.REGRESSION


def test_fewer_than_four_repetitions_stay_undecided_unless_allowed() -> None:
    # The gate waits for 4 a side (Welch's test has ≥ 3 degrees of freedom there); the
    # interval itself is valid from 3, which --min-repetitions 3 allows.
    ref, slower = [100.0, 101.0, 99.0], [150.0, 151.0, 149.0]
    assert judge(ref, slower, metric="p95").outcome is Outcome.UNDECIDED
    assert judge(ref, ref, metric="p95").outcome is Outcome.UNDECIDED
    loose = Rule(min_repetitions=3)
    assert judge(ref, slower, metric="p95", rule=loose).outcome is Outcome.REGRESSION


def test_overlapping_noisy_values_are_undecided_not_a_pass() -> None:
    f = judge([100, 140, 90], [95, 150, 120], metric="p95", rule=Rule(threshold=0.05))
    assert f.outcome is Outcome.UNDECIDED


def test_interleaved_groups_are_not_a_regression_whatever_their_centres() -> None:
    # Centres +37 % apart but the groups interleave: Welch's test on the logs says noise.
    a = [100, 100, 300, 300]
    b = [110, 290, 310, 320]
    f = judge(a, b, metric="p95", rule=Rule(threshold=0.01, noise_k=0))
    assert f.change > 0.3 and f.p_value > 0.05 and f.ratio.method == "welch-t-log"
    assert f.outcome is Outcome.UNDECIDED


def test_two_repetitions_a_side_are_a_range_and_never_decide() -> None:
    # Even a 2× slowdown with no overlap: 2 values a side have no 95 % interval.
    f = judge([100.0, 101.0], [200.0, 201.0], metric="p95", rule=Rule(min_repetitions=3))
    assert f.outcome is Outcome.UNDECIDED and f.ratio.method == "range"
    assert "range of 2" in f.sentence() and "95 % CI" not in f.sentence()
    assert "(range " in verdict._fmt_ci(f)
    result = check_mod.compare(
        _summary({"fastapi": {"ALL": {"p95": [100.0, 101.0]}}}),
        _summary({"fastapi": {"ALL": {"p95": [200.0, 201.0]}}}),
    )
    assert result.passed and "change [95 % CI] or (range)" in verdict.to_markdown(result)
    with pytest.raises(UsageError, match="--min-repetitions must be from 3 to 1000"):
        check_mod.parse_min_repetitions(2)


def test_too_few_values_are_missing() -> None:
    assert judge(REF, [90.0], metric="rps").outcome is Outcome.MISSING
    assert judge(REF, [], metric="rps").outcome is Outcome.MISSING
    assert judge(REF, [float("nan"), 100.0], metric="rps").outcome is Outcome.MISSING


def test_compare_names_each_regression_and_skips_ungated_metrics() -> None:
    ref = _summary(
        {
            "django": {"ALL": {"rps": REF, "p95": REF, "p50": REF}},
            "fastapi": {"ALL": {"rps": REF, "p95": REF}},
        }
    )
    cand = _summary(
        {
            "django": {"ALL": {"rps": REF, "p95": REF, "p50": [500.0] * 5}},
            "fastapi": {"ALL": {"rps": REF, "p95": [130, 131, 129, 130.5, 129.5]}},
        },
        mode="rate",  # latency gated: measured at a fixed offered load
    )
    result = check_mod.compare(ref, cand)
    assert not result.passed
    assert [f.name for f in result.regressions] == ["fastapi ALL p95"]
    assert {f.metric for f in result.findings} == {"rps", "p95"}  # p50 is not gated by default
    md = verdict.to_markdown(result)
    assert "❌ FAIL" in md and "**fastapi ALL p95**" in md
    bench = verdict.to_benchmark_json(result)
    assert {e["name"] for e in bench["customBiggerIsBetter"]} == {
        "django ALL rps",
        "fastapi ALL rps",
    }
    assert all(e["unit"] == "ms" for e in bench["customSmallerIsBetter"])


def test_compare_reports_a_metric_missing_from_the_candidate() -> None:
    ref = _summary({"fastapi": {"GET /api/chat/messages": {"rps": REF}}})
    result = check_mod.compare(ref, _summary({}))
    assert not result.passed  # nothing judged is not a pass
    assert result.findings[0].outcome is Outcome.MISSING


def test_excluded_repetitions_are_counted_in_the_notes() -> None:
    ref = _summary({"fastapi": {"ALL": {"rps": REF}}})
    cand = baseline_mod.Summary(
        {"fastapi": {"ALL": {"rps": REF[:4]}}},
        {},
        excluded=[InvalidRepetition(variant="fastapi", repetition=5, reason="loadgen saturated")],
    )
    result = check_mod.compare(ref, cand)
    assert any("repetition 5 excluded: loadgen saturated" in n for n in result.notes)


@pytest.mark.parametrize(
    ("text", "value"), [("10%", 0.10), ("5", 0.05), ("0.2", 0.2), (" 7.5 % ", 0.075)]
)
def test_parse_threshold(text: str, value: float) -> None:
    assert check_mod.parse_threshold(text) == pytest.approx(value)


def test_metric_missing_from_the_candidate_fails_with_a_reason() -> None:
    ref = _summary({"fastapi": {"ALL": {"rps": REF, "p95": REF}}})
    cand = _summary({"fastapi": {"ALL": {"rps": REF}}}, mode="rate")
    result = check_mod.compare(ref, cand)
    assert not result.passed and not result.regressions
    (reason,) = result.unjudged
    assert "fastapi ALL p95" in reason and "could not be judged" in reason
    assert verdict.headline(result).startswith("NOT COMPARABLE")
    assert result.exit_code == 3 and result.status is Status.NOT_COMPARABLE
    assert "fastapi ALL p95" in verdict.headline(result)
    assert "Could not be judged" in verdict.to_markdown(result)
    assert verdict.to_json(result)["passed"] is False


@pytest.mark.parametrize("side", ["candidate", "reference"])
def test_every_repetition_excluded_fails_saying_why(side: str) -> None:
    full = _summary({"django": {"ALL": {"rps": REF}}, "fastapi": {"ALL": {"rps": REF}}})
    gone = baseline_mod.Summary(
        {"django": {"ALL": {"rps": REF}}},
        {},
        excluded=[
            InvalidRepetition(variant="fastapi", repetition=k, **SATURATED) for k in range(1, 5)
        ],
    )
    ref, cand = (full, gone) if side == "candidate" else (gone, full)
    result = check_mod.compare(ref, cand)
    assert not result.passed
    (reason,) = result.unjudged
    assert reason.startswith(f"{side} fastapi: every repetition was excluded as invalid")
    assert "saturated load generator" in reason and "cannot be trusted" in reason
    assert "nothing to judge" in verdict.headline(result)


def test_a_partly_excluded_variant_is_still_judged() -> None:
    ref = _summary({"fastapi": {"ALL": {"rps": REF}}})
    cand = baseline_mod.Summary(
        {"fastapi": {"ALL": {"rps": REF[:4]}}},
        {},
        excluded=[InvalidRepetition(variant="fastapi", repetition=5, **SATURATED)],
    )
    result = check_mod.compare(ref, cand)
    assert result.passed and not result.unjudged


def test_no_finite_interval_is_undecided_not_no_change() -> None:
    # Half the reference's resamples have median 0, so the ratio's bootstrap interval is not
    # finite; it must not collapse onto the point and read as a certain +360 %.
    f = judge([0.0, 0.0, 5.0, 5.0], [10.0, 11.0, 12.0, 13.0], metric="p95")
    assert f.outcome is Outcome.UNDECIDED
    assert "not computable" in f.sentence()
    # A latency whose interval could not be computed must not pass as "no change" either.
    f = judge([0.0, 0.0, 5.0, 5.0], [2.0, 2.5, 3.0, 2.4], metric="p95")
    assert f.outcome is Outcome.UNDECIDED


def test_normalise_divides_throughput_and_multiplies_latency() -> None:
    rows = [("f", "ALL", "rps", 1, 500.0), ("f", "ALL", "p95", 1, 20.0),
            ("f", "ALL", "error_rate", 1, 0.01), ("f", "ALL", "rps", 2, 400.0)]  # fmt: skip
    out = figures.normalise(rows, {1: 5000.0})
    assert out["f"]["ALL"]["rps"] == [pytest.approx(0.1)]  # rep 2 has no control: left out
    assert out["f"]["ALL"]["p95"] == [pytest.approx(100.0)]  # 20 ms = 100 probe operations
    assert "error_rate" not in out["f"]["ALL"]


def test_a_uniformly_slower_machine_regresses_raw_but_not_normalised() -> None:
    ref, cand = _slower_machine()
    raw = check_mod.compare(ref, cand)
    assert {f.name: f.outcome for f in raw.findings} == {
        "fastapi ALL rps": Outcome.REGRESSION,
        "fastapi ALL p95": Outcome.REGRESSION,
    }
    assert not raw.passed
    assert raw.normalised is not None
    assert {f.outcome for f in raw.normalised} == {Outcome.NO_CHANGE}
    assert all(f.change == pytest.approx(0.0, abs=1e-9) for f in raw.normalised)

    gated = check_mod.compare(ref, cand, rule=Rule(gate="normalised"))
    assert gated.passed and not gated.regressions
    assert verdict.headline(gated).startswith("PASS (gate: normalised figures)")
    # Both figures are shown whichever gates, in every output.
    md = verdict.to_markdown(gated)
    assert "normalised change [95 % CI]" in md and "**regression**" in md
    assert "`--gate normalised` decides the verdict" in md
    doc = verdict.to_json(gated)
    assert doc["rule"]["gate"] == "normalised" and doc["normalised_available"]
    (rps,) = [f for f in doc["findings"] if f["metric"] == "rps"]
    assert rps["outcome"] == "regression" and rps["normalised"]["outcome"] == "no change"
    from rich.console import Console

    console = Console(width=200, record=True)
    console.print(verdict.to_rich_table(gated))
    text = console.export_text()
    assert "norm. verdict" in text and "no change" in text and "regression" in text


def test_a_real_slowdown_on_a_steady_machine_regresses_both_ways() -> None:
    ref = _controlled({"fastapi": {"ALL": {"rps": REF}}}, CONTROL, "a")
    cand = _controlled({"fastapi": {"ALL": {"rps": [x * 0.8 for x in REF]}}}, CONTROL, "b")
    for gate in check_mod.GATES:
        result = check_mod.compare(ref, cand, rule=Rule(gate=gate))
        assert [f.name for f in result.regressions] == ["fastapi ALL rps"], gate


def test_same_runner_ab_judges_raw_only_and_says_so() -> None:
    ref, cand = _slower_machine()
    both = baseline_mod.Summary(
        {**{f"{k}@base": v for k, v in ref.values.items()},
         **{f"{k}@head": v for k, v in cand.values.items()}},
        {}, run_id="ab", control=CONTROL, normalised={},
    )  # fmt: skip
    result = check_mod.compare(both.select("@base"), both.select("@head"))
    assert result.normalised is None and "same-runner A/B" in result.normalised_note
    assert "same-runner A/B" in verdict.to_markdown(result)


def test_a_saturated_candidate_repetition_fails_a_stored_baseline_check() -> None:
    ref = _summary({"fastapi": {"ALL": {"rps": REF}}})
    cand = baseline_mod.Summary(
        {"fastapi": {"ALL": {"rps": REF[:4]}}},
        {},
        excluded=[InvalidRepetition(variant="fastapi", repetition=5, **SATURATED)],
    )
    result = check_mod.compare(ref, cand, fail_on_invalid=True)
    assert not result.passed and not result.regressions and not result.unjudged
    (reason,) = result.invalid
    assert reason.startswith("fastapi repetition 5 is invalid (loadgen saturated)")
    assert "not trustworthy" in reason
    assert verdict.headline(result).startswith("NOT COMPARABLE: 1 invalid repetition(s)")
    assert result.exit_code == 3
    assert "Invalid repetitions (fails the check)" in verdict.to_markdown(result)
    assert verdict.to_json(result)["invalid"] == [reason]
    # A/B keeps the older rule: excluded and counted (test_a_partly_excluded_variant_…).
    assert check_mod.compare(ref, cand).passed


def test_ab_rule_has_no_noise_term_so_a_noisy_real_slowdown_fails() -> None:
    """A ~13 % throughput drop, every head repetition below every base one, on a metric with
    ~8 % noise: the stored-baseline rule's 2 × CV bar (~16 %) hides it; A/B's rule flags it."""
    base = [950.0, 1000.0, 1050.0, 1100.0, 980.0, 1020.0, 1150.0, 1200.0]
    head = [870.0, 900.0, 920.0, 940.0, 880.0, 910.0, 930.0, 890.0]
    assert max(head) < min(base)
    stored = judge(base, head, metric="rps", rule=Rule(threshold=0.05))
    assert stored.threshold > check_mod.slowdown(stored.ratio.value, "rps") > 0.10
    assert stored.outcome is not Outcome.REGRESSION
    ab_rule = check_mod.ab_rule()
    assert ab_rule.noise_k == 0 and ab_rule.threshold == check_mod.AB_THRESHOLD
    assert check_mod.ab_rule(Rule(threshold=0.08)).threshold == 0.08
    flagged = judge(base, head, metric="rps", rule=ab_rule)
    assert flagged.outcome is Outcome.REGRESSION and flagged.threshold == 0.05


def test_paired_verdicts_are_holm_adjusted_over_the_check() -> None:
    """One weak paired slowdown (raw p ≈ 0.02) among nine questions is a false alarm in the
    making: alone it fails, among eight unchanged metrics the family correction holds it back;
    a strong one (a 10 % drop, tight pairs) fails either way."""
    base = [500.0, 650.0, 380.0, 610.0, 450.0, 560.0]
    weak = [b * f for b, f in zip(base, [0.93, 0.99, 0.90, 0.96, 0.97, 0.91], strict=True)]
    steady = [b * f for b, f in zip(base, [1.01, 0.99, 1.0, 1.02, 0.98, 1.0], strict=True)]
    strong = [b * f for b, f in zip(base, [0.90, 0.91, 0.89, 0.90, 0.905, 0.895], strict=True)]
    rule = check_mod.ab_rule(paired=True)
    alone = check_mod.compare(
        _summary({"fastapi": {"ALL": {"rps": base}}}),
        _summary({"fastapi": {"ALL": {"rps": weak}}}),
        rule=rule,
    )
    (finding,) = alone.findings
    assert finding.outcome is Outcome.REGRESSION and 0.01 < finding.p_value < 0.05
    endpoints = ("ALL", "GET", "POST")
    for suspect, expected in ((weak, Outcome.UNDECIDED), (strong, Outcome.REGRESSION)):
        ref = {"fastapi": {e: {m: base for m in ("rps", "p95", "p99")} for e in endpoints}}
        cand = {"fastapi": {e: {m: steady for m in ("rps", "p95", "p99")} for e in endpoints}}
        cand["fastapi"]["ALL"]["rps"] = suspect
        family = check_mod.compare(_summary(ref), _summary(cand, mode="rate"), rule=rule)
        assert len(family.findings) == 9
        (rps,) = [f for f in family.findings if (f.endpoint, f.metric) == ("ALL", "rps")]
        assert rps.outcome is expected, rps
    assert family.regressions == [rps]


def test_paired_verdict_needs_the_minimum_repetitions() -> None:
    base, head = [500.0, 650.0, 380.0], [450.0, 585.0, 342.0]  # exactly −10 %, three pairs
    rule = check_mod.ab_rule(paired=True)
    assert judge(base, head, metric="rps", rule=rule).outcome is Outcome.UNDECIDED
    loose = Rule(threshold=0.05, noise_k=0, min_repetitions=3, paired=True)
    assert judge(base, head, metric="rps", rule=loose).outcome is Outcome.REGRESSION


# -- exit codes: one per conclusion ------------------------------------------------------------

NOISY = [100.0, 120.0, 85.0, 110.0, 92.0]


@pytest.mark.parametrize(
    ("candidate", "status", "code", "title"),
    [
        ([x * 1.001 for x in REF], Status.NO_REGRESSION, 0, "✅ PASS: no regression (exit 0)"),
        ([x * 0.7 for x in REF], Status.REGRESSION, 1, "❌ FAIL: regression (exit 1)"),
        (None, Status.NOT_COMPARABLE, 3, "⚠️ NOT COMPARABLE (exit 3)"),
        (NOISY, Status.UNDECIDED, 4, "❔ UNDECIDED within the budget (exit 4)"),
    ],
)
def test_each_conclusion_has_its_own_exit_code_in_every_output(
    candidate, status: Status, code: int, title: str
) -> None:
    """0 no regression, 1 regression, 3 not comparable, 4 undecided: check.json, the markdown
    of the job summary and pull-request comment, and the history line all say which."""
    ref = _summary({"fastapi": {"ALL": {"rps": REF}}})
    cand = _summary({"fastapi": {"ALL": {"rps": candidate}}} if candidate else {})
    result = check_mod.compare(ref, cand)
    assert (result.status, result.exit_code) == (status, code)
    doc = verdict.to_json(result)
    assert (doc["status"], doc["exit_code"]) == (str(status), code)
    md = verdict.to_markdown(result)
    assert md.splitlines()[0] == f"## chatbench check: {title}"
    assert f"Exit code {code} ({status})" in md
    assert result.passed == (code in (0, 4))  # undecided passes, but says so


def test_a_regression_wins_over_undecided_and_unjudged() -> None:
    ref = _summary({"fastapi": {"ALL": {"rps": REF}, "GET": {"rps": REF}, "POST": {"rps": REF}}})
    cand = _summary({"fastapi": {"ALL": {"rps": [x * 0.7 for x in REF]}, "GET": {"rps": NOISY}}})
    result = check_mod.compare(ref, cand)
    assert result.count(Outcome.UNDECIDED) == 1 and result.unjudged
    assert result.exit_code == 1
    assert check_mod.compare(ref, _summary({"fastapi": {"GET": {"rps": NOISY}}})).exit_code == 3
