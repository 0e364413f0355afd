"""A run's per-repetition figures, as a baseline keeps them and the gate judges them.

:func:`from_run` reduces a run directory to a ``Summary`` (``chatbench.storing.baselines``):
every valid repetition's value per variant × endpoint × metric, the settings that decide
whether two runs are comparable, and the figures normalised by the run's own control probe
(``chatbench.measuring.control``): throughput divided by the probe's ops/s, latency multiplied
by it, each repetition by the probe of its own round. :func:`merge` pools the rounds of an A/B
check and :func:`pair_up` keeps the repetitions both sides of a duet measured together.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from chatbench.analysing.tables import repetition_metrics
from chatbench.errors import NotComparableError
from chatbench.storing import record as record_mod
from chatbench.storing.baselines import STORED_METRICS, Summary, Values
from chatbench.storing.rundir import load_run

# Settings that must be equal for two runs' figures to be comparable.
SETTINGS_KEYS = (
    "profile", "scenario", "mode", "users", "duration_s", "warmup_s", "variants", "machine_class",
)  # fmt: skip
# How each metric is normalised by the control's ops/s; others (error_rate) are not.
NORMALISE_DIVIDE = frozenset({"rps", "req_per_cpu_s"})  # throughput: per probe operation
NORMALISE_MULTIPLY = frozenset({"p50", "p95", "p99", "max"})  # latency: in probe-op times
NORMALISED_METRICS = NORMALISE_DIVIDE | NORMALISE_MULTIPLY


def settings_of(
    config: record_mod.ConfigRecord, machine: record_mod.MachineRecord
) -> dict[str, Any]:
    """The comparability-deciding settings of a run (its record's config and machine)."""
    return {
        "profile": config.profile,
        "scenario": config.scenario,
        "mode": config.mode,
        "users": config.users,
        "duration_s": config.duration_s,
        "warmup_s": config.warmup_s,
        "repeat": config.repeat,
        "variants": list(config.variants),
        "machine_class": machine.machine_class,
        "service_env": config.service_env or {},
    }


def normalise_value(metric: str, value: float, ops_per_s: float) -> float | None:
    """``value`` relative to the control's ``ops_per_s`` (None: the metric is not normalised)."""
    if metric in NORMALISE_DIVIDE:
        return value / ops_per_s
    if metric in NORMALISE_MULTIPLY:
        return value * ops_per_s / 1000.0  # ms × ops/s / 1000: latency in probe-op times
    return None


def normalise(
    rows: Iterable[tuple[str, str, str, int, float]], control: Mapping[int, float]
) -> Values:
    """Per-repetition ``(variant, endpoint, metric, repetition, value)`` rows → normalised
    values, each by the control of its own repetition (rows without one are left out)."""
    out: Values = {}
    for variant, endpoint, metric, repetition, value in rows:
        ops = control.get(int(repetition))
        if ops is None or not (math.isfinite(ops) and ops > 0) or not math.isfinite(value):
            continue
        norm = normalise_value(metric, value, ops)
        if norm is None:
            continue
        slot = out.setdefault(variant, {}).setdefault(endpoint, {})
        slot.setdefault(metric, []).append(norm)
    return out


def from_run(run_dir: str | Path, metrics: Iterable[str] = STORED_METRICS) -> Summary:
    """Per-repetition figures of a finished run, without its invalid repetitions.

    A repetition whose load generator saturated (``meta.json`` ``invalid_repetitions``) is
    left out and listed in ``excluded``: its latencies measure Locust, not the service.
    """
    run = load_run(run_dir)
    rec = run.record
    wanted = set(metrics)
    bad = rec.invalid
    df = repetition_metrics(run)
    values: Values = {}
    keys: dict[str, dict[str, dict[str, list[str]]]] = {}
    kept: list[tuple[str, str, str, int, float]] = []
    if not df.empty:
        df = df[df["metric"].isin(wanted)]
        for row in df.itertuples(index=False):
            if (row.variant, int(row.repetition)) in bad:
                continue
            value = float(row.value)
            if not math.isfinite(value):
                continue
            by_endpoint = values.setdefault(str(row.variant), {})
            by_endpoint.setdefault(str(row.endpoint), {}).setdefault(str(row.metric), []).append(
                value
            )
            key_slot = keys.setdefault(str(row.variant), {}).setdefault(str(row.endpoint), {})
            key_slot.setdefault(str(row.metric), []).append(f"{run.run_id}#{int(row.repetition)}")
            kept.append(
                (str(row.variant), str(row.endpoint), str(row.metric), int(row.repetition), value)
            )
    control = rec.control_ops()
    warnings = [
        f"fairness rule {name} was violated in run {run.run_id}"
        for name in rec.fairness.violated
        if name != "loadgen_headroom"  # handled per repetition, through `excluded`
    ]
    return Summary(
        values=values,
        settings=settings_of(rec.config, rec.machine),
        run_id=run.run_id,
        git_sha=rec.git.sha,
        versions=dict(rec.versions),
        excluded=list(rec.invalid_repetitions),
        warnings=warnings,
        control=control,
        normalised=normalise(kept, control) if control else None,
        keys=keys,
    )


def settings_differences(baseline: Mapping[str, Any], candidate: Mapping[str, Any]) -> list[str]:
    """``key: baseline value ≠ candidate value`` for every comparability-deciding setting."""
    out = []
    for key in SETTINGS_KEYS:
        a, b = baseline.get(key), candidate.get(key)
        if a != b:
            out.append(f"{key}: baseline {a!r}, this run {b!r}")
    return out


def require_same_settings(
    baseline: Summary, candidate: Summary, *, baseline_path: str | Path
) -> None:
    """Refuse (exit 3, not comparable) to judge a run against a baseline taken under other
    settings or on another machine class."""
    diffs = settings_differences(baseline.settings, candidate.settings)
    if diffs:
        raise NotComparableError(
            f"Baseline {baseline_path} was made with different settings ({'; '.join(diffs)}); "
            "refresh it with `chatbench check --update-baseline` or use a matching one."
        )


def version_differences(baseline: Summary, candidate: Summary) -> list[str]:
    """Package versions that differ (reported with the verdict, never refused)."""
    keys = sorted(set(baseline.versions) | set(candidate.versions))
    return [
        f"{k} {baseline.versions.get(k, '–')} → {candidate.versions.get(k, '–')}"
        for k in keys
        if baseline.versions.get(k) != candidate.versions.get(k)
    ]


def merge(summaries: list[Summary]) -> Summary:
    """Several runs' repetitions pooled (same settings assumed): values concatenated per
    variant × endpoint × metric, exclusions and warnings kept; named after the last run."""
    if not summaries:
        raise ValueError("merge needs at least one summary")
    values = _concat([s.values for s in summaries])
    last = summaries[-1]
    return Summary(
        values=values,
        settings=summaries[0].settings,
        run_id=last.run_id,
        git_sha=last.git_sha,
        versions=last.versions,
        excluded=[x for s in summaries for x in s.excluded],
        warnings=[w for s in summaries for w in s.warnings],
        # Repetition numbers repeat from run to run: the pooled control keeps no per-round map.
        normalised=(
            _concat([s.normalised for s in summaries if s.normalised is not None])
            if all(s.normalised is not None for s in summaries)
            else None
        ),
        keys=_concat([s.keys for s in summaries]),
    )


def pair_up(reference: Summary, candidate: Summary) -> tuple[Summary, Summary, int]:
    """Both sides reduced to the repetitions they share (same ``keys``), in one order, so
    ``values[i]`` of one and of the other were measured together; and how many values were
    dropped for want of a partner (a repetition excluded on one side only).

    For a duet run (``chatbench.workflows.ab``): a pair is only a pair if both halves are valid.
    """
    ref_values: Values = {}
    cand_values: Values = {}
    dropped = 0
    for variant, endpoints in reference.values.items():
        for endpoint, metrics in endpoints.items():
            for metric, vals in metrics.items():
                cand_vals = candidate.values.get(variant, {}).get(endpoint, {}).get(metric, [])
                ref_keys = _keys_of(reference, variant, endpoint, metric, len(vals))
                cand_keys = _keys_of(candidate, variant, endpoint, metric, len(cand_vals))
                theirs = dict(zip(cand_keys, cand_vals, strict=True))
                mine = dict(zip(ref_keys, vals, strict=True))
                shared = [k for k in ref_keys if k in theirs]
                dropped += len(mine) + len(theirs) - 2 * len(shared)
                r = ref_values.setdefault(variant, {}).setdefault(endpoint, {})
                c = cand_values.setdefault(variant, {}).setdefault(endpoint, {})
                r[metric] = [mine[k] for k in shared]
                c[metric] = [theirs[k] for k in shared]
    return (
        replace(reference, values=ref_values, normalised=None),
        replace(candidate, values=cand_values, normalised=None),
        dropped,
    )


def _keys_of(summary: Summary, variant: str, endpoint: str, metric: str, n: int) -> list[str]:
    """The repetition keys of one value list; by position when the summary has none (one built
    by hand, or loaded from a file)."""
    keys = summary.keys.get(variant, {}).get(endpoint, {}).get(metric, [])
    return list(keys) if len(keys) == n else [f"#{i}" for i in range(n)]


def _concat(many: list[Values]) -> Values:
    values: Values = {}
    for one in many:
        for variant, endpoints in one.items():
            for endpoint, metrics in endpoints.items():
                for metric, vals in metrics.items():
                    slot = values.setdefault(variant, {}).setdefault(endpoint, {})
                    slot.setdefault(metric, []).extend(vals)
    return values
