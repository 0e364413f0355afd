"""What each check could have caught (``chatbench.analysing.power`` and the gate's findings).

The minimum detectable effect is checked by simulation: with the noise a check observed, an
injected effect of the stated size is detected (p below the verdict's alpha) about 80 % of the
time over 2000 seeded draws, for the duet's paired test at Holm's first-step alpha and for
Welch's test of a stored-baseline check. Then: every output of `chatbench check` states it, and
closed-loop latency is judged for information only (Little's law).
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

DRAWS = 2000
BASE = [500.0, 650.0, 380.0, 610.0, 450.0, 560.0]
HEAD = [b * f for b, f in zip(BASE, [1.01, 0.98, 1.02, 0.99, 1.0, 1.015], strict=True)]


def _summary(values: dict, **settings) -> baseline_mod.Summary:
    return baseline_mod.Summary(values=values, settings=settings, run_id="r")


def test_paired_mde_is_detected_80_percent_of_the_time() -> None:
    """A duet check of three gated verdicts: alpha 0.05 / 3 for Holm's first step."""
    rule = check_mod.ab_rule(paired=True)
    ref = {"fastapi": {e: {"rps": BASE} for e in ("ALL", "GET", "POST")}}
    cand = {"fastapi": {e: {"rps": HEAD} for e in ("ALL", "GET", "POST")}}
    result = check_mod.compare(_summary(ref), _summary(cand), rule=rule)
    f = result.findings[0]
    assert f.alpha == pytest.approx(0.05 / 3)
    sd = float(np.std(np.log(np.array(HEAD) / np.array(BASE)), ddof=1))
    rng = np.random.default_rng(1)
    logs = rng.normal(-f.detectable, sd, size=(DRAWS, len(BASE)))
    p = sps.ttest_1samp(logs, 0.0, axis=1).pvalue
    assert np.mean(p < f.alpha) == pytest.approx(power.POWER, abs=0.03)


def test_welch_mde_is_detected_about_80_percent_of_the_time() -> None:
    ref = [1000.0, 1040.0, 970.0, 1010.0, 990.0]
    cand = [1005.0, 980.0, 1030.0, 995.0, 1012.0]
    delta = power.welch_delta(ref, cand, alpha=0.05)
    a, b = np.log(ref), np.log(cand)
    rng = np.random.default_rng(2)
    sim_a = rng.normal(0.0, np.std(a, ddof=1), size=(DRAWS, len(ref)))
    sim_b = rng.normal(-delta, np.std(b, ddof=1), size=(DRAWS, len(cand)))
    p = sps.ttest_ind(sim_a, sim_b, axis=1, equal_var=False).pvalue
    assert np.mean(p < 0.05) == pytest.approx(power.POWER, abs=0.04)


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
    assert catch >= 1 - 1 / (1 + rule.threshold) - 1e-12  # never below the threshold
    mde = math.expm1(-f.detectable)  # the noise's own bound, shown when the threshold binds
    assert (f"(MDE {mde:+.1%})" in verdict.to_markdown(result)) == (abs(mde) < catch)
    sentence = f"rps drops ≥ {catch:.1%}"
    assert sentence in verdict.headline(result)
    assert sentence in verdict.to_markdown(result)
    doc = verdict.to_json(result)
    assert sentence in doc["would_catch"]
    assert doc["findings"][0]["detectable"]["catchable_change"] == pytest.approx(f.catchable_change)
    (entry,) = verdict.to_benchmark_json(result)["customBiggerIsBetter"]
    assert f"would catch rps drops ≥ {catch:.1%}" in entry["extra"]


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
