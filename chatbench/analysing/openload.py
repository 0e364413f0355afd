"""Latency at equal offered load: the answer's second part, from the run's equal-load phases.

Every phase (``record.EqualLoadRecord``, measured by ``workflows.phases.equal_load``) offered every
variant the same open-model rate; its latencies count from the intended send time. Per variant
and rate: p50 / p95 / p99 / p99.9 over the kept repetitions (loadgen-saturated ones left out, as
everywhere) with ``stats.interval`` (95 % CI from 3 repetitions), and the p99 ratio of each
variant to the reference with ``stats.ratio_interval``.

A repetition that did not keep its rate (``load.openloop``: > 2 % under target or dropped
sends) is *overloaded*: its latency is a lower bound. A variant with any overloaded repetition
at a rate is shown as "≥" the lowest of those repetitions' figures and never enters a ratio.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from chatbench.analysing import stats, tails, toolagreement
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.storing.record import EqualLoadPhase, PauseRecord, RunRecord
from chatbench.storing.rundir import Repetition, Run, RunDirectoryError, load_run
from loadtests.arrivals import words as arrival_words

SHOWN = {"p50": "p50", "p95": "p95", "p99": "p99", "p99_9": "p99.9"}
COMPARED = "p99"


@dataclass(frozen=True)
class LatencyWindow:
    """One repetition's window at a rate: its percentiles, which of them the window can hold
    (``analysing.tails``), whether it kept the rate, and the pauses the service recorded."""

    repetition: int
    overloaded: bool
    values: dict[str, float]  # metric -> ms
    holdings: dict[str, tails.Holding]  # metric -> can the window hold it
    pauses: PauseRecord | None
    span_s: float
    requests: int


@dataclass(frozen=True)
class VariantLatency:
    """One variant at one rate: the percentiles its windows can hold (ms) with intervals, or
    lower bounds; and, per percentile its windows cannot hold, why not."""

    variant: str
    n: int  # kept repetitions
    overloaded: int  # of them, how many did not keep the rate
    percentiles: dict[str, stats.Estimate]  # metric -> estimate (windows that kept up and hold it)
    lower_bounds: dict[str, float]  # metric -> lowest figure of the overloaded repetitions
    achieved_rps: float  # geometric mean of the achieved rates
    windows: tuple[LatencyWindow, ...] = ()
    # metric -> why its windows cannot hold it (``.reason`` in words)
    not_measured: dict[str, tails.Holding] = field(default_factory=dict)
    # metric -> why its interval was widened (the open-model cross-check's generators differ)
    widened: dict[str, str] = field(default_factory=dict)

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


def _window(run: Run, rep: Repetition, reps: pd.DataFrame) -> LatencyWindow:
    """A repetition's window: its percentiles and which of them it can hold."""
    mine = reps[(reps["variant"] == rep.variant) & (reps["repetition"] == rep.repetition)]
    values = {str(m): float(v) for m, v in zip(mine["metric"], mine["value"], strict=True)}
    requests = sum(e.count - e.failures for e in rep.endpoints)
    pauses = run.record.evidence.pauses.get(f"{rep.variant}#{rep.repetition}")
    window = tails.facts(requests, rep.duration_s, pauses)
    holdings = {m: tails.holds(q, window) for m, q in tails.NAMED.items()}
    return LatencyWindow(rep.repetition, rep.overloaded, {m: values[m] for m in SHOWN if m in values},
                         holdings, pauses, rep.duration_s, requests)  # fmt: skip


def _measured(
    windows: list[LatencyWindow], metric: str
) -> tuple[list[float], tails.Holding | None]:
    """The values of ``metric`` from the windows that kept the rate and can hold it; the
    verdict saying why when none can (None when they can, or none kept the rate)."""
    kept = [w for w in windows if not w.overloaded and metric in w.values]
    flags, verdict = tails.holds_in(
        tails.NAMED[metric],
        [tails.facts(w.requests, w.span_s, w.pauses) for w in kept],
    )
    values = [w.values[metric] for w, ok in zip(kept, flags, strict=True) if ok]
    return values, (None if verdict.ok or not kept else verdict)


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
        windows = [_window(run, r, reps) for r in mine]
        over = [w for w in windows if w.overloaded]
        achieved = [r.rate.achieved_rate for r in mine if r.rate is not None]
        estimates, missing = {}, {}
        for m in SHOWN:
            values, why = _measured(windows, m)
            if values:
                estimates[m] = stats.interval(values)
            elif why is not None:
                missing[m] = why
        variants.append(
            VariantLatency(
                variant=variant,
                n=len(mine),
                overloaded=len(over),
                percentiles=estimates,
                lower_bounds={
                    m: min((w.values[m] for w in over if m in w.values), default=math.nan)
                    for m in SHOWN
                }
                if over
                else {},  # fmt: skip
                achieved_rps=stats.interval(achieved).value if achieved else math.nan,
                windows=tuple(windows),
                not_measured=missing,
            )
        )
    ratios = []
    kept = [v for v in variants if v.kept_up]
    if variants and variants[0].kept_up and COMPARED in variants[0].percentiles:
        ref = variants[0]
        for v in kept[1:]:
            if COMPARED not in v.percentiles:
                continue
            est, p = stats.ratio_interval(_measured(list(v.windows), COMPARED)[0],
                                          _measured(list(ref.windows), COMPARED)[0])  # fmt: skip
            ratios.append(LatencyRatio(v.variant, ref.variant, est, p))
    return RateLatency(phase.fraction, phase.rate, phase.directory, phase.users,
                       tuple(variants), tuple(ratios), tuple(notes))  # fmt: skip


