"""Capacity under a latency objective (``chatbench run --slo p99=50ms``): the search, measured.

The question: how much traffic can each variant carry while the chosen percentile of its
latency (from the intended send time) stays within the objective AND it keeps the offered
rate? Per variant, the highest such open-model rate, as a bracket (``analysing.slo``: the
answer, its outcomes and its verdicts).

How it is measured, and why so:

* **On the settled, long-lived services** (``measuring.live``), in windows that end once they
  can hold the percentile (where pauses can set it, three of the service's full collections)
  (``measuring.live.TailWindowEnd``), each judged afterwards by ``analysing.tails``: a window
  that cannot hold the percentile gives no verdict instead of a lucky one.
* **One search per variant**, the variants' steps interleaved (A, B, then B, A, …) so drift
  hits both. It brackets the edge from the capacity this run measured (an open-model rate
  above the closed-loop capacity cannot be kept: the search's ceiling): start at ``START``
  (½) of it; kept there, try the capacity itself (kept again: the objective does not bind
  below capacity, and the search ends at its ceiling); missed, halve until a rate is kept (or
  the objective is out of reach below ``FLOOR``, 2 % of the capacity). Then geometric
  bisections until the bracket is at most ``analysing.slo.MAX_BRACKET`` (15 %) wide. It stops
  early on a swing (a rate missed below one kept: no stable answer). A window that cannot
  hold the percentile sends it halfway up to the lowest missed rate, or to the capacity (more
  of the service's collections fall into a window there), until within 15 % of it; a window
  whose load generator fell behind is tried once more at its rate.
* **Windows long enough for a verdict**: besides holding the percentile, each window holds
  ``configuration.windows.verdict_samples_needed`` requests (50 beyond the percentile): near
  the bound a verdict on fewer swings with one window's luck.
* **Confirmation**: ``CONFIRM_WINDOWS`` more windows at the found rate and as many at a rate
  10–15 % above it (``analysing.slo.above_rate``), interleaved across variants: *confirmed*
  means kept at the one and missed at the other in every one of them.

The search's windows are the sub-run ``slo/search/`` (repetition k = the variant's k-th step,
its rate in ``record.slo.steps``), the confirmations ``slo/confirm/``. Neither is judged by the
interleaving rule (a search's steps follow its verdicts, not A B, B A); every other fairness
rule and the integrity check apply.
"""

from __future__ import annotations

import dataclasses
import math

from chatbench.analysing import slo as answer
from chatbench.analysing import tails
from chatbench.configuration.profiles import slo_parts
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.windows import verdict_samples_needed
from chatbench.load import latency
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder
from chatbench.workflows.phases import PhaseContext
from chatbench.workflows.phases.equal_load import measured_capacities, phase_config, sub_run

START = 0.5
FLOOR = 0.02
MAX_STEPS = 8
CONFIRM_WINDOWS = answer.CONFIRM_WINDOWS
SEARCH_DIR = "slo/search"
CONFIRM_DIR = "slo/confirm"
# The fairness rule a search's steps break by design (they follow the verdicts, not A B, B A).
NOT_INTERLEAVED = "warmup_excluded_interleaved"
_CEILING = 0.994  # a rate within rounding of the capacity is at the ceiling


def wanted(cfg: RunConfig) -> bool:
    return cfg.slo is not None


