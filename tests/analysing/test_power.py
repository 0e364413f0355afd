"""What each check could have caught (``chatbench.analysing.power`` and the gate's findings).

"Would catch" is the smallest true slowdown the gate's own rule calls a regression 80 % of the
time: significant at the verdict's alpha *and* at least the threshold, together. It is checked
by simulating that rule — vectorised, and held equal to ``gate.judge`` verdict by verdict —
on data whose true SD differs from the one the check estimated, at 3, 5 and 8 pairs: the
detection rate is the power the module computes for the true SD (and 80 % only when the
estimate was right). A slowdown exactly at the threshold is caught about half the time. Then:
every output of `chatbench check` states it, and closed-loop latency is judged for information
only (Little's law).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from chatbench.analysing import gate, power
from chatbench.analysing.gate import Outcome
from chatbench.presenting import verdict
from chatbench.storing import baselines as baseline_mod
from chatbench.workflows import check as check_mod

DRAWS = 4000
BASE = [500.0, 650.0, 380.0, 610.0, 450.0, 560.0]
HEAD = [b * f for b, f in zip(BASE, [1.01, 0.98, 1.02, 0.99, 1.0, 1.015], strict=True)]
FAMILY = 3  # a duet check of one framework: three gated rps verdicts


def _summary(values: dict, **settings) -> baseline_mod.Summary:
    return baseline_mod.Summary(values=values, settings=settings, run_id="r")


def _gate_rule(logs: np.ndarray, alpha: float, threshold: float) -> np.ndarray:
    """The duet rule on rows of log ratios head/base (throughput: negative is slower):
    regression when the one-sample t-test is significant at ``alpha`` on the slow side and
    the slowdown ``1/ratio − 1`` is at least ``threshold``."""
    t = sps.ttest_1samp(logs, 0.0, axis=1)
    mean = logs.mean(axis=1)
    return (t.pvalue < alpha) & (mean < 0) & (np.expm1(-mean) >= threshold)


def _judged(logs: np.ndarray, rule: gate.Rule) -> list[bool]:
    """The same rows through ``gate.judge`` itself (Holm's first step over FAMILY)."""
    base = np.full(logs.shape[1], 500.0)
    return [
        gate.judge(base, base * np.exp(row), metric="rps", rule=rule, family=FAMILY,
                   p_adjust=lambda p: min(1.0, p * FAMILY)).outcome is Outcome.REGRESSION
        for row in logs
    ]  # fmt: skip


@pytest.mark.parametrize("pairs", [3, 5, 8])
def test_would_catch_is_80_percent_power_under_the_gates_own_rule(pairs: int) -> None:
    """The stated slowdown, drawn with the SD the check estimated, is caught ~80 % of the time
    by the gate's rule (threshold and significance together); drawn with a true SD 1.6× that,
    the rate falls to what ``rule_power`` says for the true SD — well below 80 %."""
    rule = check_mod.ab_rule(gate.Rule(threshold=0.05, min_repetitions=3), paired=True)
    rng = np.random.default_rng(pairs)
    observed = rng.normal(0.0, 0.02, size=pairs)  # one check's log ratios: its estimated SD
    base = np.full(pairs, 500.0)
    f = gate.judge(base, base * np.exp(observed), metric="rps", rule=rule, family=FAMILY,
                   p_adjust=lambda p: min(1.0, p * FAMILY))  # fmt: skip
    alpha = rule.alpha / FAMILY
    assert f.alpha == pytest.approx(alpha)
    assert f.catchable_change == pytest.approx(math.expm1(-f.detectable))
    assert f.catchable > rule.threshold  # the threshold binds or not: never caught below it
    estimated = float(np.std(observed, ddof=1))
    for true_sd in (estimated, 1.6 * estimated):
        logs = rng.normal(-f.detectable, true_sd, size=(DRAWS, pairs))
        caught = _gate_rule(logs, alpha, rule.threshold)
        assert list(caught[:150]) == _judged(logs[:150], rule)  # the simulated rule is the gate's
        expected = power.rule_power(
            f.detectable, se=true_sd / math.sqrt(pairs), df=pairs - 1, alpha=alpha,
            threshold=rule.threshold,
        )  # fmt: skip
        assert caught.mean() == pytest.approx(expected, abs=0.025)
        if true_sd == estimated:
            assert expected == pytest.approx(power.POWER, abs=1e-6)
        else:
            assert expected < power.POWER - 0.1  # the simulation can tell the two apart


@pytest.mark.parametrize("df", [2.0, 4.0, 7.0, 11.3])
def test_the_power_integral_agrees_with_adaptive_quadrature(df: float) -> None:
    """``rule_power``'s midpoint rule over χ² quantiles against ``scipy.integrate.quad``."""
    from scipy import integrate

    se, alpha, threshold = 0.01, 0.05 / 3, 0.05
    bar, crit = math.log1p(threshold), float(sps.t.ppf(1 - alpha / 2, df))

    def given(w: float) -> float:
        needed = max(bar, crit * se * math.sqrt(w / df))
        return float(sps.norm.cdf((effect - needed) / se)) * float(sps.chi2.pdf(w, df))

    for effect in (0.03, 0.05, 0.06, 0.09):
        kink = df * (bar / (crit * se)) ** 2
        exact, _ = integrate.quad(given, 0.0, float(sps.chi2.ppf(1 - 1e-12, df)),
                                  points=[kink], limit=200)  # fmt: skip
        got = power.rule_power(effect, se=se, df=df, alpha=alpha, threshold=threshold)
        assert got == pytest.approx(exact, abs=5e-5)


def test_a_slowdown_exactly_at_the_threshold_is_caught_about_half_the_time() -> None:
    """With little noise the threshold binds: a true slowdown of exactly 5 % is caught ~50 %,
    so "would catch" states more than 5 %, where the rule catches 80 %."""
    rule = check_mod.ab_rule(gate.Rule(threshold=0.05), paired=True)
    sd, pairs = 0.01, 8
    at_threshold = -math.log1p(rule.threshold)
    rng = np.random.default_rng(7)
    logs = rng.normal(at_threshold, sd, size=(DRAWS, pairs))
    assert _gate_rule(logs, rule.alpha, rule.threshold).mean() == pytest.approx(0.5, abs=0.03)
    delta = power.detectable_effect(
        se=sd / math.sqrt(pairs), df=pairs - 1, alpha=rule.alpha, threshold=rule.threshold
    )
    assert math.expm1(delta) > rule.threshold + 0.002
    logs = rng.normal(-delta, sd, size=(DRAWS, pairs))
    assert _gate_rule(logs, rule.alpha, rule.threshold).mean() == pytest.approx(0.8, abs=0.025)


def test_welch_would_catch_holds_for_the_stored_baseline_rule() -> None:
    """Against a stored baseline: Welch's test on log values and the threshold (here 10 %,
    above the noise term), simulated with the SDs the check estimated."""
    ref = [1000.0, 1040.0, 970.0, 1010.0, 990.0]
    cand = [1005.0, 980.0, 1030.0, 995.0, 1012.0]
    f = gate.judge(ref, cand, metric="rps", rule=gate.Rule())
    assert f.threshold == pytest.approx(0.10)
    a, b = np.log(ref), np.log(cand)
    rng = np.random.default_rng(2)
    sim_a = rng.normal(0.0, np.std(a, ddof=1), size=(DRAWS, len(ref)))
    sim_b = rng.normal(-f.detectable, np.std(b, ddof=1), size=(DRAWS, len(cand)))
    welch = sps.ttest_ind(sim_b, sim_a, axis=1, equal_var=False)
    diff = sim_b.mean(axis=1) - sim_a.mean(axis=1)
    caught = (welch.pvalue < 0.05) & (diff < 0) & (np.expm1(-diff) >= f.threshold)
    assert caught.mean() == pytest.approx(power.POWER, abs=0.03)


def test_too_few_pairs_for_the_gate_catch_nothing() -> None:
    """Below ``min_repetitions`` every verdict is undecided: nothing would be caught."""
    rule = check_mod.ab_rule(paired=True)  # 4 pairs at least
    f = gate.judge(BASE[:3], HEAD[:3], metric="rps", rule=rule)
    assert f.outcome is Outcome.UNDECIDED and math.isnan(f.catchable)
    assert "would catch nothing yet" in f.would_catch()


def test_more_noise_or_fewer_repetitions_detect_less() -> None:
    quiet = power.paired_delta(BASE, HEAD, alpha=0.05)
    noisy = power.paired_delta(
        BASE, [h * f for h, f in zip(HEAD, [1.05, 0.95] * 3, strict=True)], alpha=0.05
    )
    fewer = power.paired_delta(BASE[:3], HEAD[:3], alpha=0.05)
    assert 0 < quiet < noisy and quiet < fewer
    assert math.isnan(power.paired_delta(BASE[:2], HEAD[:2], alpha=0.05))


def test_every_output_states_what_the_check_would_catch() -> None:
    rule = check_mod.ab_rule(paired=True)
    result = check_mod.compare(
        _summary({"fastapi": {"ALL": {"rps": BASE}}}),
        _summary({"fastapi": {"ALL": {"rps": HEAD}}}),
        rule=rule,
    )
    (f,) = result.findings
    catch = abs(f.catchable_change)
    assert catch > 1 - 1 / (1 + rule.threshold)  # above the threshold: it binds here
    assert f"{f.catchable_change:+.1%}" in verdict.to_markdown(result)
    sentence = f"rps drops ≥ {catch:.1%}"
    assert sentence in verdict.headline(result)
    assert sentence in verdict.to_markdown(result)
    doc = verdict.to_json(result)
    assert sentence in doc["would_catch"]
    detectable = doc["findings"][0]["detectable"]
    assert detectable["catchable_change"] == pytest.approx(f.catchable_change)
    assert detectable["threshold"] == pytest.approx(rule.threshold)
    (entry,) = verdict.to_benchmark_json(result)["customBiggerIsBetter"]
    assert f"would catch rps drops ≥ {catch:.1%}" in entry["extra"]
    assert "and ≥ 5.0% together" in entry["extra"]


def test_closed_loop_latency_is_information_not_gated() -> None:
    """A closed-loop run (the default): p95 30 % slower fails nothing; Holm's family counts
    the throughput verdicts only. At a fixed offered load (mode rate) the same fails."""
    rule = check_mod.ab_rule(paired=True)
    ref = {"fastapi": {"ALL": {"rps": BASE, "p95": BASE, "p99": BASE}}}
    slow = [b * f for b, f in zip(BASE, [1.30, 1.31, 1.29, 1.30, 1.305, 1.295], strict=True)]
    cand = {"fastapi": {"ALL": {"rps": HEAD, "p95": slow, "p99": BASE}}}
    closed = check_mod.compare(_summary(ref), _summary(cand, mode="closed"), rule=rule)
    assert closed.passed and [f.metric for f in closed.gated] == ["rps"]
    p95 = next(f for f in closed.informational if f.metric == "p95")
    assert p95.outcome is Outcome.REGRESSION and not p95.gated  # judged, shown, not gated
    assert closed.findings[0].alpha == pytest.approx(0.05)  # a family of one
    md = verdict.to_markdown(closed)
    assert "For information (not gated)" in md and "Little's law" in md
    assert verdict.to_json(closed)["findings"][1]["gated"] is False
    opened = check_mod.compare(_summary(ref), _summary(cand, mode="rate"), rule=rule)
    assert [f.name for f in opened.regressions] == ["fastapi ALL p95"]
    assert gate.is_gated("p95", open_model=True) and not gate.is_gated("p95", open_model=False)