def _figures(v: VariantLatency) -> str:
    return " / ".join(_ms(v.percentiles[m]) if m in v.percentiles else "–" for m in SHOWN)


def _with_crosscheck(run_dir: Path, record: RunRecord, at: RateLatency) -> RateLatency:
    """``at`` with every percentile whose two generators differ (``toolagreement``) widened to
    cover the independent generator's reading: a disagreement changes the answer."""
    found = toolagreement.differing(toolagreement.agreements(run_dir, record))
    variants = []
    for v in at.variants:
        changed = dict(v.percentiles)
        why = {}
        for m, est in v.percentiles.items():
            a = found.get((v.variant, at.rate, m))
            if a is None:
                continue
            values = toolagreement.independent_values(run_dir, record, v.variant, at.rate, m)
            changed[m] = toolagreement.widened(est, values)
            why[m] = f"independent/Locust {a.ratio.value:.2f}×"
        variants.append(dataclasses.replace(v, percentiles=changed, widened=why) if why else v)
    return dataclasses.replace(at, variants=tuple(variants))


def not_measured_clauses(variants: Sequence[VariantLatency], metric: str) -> list[str]:
    """``p99.9 not measured: …`` for a percentile some variant's windows cannot hold: said
    once when every variant has the same reason, or every one is short of the same number of
    requests (then with the most any window held); else one clause per variant."""
    why = {v.variant: v.not_measured[metric] for v in variants if metric in v.not_measured}
    if not why:
        return []
    label = tails.label(tails.NAMED[metric])
    every = len(why) == len(variants)
    needed = {h.needed for h in why.values()}
    if every and None not in needed and len(needed) == 1:
        most = max(h.seen or 0 for h in why.values())  # every variant short of it
        return [f"{label} not measured: at most {most:,} requests in a window, "
                f"{needed.pop():,} needed"]  # fmt: skip
    if every and len({h.reason for h in why.values()}) == 1:
        return [f"{label} not measured: {next(iter(why.values())).reason}"]
    return [f"{label} not measured for {name}: {h.reason}" for name, h in why.items()]


def _not_measured(variants: Sequence[VariantLatency]) -> list[str]:
    """One clause per percentile some variant's windows cannot hold (``not_measured_clauses``)."""
    return [clause for m in SHOWN for clause in not_measured_clauses(variants, m)]


def sentence(
    found: RateLatency,
    slowest: str | None,
    budget_ms: float | None = None,
    arrivals: str | None = None,
) -> str:
    """``At 240 req/s offered to each (50 % of django's capacity), latency from the intended
    send time, p50 / p95 / p99 / p99.9 [95 % CI]: django …; fastapi …; p99 fastapi/django …``,
    then the percentiles the windows could not hold, and what the pauses were."""
    of = f" of {slowest}'s capacity" if slowest else ""
    of += f"; {arrival_words(arrivals)}"
    if budget_ms and arrivals == "poisson":  # a gap shorter than a response waits for it
        of += f"; {found.users} users, one connection each"
    elif budget_ms:  # how the users were sized: a send is held back only past this latency
        of += f"; {found.users} users, so only a response over {budget_ms:g} ms holds a send back"
    parts = []
    for v in found.variants:
        if v.kept_up:
            parts.append(f"{v.variant} {_figures(v)}")
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
    for clause in _not_measured(found.variants):
        text += f"; {clause}"
    for v in found.variants:
        for m, why in v.widened.items():
            text += (
                f"; {v.variant}'s {tails.label(tails.NAMED[m])} interval widened to cover the "
                f"independent generator's reading ({why}: the generators differ by more than 15 %)"
            )
    for v in found.variants:
        seen = [w.pauses for w in v.windows if w.pauses is not None]
        if seen and COMPARED in v.percentiles:
            text += f"; {v.variant}: {tails.pause_clause(seen, tails.NAMED[COMPARED])}"
    return text + "."


def equal_load(run_dir: Path, record: RunRecord) -> tuple[tuple[RateLatency, ...], tuple[str, ...]]:
    """Every equal-load rate of a run and its sentences (a skipped phase: why)."""
    section = record.equal_load
    if section is None:
        return (), ()
    if section.skipped:
        return (), (f"Latency at equal offered load was not measured: {section.skipped}.",)
    found = tuple(r for phase in section.phases if (r := rate_latency(run_dir, phase)) is not None)
    if record.open_crosscheck is not None:
        found = tuple(_with_crosscheck(run_dir, record, r) for r in found)
    budget = float(section.latency_budget_ms) if section.latency_budget_ms else None
    arrivals = record.config.arrivals
    return found, tuple(sentence(r, section.slowest, budget, arrivals) for r in found)
