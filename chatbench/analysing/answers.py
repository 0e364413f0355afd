"""The answer of a plain run: what the reader came for, in sentences with their intervals.

A suite answers its own question (``chatbench.analysing.suite_answer``); every other run answers the
default one: how much traffic each variant carried, and how that compares with the reference
variant (``--reference``, else the first one named), then, when the run measured it, what latency each variant gave
at the same offered rate (``analysing.openload``) and, when asked, how much traffic each carried
within a latency objective (``analysing.slo``). Figures come from the repetitions the run kept (those listed
in ``invalid_repetitions`` are left out, as ``compare`` and ``check`` do), through the one
interval method per kind of figure in ``chatbench.analysing.stats``: a variant's throughput is the
geometric mean over repetitions with its 95 % t interval on the log values (n ≥ 3), a range
of 2, or the value alone; a ratio is the ratio of geometric means with Welch's t interval on
the log values, called significant only from 3 repetitions a side.

Closed-loop latency is deliberately absent from the sentences: with N users and no think time,
Little's law fixes the mean latency at N / throughput, so comparing it across variants restates
their throughput. The sentence says so, with this run's own figures, and how much of that mean
is waiting rather than the service's CPU and database work (``analysing.timesplit``).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import openload, slo, stats, timesplit, toolagreement
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.storing.record import RunRecord
from chatbench.storing.rundir import Run, RunDirectoryError, load_run

CAPACITY_METRIC = "rps"


@dataclass(frozen=True)
class VariantCapacity:
    variant: str
    rps: stats.Estimate
    p50_ms: stats.Estimate


@dataclass(frozen=True)
class CapacityRatio:
    """A throughput ratio; ``widened``: its interval widened to cover what wrk would have
    measured, where the cited cross-check says Locust and wrk disagree (``instruments``)."""

    variant: str
    reference: str
    ratio: stats.Estimate
    p: float
    widened: stats.Estimate | None = None
    instruments: str = ""

    @property
    def significant(self) -> bool:
        """Significant by the ratio's own test AND, where the instruments disagree, by the
        widened interval too: a difference the other instrument might not see is not claimed."""
        if not stats.is_significant(self.ratio, self.p):
            return False
        return self.widened is None or self.widened.excludes(1.0)


@dataclass(frozen=True)
class InstrumentBias:
    """Locust/wrk for one variant, from the cross-check a run cites."""

    ratio: float
    low: float
    high: float
    agrees: bool


def instrument_biases(record: RunRecord) -> dict[str, InstrumentBias]:
    """Per variant, the cited Locust/wrk cross-check's ratio and interval (``storing.crosschecks``)."""
    cited = record.crosscheck
    if cited is None:
        return {}
    out = {}
    for variant, a in cited.variants.items():
        try:
            out[variant] = InstrumentBias(float(a["ratio"]), float(a["low"]), float(a["high"]),
                                          bool(a.get("agrees")))  # fmt: skip
        except (KeyError, TypeError, ValueError):
            continue
    return out


def widened(
    ratio: stats.Estimate, variant: InstrumentBias, reference: InstrumentBias
) -> stats.Estimate:
    """``ratio`` (variant/reference, measured by Locust) with its interval widened to cover the
    same ratio as wrk would measure it: Locust reads each variant ``k`` times what wrk does, so
    wrk's ratio is ``ratio × k_reference / k_variant``; with each ``k`` anywhere in its own
    95 % interval, wrk's bounds are ``low × k_ref.low / k_var.high`` and ``high × k_ref.high /
    k_var.low``. The widened interval spans both instruments' readings."""
    wrk_low = ratio.low * reference.low / variant.high
    wrk_high = ratio.high * reference.high / variant.low
    return stats.Estimate(ratio.value, min(ratio.low, wrk_low), max(ratio.high, wrk_high),
                          ratio.n, ratio.method)  # fmt: skip


@dataclass(frozen=True)
class RunAnswer:
    scenario: str
    mode: str
    users: int | None
    reference: str
    capacities: tuple[VariantCapacity, ...]
    ratios: tuple[CapacityRatio, ...]
    notes: tuple[str, ...]
    sentences: tuple[str, ...]
    equal_load: tuple[openload.RateLatency, ...] = ()
    slo: slo.SloAnswer | None = None


def fmt_estimate(est: stats.Estimate, fmt: str = ",.0f", unit: str = "") -> str:
    """``1,234 req/s (95 % CI 1,200–1,270)``, ``… (range of 2: 1,200–1,270)`` or ``… (n = 1,
    no interval)``: a "95 % CI" only where there is one."""
    if not math.isfinite(est.value):
        return "no value"
    point = format(est.value, fmt) + unit
    if est.is_ci:
        return f"{point} (95 % CI {est.low:{fmt}}–{est.high:{fmt}})"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f"{point} (range of {est.n}: {est.low:{fmt}}–{est.high:{fmt}})"
    return f"{point} (n = {est.n}, no interval)"


