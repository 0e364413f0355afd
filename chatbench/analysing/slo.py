"""Capacity under a latency objective: the answer's third part, from the run's SLO search.

The run (``workflows.slo``) searched ``ROUNDS`` times per variant for the highest open-model
rate whose percentile stayed within the objective while the offered rate was kept, then
measured each variant again at its found rate. Here: each variant's found rate as the
geometric mean of its searches with its 95 % t interval on the logs (``stats.interval``), the
ratio of each variant to the reference (``stats.ratio_interval``), and what the confirming
windows showed at that rate (the percentile with its interval, how many were overloaded) and
the verdict on it (``VariantSlo.verdict``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import openload, stats
from chatbench.load import latency
from chatbench.storing.record import RunRecord
from chatbench.storing.rundir import RunDirectoryError, load_run

CONFIRM_DIR = "slo/confirm"  # workflows.slo.CONFIRM_DIR (workflows comes after this layer)
SEARCH_DIR = "slo/search"  # workflows.slo.SEARCH_DIR
NOT_CHECKED = "not checked"  # contradiction(): nothing independent to hold the rate against
CONFIRMED, AT_THE_EDGE, NOT_CONFIRMED = "confirmed", "at the edge", "NOT confirmed"


@dataclass(frozen=True)
class VariantSlo:
    variant: str
    rate: stats.Estimate  # found req/s over the searches
    confirmed_ms: stats.Estimate  # the percentile in the confirming windows
    confirmed_overloaded: int
    confirmed_n: int
    bound_ms: float = math.inf
    contradicted: str = ""  # what the equal-load phase measured against the found rate, if it did
    searches_empty: int = 0  # searches in which no rate kept the objective

    @property
    def confirmed(self) -> bool:
        """The confirming windows kept the rate and their percentile stayed within the
        objective — its whole 95 % interval where there is one, else its value."""
        return self.verdict == CONFIRMED

    @property
    def verdict(self) -> str:
        """What the confirming windows say of the found rate, by the percentile's 95 %
        interval (its value when it has none): ``confirmed`` — wholly within the objective;
        ``at the edge`` — the interval holds the bound, which is where the highest rate that
        keeps an objective lies (its percentile is near the bound, on either side by chance),
        so the rate stands; ``NOT confirmed`` — wholly beyond the objective, or a window fell
        behind the rate, or there was no valid window: the rate is not an answer."""
        ms = self.confirmed_ms
        if not self._kept or not math.isfinite(ms.value):
            return NOT_CONFIRMED
        low, high = (ms.low, ms.high) if ms.is_ci else (ms.value, ms.value)
        if high <= self.bound_ms:
            return CONFIRMED
        if low <= self.bound_ms:
            return AT_THE_EDGE
        return NOT_CONFIRMED

    @property
    def answers(self) -> bool:
        """The found rate is an answer: every search found one, it is not NOT confirmed and
        not contradicted by equal load."""
        return not self.why_not

    @property
    def why_not(self) -> str:
        """Why the found rate is not an answer ("" when it is)."""
        if self.searches_empty:
            return "not found in every search"
        if self.verdict == NOT_CONFIRMED:
            return "not confirmed"
        if self.contradicted and self.contradicted != NOT_CHECKED:
            return "contradicted by equal load"
        return ""

    @property
    def _kept(self) -> bool:
        return self.confirmed_n > 0 and self.confirmed_overloaded == 0


@dataclass(frozen=True)
class SloAnswer:
    objective: str
    variants: tuple[VariantSlo, ...]
    ratios: tuple[tuple[str, str, stats.Estimate, float], ...]  # variant, reference, ratio, p
    sentence: str


def _objective_text(percentile: float, bound_ms: float) -> str:
    return f"p{percentile:g} ≤ {bound_ms:g} ms"


def _confirmations(run_dir: Path, percentile: float) -> dict[str, tuple[list[float], int]]:
    """variant → (the percentile of each confirming window, how many were overloaded)."""
    try:
        run = load_run(run_dir / CONFIRM_DIR)
    except RunDirectoryError:
        return {}
    invalid = run.record.invalid
    out: dict[str, tuple[list[float], int]] = {}
    for rep in run.repetitions:
        if (rep.variant, rep.repetition) in invalid:
            continue
        values, over = out.get(rep.variant, ([], 0))
        if rep.overloaded:
            over += 1
        else:
            hist = latency.merge_histograms(latency.decode(e.hdr) for e in rep.endpoints if e.hdr)
            values.append(latency.percentiles(hist, [percentile])[percentile])
        out[rep.variant] = (values, over)
    return out


def contradiction(found: stats.Estimate, metric: str, bound_ms: float,
                  measured: list[tuple[float, openload.VariantLatency]]) -> str:  # fmt: skip
    """What an independent measurement of the same variant says against its found rate: the
    equal-load phase's windows (same shape, other repetitions) at a rate above the whole found
    interval whose percentile interval lies wholly within the objective (the search
    underestimates), or at a rate below it that was missed — percentile interval wholly above
    the objective, or the rate not kept (an overloaded window's latency is a lower bound). ""
    when a comparison was made and none contradicts; ``NOT_CHECKED`` when none could be made
    (no 95 % interval on the found rate, or no equal-load figure outside it to hold against
    it). The first contradiction found is reported; the checks are not corrected for their
    number."""
    if not found.is_ci:
        return NOT_CHECKED
    checked = False
    for rate, v in measured:
        if rate < found.low and v.overloaded:
            return f"equal load could not keep {rate:,.0f} req/s, below it"
        est = v.percentiles.get(metric)
        if est is None or not est.is_ci or not v.kept_up or found.low <= rate <= found.high:
            continue
        checked = True
        shown = f"{metric.replace('_', '.')} {est.value:.1f} ms [{est.low:.1f}–{est.high:.1f}]"
        if rate > found.high and est.high <= bound_ms:
            return f"equal load kept {shown} at {rate:,.0f} req/s, above it"
        if rate < found.low and est.low > bound_ms:
            return f"equal load missed it at {rate:,.0f} req/s, below it ({shown})"
    return "" if checked else NOT_CHECKED


def _windows(run_dir: Path) -> tuple[float, float] | None:
    """(warm-up, measured) seconds of a sub-run's windows; None when it cannot be read."""
    try:
        cfg = load_run(run_dir).record.config
    except RunDirectoryError:
        return None
    return (float(cfg.warmup_s), float(cfg.duration_s))


def _equal_load(run_dir: Path, record: RunRecord) -> dict[str, list[tuple[float, openload.VariantLatency]]]:  # fmt: skip
    """variant → [(rate, its equal-load figures)], from the phases whose windows have the
    search's shape only (a percentile depends on its window's length)."""
    search = _windows(run_dir / SEARCH_DIR)
    if search is None or record.equal_load is None:
        return {}
    rates, _ = openload.equal_load(run_dir, record)
    shaped = {
        phase.directory
        for phase in record.equal_load.phases
        if _windows(run_dir / phase.directory) == search
    }
    out: dict[str, list[tuple[float, openload.VariantLatency]]] = {}
    for at in rates:
        if at.directory in shaped:
            for v in at.variants:
                out.setdefault(v.variant, []).append((at.rate, v))
    return out


def swing(steps: list[tuple[float, bool]]) -> tuple[float, float] | None:
    """A rate that failed below one that passed, among one variant's search steps (rate,
    passed; overloaded steps left out): (lowest failed, highest passed above it), or None
    when pass/fail rose monotonically with the rate. A percentile that misses at a lower rate
    and keeps at a higher one swings between windows by more than the rate moves it (in
    these services: a full garbage collection in the window or not), so one short window's
    verdict, and three confirming windows, say less than their intervals suggest."""
    failed = sorted(r for r, ok in steps if not ok)
    for low in failed:
        above = [r for r, ok in steps if ok and r > low]
        if above:
            return low, max(above)
    return None


def _rate(est: stats.Estimate) -> str:
    if not math.isfinite(est.value):
        return "–"
    if est.is_ci:
        return f"{est.value:,.0f} req/s [95 % CI {est.low:,.0f}–{est.high:,.0f}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f"{est.value:,.0f} req/s [range of 2: {est.low:,.0f}–{est.high:,.0f}]"
    return f"{est.value:,.0f} req/s (n = {est.n}, no interval)"


def slo_answer(run_dir: Path, record: RunRecord) -> SloAnswer | None:
    """The SLO capacity of every variant of a run that searched for it; None otherwise."""
    section = record.slo
    if section is None:
        return None
    what = _objective_text(float(section.percentile), float(section.bound_ms))
    if section.skipped:
        return SloAnswer(section.objective, (), (), f"Capacity at {what} not measured: "
                         f"{section.skipped}.")  # fmt: skip
    confirmed = _confirmations(run_dir, float(section.percentile))
    found = {v: [float(r) for r in rates] for v, rates in section.found.items() if rates}
    metric = {50.0: "p50", 95.0: "p95", 99.0: "p99", 99.9: "p99_9"}.get(float(section.percentile))
    at_equal_load = _equal_load(run_dir, record) if metric else {}
    variants = []
    for name, rates in found.items():
        values, over = confirmed.get(name, ([], 0))
        # A search that found nothing (0: no rate down to 2 % of the capacity kept the
        # objective) has no rate to average: the others are shown, and the variant is no answer.
        kept = [r for r in rates if r > 0]
        rate = stats.interval(kept) if kept else stats.Estimate(0.0, 0.0, 0.0, 0, stats.NONE)
        against = contradiction(rate, metric or "", float(section.bound_ms),
                                at_equal_load.get(name, []))  # fmt: skip
        variants.append(VariantSlo(name, rate, stats.interval(values), over,
                                   len(values) + over, float(section.bound_ms), against,
                                   len(rates) - len(kept)))  # fmt: skip
    ratios = []
    whole = [v for v in variants if v.searches_empty == 0]
    if len(whole) > 1 and whole[0] is variants[0]:
        ref = variants[0].variant
        for v in whole[1:]:
            est, p = stats.ratio_interval(found[v.variant], found[ref])
            ratios.append((v.variant, ref, est, p))
    parts = []
    for v in variants:
        if v.searches_empty == len(found[v.variant]):
            parts.append(f"{v.variant} kept {what} at none of the rates tried (down to 2 % of "
                         f"its capacity, in each of {v.searches_empty} searches): no answer")  # fmt: skip
            continue
        text = f"{v.variant} holds {_rate(v.rate)}"
        swung = swing([(float(st.rate), bool(st.passed)) for st in section.steps
                       if st.variant == v.variant and not st.overloaded])  # fmt: skip
        if swung:
            text += (f" (p{section.percentile:g} swings between windows: "
                     f"{swung[0]:,.0f} req/s missed, {swung[1]:,.0f} kept)")  # fmt: skip
        if v.searches_empty:
            text += (f" (found in {len(found[v.variant]) - v.searches_empty} of "
                     f"{len(found[v.variant])} searches: not repeatable, no answer)")  # fmt: skip
        if v.confirmed_n:
            verdict = v.verdict if v.verdict != NOT_CONFIRMED else f"{v.verdict}: {what} not shown"
            text += f" ({verdict} at that rate: p{section.percentile:g} "
            text += (
                f"{v.confirmed_ms.value:.1f} ms" + (
                    f" [{v.confirmed_ms.low:.1f}–{v.confirmed_ms.high:.1f}]"
                    if v.confirmed_ms.is_ci else "")
                if math.isfinite(v.confirmed_ms.value) else "–"
            )  # fmt: skip
            text += f", {v.confirmed_overloaded} of {v.confirmed_n} windows overloaded)"
        elif not v.searches_empty:
            text += " (NOT confirmed: no valid confirming window)"
        if record.equal_load is None:
            pass  # no equal-load phase: nothing to say about one
        elif v.contradicted == NOT_CHECKED:
            text += "; not checkable against the equal-load phase"
        elif v.contradicted:
            text += f"; contradicted: {v.contradicted}"
        else:
            text += "; consistent with the equal-load phase"
        parts.append(text)
    sentence = f"Capacity at {what} (open model, {len(next(iter(found.values()), []))} searches " \
        "per variant, interleaved): " + "; ".join(parts)  # fmt: skip
    for variant, ref, est, _p in ratios:
        shown = f"{est.value:.2f}×"
        if est.is_ci:
            shown += f" [95 % CI {est.low:.2f}–{est.high:.2f}]"
        elif est.method == stats.RANGE and stats.has_interval(est):
            shown += f" [range of 2: {est.low:.2f}–{est.high:.2f}]"
        why = [
            f"{v.variant} {v.why_not}"
            for v in variants
            if v.variant in (variant, ref) and v.why_not
        ]
        if why:
            shown += f", not an answer: {'; '.join(why)}"
        sentence += f"; ratio {variant}/{ref} {shown}"
    return SloAnswer(section.objective, tuple(variants), tuple(ratios), sentence + ".")