def next_rate(windows: list[answer.SloWindow], capacity: float) -> tuple[float | None, str]:
    """The next rate of a search given its windows so far, or None and how it ended."""
    if not windows:
        return _rounded(START * capacity), ""
    if len(windows) >= MAX_STEPS:
        return None, f"stopped after {MAX_STEPS} steps"
    last = windows[-1]
    tried = {w.rate for w in windows}
    if last.outcome == answer.NOT_MEASURED:
        # A window whose load generator fell behind measured the generator, not the service:
        # the same rate once more (a shared core's passing burst need not end the search).
        if last.loadgen_fault and _at(windows, last.rate) < 2:
            return last.rate, ""
        # A window that could not hold the percentile says nothing of its rate; a higher rate
        # runs more collections into a window: try halfway up to a rate that missed, or to the
        # capacity when none did.
        above = [w.rate for w in windows if w.outcome == answer.MISSED and w.rate > last.rate]
        top = min(above) if above else _rounded(capacity)
        up = _rounded(math.sqrt(last.rate * top))
        if up in tried or top / last.rate <= answer.MAX_BRACKET:
            return None, f"could not measure at {last.rate:,.0f} req/s ({last.reason})"
        return up, ""
    b = answer.bracket(windows)
    if b.swing is not None:
        return None, f"swing: missed at {b.swing[0]:,.0f} req/s, kept at {b.swing[1]:,.0f}"
    if b.low is None:
        missed = [w.rate for w in windows if w.outcome == answer.MISSED]
        if not missed:
            return None, "no window could hold the percentile"
        lowest = min(missed)
        down = _rounded(lowest / 2)
        if down < FLOOR * capacity or down in tried:
            return None, f"kept at no rate down to {lowest:,.0f} req/s"
        return down, ""
    high = min((w.rate for w in windows if w.outcome == answer.MISSED and w.rate > b.low),
               default=None)  # fmt: skip
    if high is None:
        if b.low >= _CEILING * capacity or _rounded(capacity) in tried:
            return None, f"kept at its capacity, {b.low:,.0f} req/s (the search's ceiling)"
        return _rounded(capacity), ""
    if high / b.low <= answer.MAX_BRACKET:
        return None, f"bracketed between {b.low:,.0f} and {high:,.0f} req/s"
    mid = _rounded(math.sqrt(b.low * high))
    if not b.low < mid < high or mid in tried:
        return None, f"bracketed between {b.low:,.0f} and {high:,.0f} req/s (whole req/s)"
    return mid, ""


def _at(windows: list[answer.SloWindow], rate: float) -> int:
    return sum(1 for w in windows if w.rate == rate)


def _rounded(rate: float) -> float:
    return float(max(1, round(rate)))


def measure(ctx: PhaseContext) -> tuple[Recorder, ...]:
    """The searches, then the confirmations (module docstring)."""
    cfg, run_dir = ctx.cfg, ctx.run_dir
    assert cfg.slo is not None
    ctx.judge()
    ctx.recorder.save()
    percentile, bound = slo_parts(cfg.slo)
    capacities = measured_capacities(run_dir, cfg)
    section = rec.SloRecord(objective=cfg.slo, percentile=percentile, bound_ms=bound,
                            capacities={v: round(c, 3) for v, c in capacities.items()},
                            steps=[], searched={})  # fmt: skip
    if not capacities:
        ctx.recorder.set(slo=section.but(skipped="no variant has a valid measured capacity"))
        return ()
    names = [n for n in cfg.variants if n in capacities]
    search = _Windows(ctx, SEARCH_DIR, percentile, bound, capacities[names[0]])
    seen: dict[str, list[answer.SloWindow]] = {n: [] for n in names}
    searched: dict[str, str] = {}
    turn = 0
    while len(searched) < len(names):
        turn += 1
        for name in names if turn % 2 else list(reversed(names)):
            if name in searched:
                continue
            rate, ended = next_rate(seen[name], capacities[name])
            if rate is None:
                searched[name] = ended
                continue
            ctx.progress.phase(
                f"{cfg.slo} search, step {len(seen[name]) + 1}: {name} at {rate:g} req/s"
            )
            step, window = search.measure(name, rate, "search")
            seen[name].append(window)
            section = section.but(steps=[*section.steps, step], searched=dict(searched))
            ctx.recorder.set(slo=section)
            ctx.recorder.save()
    section = section.but(searched=searched)
    ctx.recorder.set(slo=section)
    ctx.recorder.save()
    plan = {}
    for name in names:
        b = answer.bracket(seen[name])
        if not b.stable or b.low is None:
            continue
        at_ceiling = b.low >= _CEILING * capacities[name]
        plan[name] = (
            [b.low] if at_ceiling else [b.low, answer.above_rate(b.low, _high(seen[name], b.low))]
        )
    if not plan:
        return (search.recorder,)
    confirm = _Windows(ctx, CONFIRM_DIR, percentile, bound, max(r[0] for r in plan.values()))
    order = list(plan)
    for i in range(CONFIRM_WINDOWS):
        for name in order if i % 2 == 0 else list(reversed(order)):
            for rate in plan[name]:
                ctx.progress.phase(
                    f"{cfg.slo} confirmation {i + 1}/{CONFIRM_WINDOWS}: {name} at {rate:g} req/s"
                )
                step, _ = confirm.measure(name, rate, "confirm")
                section = section.but(steps=[*section.steps, step])
                ctx.recorder.set(slo=section)
                ctx.recorder.save()
    return (search.recorder, confirm.recorder)