def _ratio_text(r: CapacityRatio) -> str:
    text = f"{r.variant}/{r.reference} = {fmt_estimate(r.ratio, '.2f', '×')}"
    if r.widened is not None and r.ratio.is_ci:
        text += (
            f", widened to {r.widened.low:.2f}–{r.widened.high:.2f} to cover wrk's reading "
            f"({r.instruments}: the instruments disagree beyond ±5 %)"
        )
    if r.ratio.is_ci:
        judged = "significant" if r.significant else "not significant"
        return f"{text}, p = {r.p:.2g}: {judged}"
    return f"{text}, not judged (n = {r.ratio.n})"


def run_answer(source: Run | Path) -> RunAnswer:
    """The answer of a plain run directory (or a loaded ``Run``)."""
    run = source if isinstance(source, Run) else load_run(Path(source))
    run, notes = without_invalid(run)
    reps = repetition_metrics(run)
    reps = reps[reps["endpoint"] == ALL] if not reps.empty else reps

    def values(variant: str, metric: str) -> list[float]:
        if reps.empty:
            return []
        sub = reps[(reps["variant"] == variant) & (reps["metric"] == metric)]
        return [float(v) for v in sub["value"]]

    variants = [v for v in run.variants if values(v, CAPACITY_METRIC)]
    capacities = tuple(
        VariantCapacity(
            v, stats.interval(values(v, CAPACITY_METRIC)), stats.interval(values(v, "p50"))
        )
        for v in variants
    )
    named = run.config.reference
    mode = str(run.mode)
    reference = named if named in variants else (variants[0] if variants else "")
    ratios = []
    biases = instrument_biases(run.record) if mode == "closed" else {}
    for v in [v for v in variants if v != reference]:
        est, p = stats.ratio_interval(
            values(v, CAPACITY_METRIC), values(reference, CAPACITY_METRIC)
        )
        kv, kr = biases.get(v), biases.get(reference)
        if kv is not None and kr is not None and not (kv.agrees and kr.agrees) and est.is_ci:
            said = f"Locust/wrk {v} {kv.ratio:.3f}, {reference} {kr.ratio:.3f}"
            ratios.append(CapacityRatio(v, reference, est, p, widened(est, kv, kr), said))
        else:
            ratios.append(CapacityRatio(v, reference, est, p))
    users = run.config.users
    sentences: list[str] = []
    if capacities:
        what = "capacity (closed loop, " if mode == "closed" else f"throughput ({mode} mode, "
        load = f"{run.scenario} scenario" + (
            f", {users} users" if mode == "closed" and users else ""
        )
        each = "; ".join(f"{c.variant} {fmt_estimate(c.rps, unit=' req/s')}" for c in capacities)
        sentences.append(f"{what[0].upper()}{what[1:]}{load}): {each}.")
    if ratios:
        sentences.append("Throughput ratio: " + "; ".join(_ratio_text(r) for r in ratios) + ".")
    at_rates, said = openload.equal_load(run.path, run.record)
    sentences.extend(said)
    if at_rates:  # where the time goes, below capacity: at the lowest equal rate
        lowest = min(at_rates, key=lambda r: r.rate)
        with contextlib.suppress(RunDirectoryError):
            splits = timesplit.split(load_run(run.path / lowest.directory))
            if (told := timesplit.at_rate_sentence(splits, lowest.rate)) is not None:
                sentences.append(told)
    under_slo = slo.slo_answer(run.path, run.record)
    if under_slo is not None:
        sentences.append(under_slo.sentence)
    crosschecked = toolagreement.sentence(
        run.record, toolagreement.agreements(run.path, run.record)
    )
    if crosschecked:
        sentences.append(crosschecked)
    elif run.record.open_crosscheck_cited is not None and (at_rates or under_slo is not None):
        cited = run.record.open_crosscheck_cited
        verdict = "agreed within ±15 %" if cited.agrees else "were NOT shown to agree within ±15 %"
        sentences.append(
            f"Open-model cross-check: not part of this run; in the newest committed one "
            f"({cited.file}, {str(cited.started)[:10]}) Locust and the independent generator "
            f"{verdict} (`chatbench crosscheck --open-model`)."
        )
    if mode == "closed" and users and capacities:
        c = capacities[0]
        mine = next((x for x in timesplit.split(run) if x.variant == c.variant), None)
        told = timesplit.closed_loop_sentence(mine, int(users)) if mine else None
        if told is not None:
            sentences.append(told)
        elif math.isfinite(c.rps.value) and c.rps.value > 0 and math.isfinite(c.p50_ms.value):
            sentences.append(
                f"Closed-loop latency is not compared: with {users} users and no think time it "
                f"restates throughput (Little's law: {users} / {c.rps.value:,.0f} req/s = "
                f"{1000 * users / c.rps.value:.1f} ms mean for {c.variant}; its p50 was "
                f"{c.p50_ms.value:.1f} ms)."
            )
    return RunAnswer(
        scenario=run.scenario,
        mode=mode,
        users=int(users) if isinstance(users, int | float) else None,
        reference=reference,
        capacities=capacities,
        ratios=tuple(ratios),
        notes=tuple(notes),
        sentences=tuple(sentences),
        equal_load=at_rates,
        slo=under_slo,
    )
