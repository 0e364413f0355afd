"""Compare two runs: per variant × endpoint × metric, the change with its interval and a verdict.

Run A is the base, run B the candidate. For every variant and endpoint present in both runs
(endpoint ``ALL`` = every endpoint merged) and every metric in ``COMPARED_METRICS``:

**Samples.** The per-repetition values, the same numbers the report's summary is made of.
Repetitions are the only samples: seconds inside a repetition are autocorrelated, so a run
with fewer than ``MIN_REPETITIONS`` (2) repetitions of a compared variant is refused with one
sentence (``UsageError``, exit 2) instead of being judged on its seconds.

**Change.** ``change = B / A − 1``, where A and B are the geometric means over repetitions
(the summary's values, ``stats.interval``). Its interval and p come from one method,
``stats.ratio_interval`` (``welch-t-log``): Welch's t-test on the log values, whose difference
of log means is the log of the ratio. How many repetitions a side decides what is shown:

* 3 or more a side: the 95 % confidence interval; ``tests/analysing/test_coverage.py`` measures its
  coverage and this rule's false "significant" rate under no change by simulation.
* 2 on a side: the range of the ratios of one side's values to the other's, labelled a range
  and **not judged** (``Verdict.NOT_JUDGED``): with 2 vs 2, two runs of the same code fall
  apart by chance far more often than one time in twenty.

**Significant** (``stats.compare_values``, the same rule as the stored-baseline gate) = a real
95 % interval (3+ repetitions a side), Welch's p < 0.05, **and** ``|change|`` at least
``DEFAULT_THRESHOLD`` (5 %, a difference a performance engineer would act on). The direction
comes from the metric: higher is better for throughput and requests per CPU-second, lower for
latencies. Comparing a run with itself gives change 0: no significant change (or not judged).

**Invalid repetitions.** Repetitions a run's ``meta.json`` lists in ``invalid_repetitions``
(a saturated load generator: those figures measure Locust, not the service) are left out, as
``chatbench check`` does, and each one is named in the notes; a variant left with fewer than 2
valid repetitions on a side is not compared, and the notes say why.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from chatbench.analysing import stats
from chatbench.analysing.stats import ALPHA, MIN_CI_N, Verdict
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.errors import UsageError
from chatbench.storing.rundir import Run, load_run
from loadtests.arrivals import words as arrival_words

DEFAULT_THRESHOLD = 0.05
MIN_REPETITIONS = 2
COMPARED_METRICS = ("rps", "p50", "p95", "p99", "req_per_cpu_s")


@dataclass(frozen=True)
class Change:
    """One variant × endpoint × metric: base and new figures and the relative change.

    ``base``/``new`` are geometric means over repetitions; ``ci_low``/``ci_high`` bound the
    change (ratio − 1) by ``interval``'s method: a 95 % CI (``welch-t-log``), a ``range`` of
    2, or NaN (``none``)."""

    variant: str
    endpoint: str
    metric: str
    base: float
    new: float
    change: float  # new / base - 1
    ci_low: float
    ci_high: float
    n_base: int
    n_new: int
    p_value: float
    interval: str
    verdict: Verdict

    @property
    def significant(self) -> bool:
        return self.verdict in (Verdict.FASTER, Verdict.SLOWER)

    @property
    def judged(self) -> bool:
        return self.verdict is not Verdict.NOT_JUDGED


@dataclass(frozen=True)
class Comparison:
    """Everything ``compare`` found; ``presenting.comparison`` renders it."""

    run_a: str
    run_b: str
    path_a: str
    path_b: str
    threshold: float
    changes: tuple[Change, ...]
    notes: tuple[str, ...] = field(default=())

    @property
    def regressions(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == Verdict.SLOWER)

    @property
    def improvements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.verdict == Verdict.FASTER)

    @property
    def not_judged(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.judged)


# --------------------------------------------------------------------------- samples


class _Samples:
    """Per-repetition values of one run, computed once."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.reps = repetition_metrics(run)
        self.n_reps = repetition_counts(run)

    def per_repetition(self, variant: str, endpoint: str, metric: str) -> np.ndarray:
        r = self.reps
        hit = r[(r["variant"] == variant) & (r["endpoint"] == endpoint) & (r["metric"] == metric)]
        return _finite(hit["value"])


def _finite(values: pd.Series) -> np.ndarray:
    arr = values.to_numpy(dtype=float)
    return arr[np.isfinite(arr)]


def repetition_counts(run: Run) -> dict[str, int]:
    """variant → how many repetitions of it the run holds."""
    return {v: len({r.repetition for r in run.repetitions if r.variant == v}) for v in run.variants}


def require_repetitions(run_a: Run, run_b: Run) -> None:
    """Refuse (``UsageError``, exit 2) a compared variant with fewer than ``MIN_REPETITIONS``
    repetitions in either run: one repetition has no spread between repetitions to judge
    against, and its seconds are autocorrelated, not independent samples."""
    shared = [v for v in run_a.variants if v in run_b.variants]
    for run in (run_a, run_b):
        counts = repetition_counts(run)
        for variant in shared:
            if counts[variant] < MIN_REPETITIONS:
                raise UsageError(
                    f"{run.run_id} has {counts[variant]} repetition(s) of {variant}, and "
                    f"compare needs at least {MIN_REPETITIONS} of each variant on both sides "
                    "(seconds inside one repetition are not independent samples): rerun it "
                    "with --repeat 3 or more."
                )


