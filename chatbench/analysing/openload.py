"""Latency at equal offered load: the answer's second part, from the run's equal-load phases.

Every phase (``record.EqualLoadRecord``, measured by ``workflows.equal_load``) offered every
variant the same open-model rate; its latencies count from the intended send time. Per variant
and rate: p50 / p95 / p99 / p99.9 over the kept repetitions (loadgen-saturated ones left out, as
everywhere) with ``stats.interval`` (95 % CI from 3 repetitions), and the p99 ratio of each
variant to the reference with ``stats.ratio_interval``.

A repetition that did not keep its rate (``load.openloop``: > 2 % under target or dropped
sends) is *overloaded*: its latency is a lower bound. A variant with any overloaded repetition
at a rate is shown as "≥" the lowest of those repetitions' figures and never enters a ratio.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chatbench.analysing import stats
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.storing.record import EqualLoadPhase, RunRecord
from chatbench.storing.rundir import RunDirectoryError, load_run

SHOWN = {"p50": "p50", "p95": "p95", "p99": "p99", "p99_9": "p99.9"}
COMPARED = "p99"


@dataclass(frozen=True)
class VariantLatency:
    """One variant at one rate: its percentiles (ms) with intervals, or lower bounds."""

    variant: str
    n: int  # kept repetitions
    overloaded: int  # of them, how many did not keep the rate
    percentiles: dict[str, stats.Estimate]  # metric -> estimate (repetitions that kept up)
    lower_bounds: dict[str, float]  # metric -> lowest figure of the overloaded repetitions
    achieved_rps: float  # geometric mean of the achieved rates

    @property
    def kept_up(self) -> bool:
        return self.overloaded == 0 and self.n > 0


@dataclass(frozen=True)
class LatencyRatio:
    variant: str
    reference: str
    ratio: stats.Estimate
    p: float


@dataclass(frozen=True)
class RateLatency:
    """One equal-load rate: every variant's latency, the p99 ratios, the sentence."""

    fraction: float
    rate: float
    directory: str
    users: int  # Locust users the rate was spread over (``load.openloop.users_for``)
    variants: tuple[VariantLatency, ...]
    ratios: tuple[LatencyRatio, ...]
    notes: tuple[str, ...]


def _ms(est: stats.Estimate) -> str:
    """``5.1 ms [4.9–5.3]`` (95 % CI), ``5.1 ms [range 4.9–5.3]`` or ``5.1 ms (n = 1)``."""
    if not math.isfinite(est.value):
        return "–"
    digits = ".1f" if est.value < 100 else ",.0f"
    point = f"{est.value:{digits}} ms"
    if est.is_ci:
        return f"{point} [{est.low:{digits}}–{est.high:{digits}}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f"{point} [range {est.low:{digits}}–{est.high:{digits}}]"
    return f"{point} (n = {est.n})"


def _values(reps: pd.DataFrame, variant: str, metric: str, keep: set[int]) -> list[float]:
    sub = reps[(reps["variant"] == variant) & (reps["metric"] == metric)]
    return [float(v) for r, v in zip(sub["repetition"], sub["value"], strict=True) if r in keep]


def rate_latency(run_dir: Path, phase: EqualLoadPhase) -> RateLatency | None:
    """The latency of every variant at one equal-load rate; None when nothing was measured."""
    try:
        run = load_run(run_dir / phase.directory)
    except RunDirectoryError:
        return None
    run, notes = without_invalid(run)
    reps = repetition_metrics(run)
    if reps.empty:
        return None
    reps = reps[reps["endpoint"] == ALL]
    variants = []
    for variant in run.variants:
        mine = [r for r in run.repetitions if r.variant == variant]
        fine = {r.repetition for r in mine if not r.overloaded}
        over = {r.repetition for r in mine if r.overloaded}
        achieved = [r.rate.achieved_rate for r in mine if r.rate is not None]
        variants.append(
            VariantLatency(
                variant=variant,
                n=len(mine),
                overloaded=len(over),
                percentiles={m: stats.interval(_values(reps, variant, m, fine)) for m in SHOWN},
                lower_bounds={
                    m: min(_values(reps, variant, m, over), default=math.nan) for m in SHOWN
                }
                if over
                else {},  # fmt: skip
                achieved_rps=stats.interval(achieved).value if achieved else math.nan,
            )
        )
    ratios = []
    kept = [v for v in variants if v.kept_up]
    if variants and variants[0].kept_up:  # a kept-up variant has no overloaded repetition
        ref, every = variants[0], set(reps["repetition"])
        for v in kept[1:]:
            est, p = stats.ratio_interval(
                _values(reps, v.variant, COMPARED, every),
                _values(reps, ref.variant, COMPARED, every),
            )
            ratios.append(LatencyRatio(v.variant, ref.variant, est, p))
    return RateLatency(phase.fraction, phase.rate, phase.directory, phase.users,
                       tuple(variants), tuple(ratios), tuple(notes))  # fmt: skip


def sentence(found: RateLatency, slowest: str | None, budget_ms: float | None = None) -> str:
    """``At 240 req/s offered to each (50 % of django's capacity), latency from the intended
    send time, p50 / p95 / p99 / p99.9 [95 % CI]: django …; fastapi …; p99 fastapi/django …``."""
    of = f" of {slowest}'s capacity" if slowest else ""
    if budget_ms:  # how the users were sized: a send is held back only past this latency
        of += f"; {found.users} users, so only a response over {budget_ms:g} ms holds a send back"
    parts = []
    for v in found.variants:
        if v.kept_up:
            figures = " / ".join(_ms(v.percentiles[m]) for m in SHOWN)
            parts.append(f"{v.variant} {figures}")
        elif v.n:
            bounds = " / ".join(
                f"≥ {v.lower_bounds[m]:,.1f} ms" if math.isfinite(v.lower_bounds.get(m, math.nan))
                else "–" for m in SHOWN
            )  # fmt: skip
            parts.append(
                f"{v.variant} OVERLOADED in {v.overloaded} of {v.n} repetitions (achieved "
                f"{v.achieved_rps:,.0f} req/s): {bounds}, lower bounds, not compared"
            )
    text = (
        f"Latency at {found.rate:,.0f} req/s offered to each ({100 * found.fraction:g} %{of}), "
        f"from the intended send time, p50 / p95 / p99 / p99.9 [95 % CI]: " + "; ".join(parts)
    )
    for r in found.ratios:
        judged = (
            ("significant" if stats.is_significant(r.ratio, r.p) else "not significant")
            if r.ratio.is_ci
            else f"not judged (n = {r.ratio.n})"
        )
        text += (
            f"; p99 {r.variant}/{r.reference} = {r.ratio.value:.2f}×"
            + (f" [{r.ratio.low:.2f}–{r.ratio.high:.2f}]" if r.ratio.is_ci else "")
            + f", {judged}"
        )
    return text + "."


def equal_load(run_dir: Path, record: RunRecord) -> tuple[tuple[RateLatency, ...], tuple[str, ...]]:
    """Every equal-load rate of a run and its sentences (a skipped phase: why)."""
    section = record.equal_load
    if section is None:
        return (), ()
    if section.skipped:
        return (), (f"Latency at equal offered load was not measured: {section.skipped}.",)
    found = tuple(r for phase in section.phases if (r := rate_latency(run_dir, phase)) is not None)
    budget = float(section.latency_budget_ms) if section.latency_budget_ms else None
    return found, tuple(sentence(r, section.slowest, budget) for r in found)
