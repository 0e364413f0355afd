"""Do two load generators give the same tails? The open-model cross-check, judged.

``--open-crosscheck`` (``workflows.phases.crosscheck``) measured each of its targets — the
equal-load rates, and each variant's found SLO rate and the rate 10–15 % above it — in pairs of
windows back to back on the same live service: one by Locust (the target's sub-run,
repetition = pair) and one by an open-model generator that is not Locust (``load.openmodel``;
the run record's ``open_crosscheck.windows``), in the same window length, alternating which
goes first. Per target, variant and percentile (p50, p99) the pairs give ratios
independent/Locust, over the windows of both that can hold the percentile
(``analysing.tails``); their geometric mean with the paired t interval on the logs
(``stats.paired_ratio``) is judged:

* **agree**: the 95 % interval lies within ±``AGREEMENT`` (15 %);
* **differ**: it lies wholly outside that band: the instruments measure different tails, and
  the answer is widened to cover the independent reading (``widened``);
* **undecided**: neither (its interval is wider than the band; not called agreement).

For the SLO targets, every window of either generator also has an outcome for the objective
(``tails.outcome``); ``analysing.slo`` weighs them with the search's windows, so an independent
window that misses where Locust kept moves the answer's bracket, or makes it a swing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import stats, tails
from chatbench.analysing.tables import repetition_metrics
from chatbench.configuration.endpoints import ALL
from chatbench.load import latency
from chatbench.storing.record import (
    CrossCheckTarget,
    IndependentWindowRecord,
    PauseRecord,
    RunRecord,
)
from chatbench.storing.rundir import RunDirectoryError, load_run

AGREEMENT = 0.15
COMPARED = ("p50", "p99")
AGREE, DIFFER, UNDECIDED, NOT_MEASURED = "agree", "differ", "undecided", "not measured"


@dataclass(frozen=True)
class GeneratorWindow:
    """One window of either generator at a cross-check target."""

    variant: str
    pair: int
    generator: str  # "locust" | "independent"
    rate: float
    values: dict[str, float]  # metric (p50 … p99_9, and the objective's "slo") -> ms
    overloaded: bool
    requests: int
    span_s: float
    pauses: PauseRecord | None

    def holds(self, percentile: float) -> tails.Holding:
        return tails.holds(percentile, tails.facts(self.requests, self.span_s, self.pauses))


@dataclass(frozen=True)
class ToolAgreement:
    """Independent/Locust for one target, variant and percentile."""

    variant: str
    label: str
    rate: float
    metric: str
    ratio: stats.Estimate
    pairs: int  # pairs whose both windows could hold the percentile

    @property
    def verdict(self) -> str:
        r = self.ratio
        if not math.isfinite(r.value):
            return NOT_MEASURED
        if r.is_ci and r.low >= 1 - AGREEMENT and r.high <= 1 + AGREEMENT:
            return AGREE
        if r.is_ci and (r.low > 1 + AGREEMENT or r.high < 1 - AGREEMENT):
            return DIFFER
        return UNDECIDED

    def text(self) -> str:
        name = tails.label(tails.NAMED[self.metric])
        r = self.ratio
        if self.verdict == NOT_MEASURED:
            return f"{name} not measured by both"
        bounds = f" [{r.low:.2f}–{r.high:.2f}]" if r.is_ci else f" (n = {r.n}, no interval)"
        return f"{name} {r.value:.2f}×{bounds}: {self.verdict}"


def _locust_windows(run_dir: Path, target: CrossCheckTarget, percentile: float | None) -> list[GeneratorWindow]:  # fmt: skip
    try:
        run = load_run(run_dir / target.directory)
    except RunDirectoryError:
        return []
    reps = repetition_metrics(run)
    if reps.empty:
        return []
    reps = reps[reps["endpoint"] == ALL]
    invalid = run.record.invalid
    out = []
    for rep in run.repetitions:
        if (rep.variant, rep.repetition) in invalid:
            continue
        mine = reps[(reps["variant"] == rep.variant) & (reps["repetition"] == rep.repetition)]
        values = {str(m): float(v) for m, v in zip(mine["metric"], mine["value"], strict=True)}
        if percentile is not None:
            doc_value = _percentile(
                run_dir / target.directory, rep.variant, rep.repetition, percentile
            )
            if doc_value is not None:
                values["slo"] = doc_value
        requests = sum(e.count - e.failures for e in rep.endpoints)
        pauses = run.record.evidence.pauses.get(f"{rep.variant}#{rep.repetition}")
        out.append(GeneratorWindow(rep.variant, rep.repetition, "locust", float(target.rate),
                                   values, rep.overloaded, requests, rep.duration_s, pauses))  # fmt: skip
    return out


def _percentile(sub_dir: Path, variant: str, rep: int, percentile: float) -> float | None:
    path = sub_dir / "raw" / variant / f"rep-{rep}" / "requests.json"
    try:
        doc = latency.read_requests(path)
    except latency.RequestsFileError:
        return None
    value = latency.percentiles(doc.all_endpoints_histogram(), [percentile])[percentile]
    return value if math.isfinite(value) else None


def _independent(w: IndependentWindowRecord) -> GeneratorWindow:
    values = {k: float(v) for k, v in w.values_ms.items() if v is not None}
    return GeneratorWindow(w.variant, w.pair, "independent", float(w.rate), values, w.overloaded,
                           w.requests, float(w.span_s), w.pauses)  # fmt: skip


def windows(run_dir: Path, record: RunRecord) -> dict[str, list[GeneratorWindow]]:
    """Every cross-check window of both generators, by target directory."""
    section = record.open_crosscheck
    if section is None:
        return {}
    percentile = float(record.slo.percentile) if record.slo is not None else None
    out: dict[str, list[GeneratorWindow]] = {}
    for target in section.targets:
        out[target.directory] = _locust_windows(run_dir, target, percentile)
    for w in section.windows:
        if not w.loadgen_problems:  # a generator that fell behind measured itself, as Locust's
            out.setdefault(w.target, []).append(_independent(w))
    return out


def agreements(run_dir: Path, record: RunRecord) -> list[ToolAgreement]:
    """Per target, variant and compared percentile, independent/Locust over the pairs."""
    section = record.open_crosscheck
    if section is None:
        return []
    seen = windows(run_dir, record)
    out = []
    for target in section.targets:
        mine = seen.get(target.directory, [])
        for variant in target.variants:
            for metric in COMPARED:
                q = tails.NAMED[metric]
                pairs: dict[int, dict[str, float]] = {}
                for w in mine:
                    if (
                        w.variant == variant
                        and not w.overloaded
                        and metric in w.values
                        and w.holds(q).ok
                    ):
                        pairs.setdefault(w.pair, {})[w.generator] = w.values[metric]
                both = [p for p in sorted(pairs) if len(pairs[p]) == 2]
                locust = [pairs[p]["locust"] for p in both]
                independent = [pairs[p]["independent"] for p in both]
                ratio, _ = stats.paired_ratio(locust, independent)
                out.append(
                    ToolAgreement(
                        variant, target.label, float(target.rate), metric, ratio, len(both)
                    )
                )
    return out


def sentence(record: RunRecord, found: list[ToolAgreement]) -> str:
    """``Open-model cross-check (…): at 406 req/s (equal load 70 %) django p50 1.04× [0.98–1.10]:
    agree, p99 …; …``; empty without one."""
    section = record.open_crosscheck
    if section is None:
        return ""
    if section.skipped:
        return f"Open-model cross-check not measured: {section.skipped}."
    parts = []
    for target in section.targets:
        here = [a for a in found if a.label == target.label and a.rate == float(target.rate)]
        for variant in target.variants:
            mine = [a for a in here if a.variant == variant]
            if mine:
                parts.append(
                    f"{variant} at {float(target.rate):,.0f} req/s ({target.label}): "
                    + ", ".join(a.text() for a in mine)
                )
    verdicts = {a.verdict for a in found}
    overall = (
        "the two generators agree within ±15 % on every compared percentile"
        if verdicts == {AGREE}
        else "the two generators are NOT shown to agree within ±15 % everywhere"
    )
    return (
        f"Open-model cross-check ({section.tool}; {section.pairs} interleaved pairs of windows "
        f"per rate, independent/Locust): {overall}; " + "; ".join(parts) + "."
    )


def widened(est: stats.Estimate, independent: list[float]) -> stats.Estimate:
    """``est`` with its interval stretched to cover the independent generator's values."""
    if not independent or not stats.has_interval(est):
        return est
    return stats.Estimate(est.value, min(est.low, *independent), max(est.high, *independent),
                          est.n, est.method)  # fmt: skip