def compare_samples(
    xa: np.ndarray,
    xb: np.ndarray,
    *,
    metric: str,
    threshold: float = DEFAULT_THRESHOLD,
) -> tuple[float, float, stats.Estimate, float, Verdict]:
    """``(base, new, ratio new/base, p, verdict)`` for two runs' repetition values of one
    metric: the rule of the module docstring (``stats.compare_values``)."""
    base = stats.interval(xa).value
    new = stats.interval(xb).value
    ratio, p, verdict = stats.compare_values(
        xa, xb, metric=metric, alpha=ALPHA, min_effect=threshold
    )
    return base, new, ratio, p, verdict


# --------------------------------------------------------------------------- compare


def _notes(a: Run, b: Run) -> list[str]:
    notes = []
    for attr in ("scenario", "mode"):
        va, vb = getattr(a, attr), getattr(b, attr)
        if va != vb:
            notes.append(f"The runs differ in {attr} ({va} vs {vb}): changes mix both effects.")
    for key in ("users", "rate", "duration_s"):
        va, vb = getattr(a.config, key), getattr(b.config, key)
        if va != vb:
            notes.append(f"The runs differ in {key} ({va} vs {vb}).")
    open_model = any(r.mode == "rate" or r.config.equal_load or r.config.slo for r in (a, b))
    sent_a, sent_b = arrival_words(a.config.arrivals), arrival_words(b.config.arrivals)
    if open_model and sent_a != sent_b:
        notes.append(
            f"The runs' open-model sends differ ({sent_a} vs {sent_b}): their tails are not "
            "comparable."
        )
    only_a = sorted(set(a.variants) - set(b.variants))
    only_b = sorted(set(b.variants) - set(a.variants))
    if only_a:
        notes.append(f"Only in {a.run_id}: {', '.join(only_a)} (not compared).")
    if only_b:
        notes.append(f"Only in {b.run_id}: {', '.join(only_b)} (not compared).")
    for run in (a, b):
        if run.status != "complete":
            notes.append(f"{run.run_id} is {run.status!r}, not 'complete'.")
    return notes


def _too_few(a: _Samples, b: _Samples, variants: Sequence[str]) -> tuple[list[str], list[str]]:
    """(variants with too few valid repetitions to compare, the notes saying so)."""
    skipped, notes = [], []
    for variant in variants:
        for side in (a, b):
            k = side.n_reps.get(variant, 0)
            if 0 < k < MIN_REPETITIONS:
                skipped.append(variant)
                notes.append(
                    f"{side.run.run_id}: {variant} has {k} valid repetition(s) left, fewer "
                    f"than {MIN_REPETITIONS}, so it is not compared."
                )
                break
    return skipped, notes


def compare_loaded(run_a: Run, run_b: Run, *, threshold: float = DEFAULT_THRESHOLD) -> Comparison:
    """``compare_runs`` on already loaded runs (without their invalid repetitions)."""
    require_repetitions(run_a, run_b)
    same = run_a is run_b or run_a.path == run_b.path
    run_a, excluded_a = without_invalid(run_a)
    run_b, excluded_b = (run_a, []) if same else without_invalid(run_b)
    a, b = _Samples(run_a), _Samples(run_b)
    shared = [v for v in run_a.variants if v in run_b.variants]
    skipped, few_notes = _too_few(a, b, shared)
    changes = []
    for variant in [v for v in shared if v not in skipped]:
        endpoints = [e for e in run_a.endpoints if e in run_b.endpoints] + [ALL]
        for endpoint in endpoints:
            for metric in COMPARED_METRICS:
                xa = a.per_repetition(variant, endpoint, metric)
                xb = b.per_repetition(variant, endpoint, metric)
                if xa.size == 0 or xb.size == 0:
                    continue  # e.g. req_per_cpu_s exists only for ALL
                base, new, ratio, p, verdict = compare_samples(
                    xa, xb, metric=metric, threshold=threshold
                )
                changes.append(
                    Change(
                        variant=variant,
                        endpoint=endpoint,
                        metric=metric,
                        base=base,
                        new=new,
                        change=ratio.value - 1,
                        ci_low=ratio.low - 1,
                        ci_high=ratio.high - 1,
                        n_base=int(xa.size),
                        n_new=int(xb.size),
                        p_value=p,
                        interval=ratio.method,
                        verdict=verdict,
                    )
                )
    notes = [*excluded_a, *excluded_b, *few_notes, *_notes(run_a, run_b)]
    if any(not c.judged for c in changes):
        notes.append(
            f"Fewer than {MIN_CI_N} repetitions on a side: those changes show the range of the "
            "ratios and are not judged; rerun with --repeat 3 or more (5 recommended) for a "
            "95 % CI and a verdict."
        )
    return Comparison(
        run_a=run_a.run_id,
        run_b=run_b.run_id,
        path_a=str(run_a.path),
        path_b=str(run_b.path),
        threshold=threshold,
        changes=tuple(changes),
        notes=tuple(notes),
    )


def compare_runs(
    run_a: str | os.PathLike[str],
    run_b: str | os.PathLike[str],
    *,
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparison:
    """Compare run directory B (candidate) against A (base); see the module docstring."""
    return compare_loaded(load_run(run_a), load_run(run_b), threshold=threshold)