def _high(windows: list[answer.SloWindow], low: float) -> float | None:
    return min((w.rate for w in windows if w.outcome == answer.MISSED and w.rate > low),
               default=None)  # fmt: skip


class _Windows:
    """One sub-run of SLO windows (the search's or the confirmation's): measure a variant at
    a rate in a window sized for the objective, and judge the window."""

    def __init__(self, ctx: PhaseContext, where: str, percentile: float, bound: float,
                 first_rate: float) -> None:  # fmt: skip
        self.ctx, self.where, self.percentile, self.bound = ctx, where, percentile, bound
        cfg = ctx.cfg
        sub_cfg = phase_config(cfg, first_rate, (ctx.run_dir / where).parent, repeat=1)
        question = f"How much traffic does each variant carry within {cfg.slo}?"
        self.recorder = sub_run(ctx, where, sub_cfg, question=question)
        self.count: dict[str, int] = {}

    def measure(self, name: str, rate: float, phase: str) -> tuple[rec.SloStep, answer.SloWindow]:
        ctx, cfg = self.ctx, self.ctx.cfg
        step_cfg = dataclasses.replace(
            phase_config(cfg, rate, self.recorder.run_dir.parent, repeat=1),
            tail_percentile=self.percentile,
        )
        rep = self.count[name] = self.count.get(name, 0) + 1
        ctx.window(ctx.sub_stage(step_cfg, self.recorder.run_dir), rep, (name,), self.recorder,
                   requests=verdict_samples_needed(self.percentile))  # fmt: skip
        self.recorder.save()
        return self._judged(name, rep, rate, phase)

    def _judged(self, name: str, rep: int, rate: float, phase: str) -> tuple[rec.SloStep, answer.SloWindow]:  # fmt: skip
        record = self.recorder.record
        entry = record.repetitions[-1]
        path = self.recorder.run_dir / "raw" / name / f"rep-{rep}" / "requests.json"
        doc = latency.read_requests(path)
        value = latency.percentiles(doc.all_endpoints_histogram(), [self.percentile])[
            self.percentile
        ]
        requests = doc.completed - doc.failures
        pauses = record.evidence.pauses.get(f"{name}#{rep}")
        holding = tails.holds(self.percentile, tails.facts(requests, doc.duration_s, pauses))
        invalid = record.invalid.get((name, rep))
        if invalid is not None:
            holding = tails.Holding(self.percentile, False, invalid)
        fault = (name, rep) in record.loadgen_faults
        overloaded = bool(entry.overloaded)
        value_ms = round(value, 3) if math.isfinite(value) else None
        outcome = answer.outcome(value_ms, self.bound, overloaded, holding)
        step = rec.SloStep(
            variant=name, round=1, repetition=rep, rate=rate, value_ms=value_ms,
            overloaded=overloaded, passed=outcome == answer.KEPT, phase=phase,
            directory=self.where, outcome=outcome, reason=holding.reason or None,
            loadgen_fault=fault,
        )  # fmt: skip
        window = answer.SloWindow(rate, outcome, value_ms, phase, holding.reason, pauses, fault)
        return step, window