def differing(found: list[ToolAgreement]) -> dict[tuple[str, float, str], ToolAgreement]:
    """(variant, rate, metric) → the agreement where the generators differ."""
    return {(a.variant, a.rate, a.metric): a for a in found if a.verdict == DIFFER}


def independent_values(run_dir: Path, record: RunRecord, variant: str, rate: float, metric: str) -> list[float]:  # fmt: skip
    """The independent generator's values of ``metric`` for ``variant`` at ``rate``, from the
    windows that kept the rate and can hold it."""
    q = tails.NAMED[metric]
    return [
        w.values[metric]
        for ws in windows(run_dir, record).values()
        for w in ws
        if w.generator == "independent" and w.variant == variant and w.rate == rate
        and not w.overloaded and metric in w.values and w.holds(q).ok
    ]  # fmt: skip


def slo_windows(run_dir: Path, record: RunRecord, variant: str) -> list[tuple[GeneratorWindow, tails.Holding]]:  # fmt: skip
    """Every cross-check window of ``variant`` with the objective's percentile, and whether it
    can hold it (for ``analysing.slo``)."""
    if record.slo is None:
        return []
    q = float(record.slo.percentile)
    return [
        (w, w.holds(q))
        for ws in windows(run_dir, record).values()
        for w in ws
        if w.variant == variant and ("slo" in w.values or w.overloaded)
    ]
