"""Baselines: the per-repetition figures of one run, kept so later runs can be judged against it.

A CI gate needs more than medians: whether a change is real depends on the spread between
repetitions, so a baseline keeps every repetition's value per variant × endpoint × metric,
plus the settings that produced them. Figures are only comparable under the same settings
(profile, scenario, mode, users, durations, variants, machine class), so :func:`require_same_settings`
refuses a baseline taken under different ones instead of producing a meaningless verdict.
Package versions are recorded but do not refuse: a dependency bump is exactly the kind of
change the gate should measure.

File: ``results/baselines/<name>.json`` (format_version 1)::

    {"format_version": 1, "name": "ci", "created_at": "...", "run_id": "...", "git_sha": "...",
     "settings": {"profile": "ci", "scenario": "chat", ...},
     "versions": {"python": "3.11.7", "django": "5.2", ...},
     "excluded": [{"variant": "django", "repetition": 2, "reason": "loadgen saturated"}],
     "values": {"django": {"ALL": {"rps": [812.1, 799.4, 805.0, 811.3], ...}, ...}, ...},
     "control": {"metric": "ops_per_s", "repetitions": {"1": 5210.4, "2": 5187.9, ...}},
     "normalised": {"django": {"ALL": {"rps": [0.156, 0.154, ...], ...}, ...}, ...}}

Normalised figures (``control``, ``normalised``; both optional, a baseline without them still
loads and its normalised figures are "not available"): every run measures a fixed control
probe once per repetition round (``chatbench.control``: operations per second of a fixed
primary-key SELECT loop on the service CPUs). Each repetition's figure is expressed relative
to the probe of its own round — throughput divided by the probe's ops/s (requests per probe
operation), latency multiplied by it (the latency in probe-operation times) — so a runner that
is uniformly slower moves the control and the service alike and the normalised figure stays.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbench.config import REPO_ROOT
from chatbench.errors import UsageError

FORMAT_VERSION = 1
BASELINES_DIR = REPO_ROOT / "results" / "baselines"
DEFAULT_BASELINE = BASELINES_DIR / "ci.json"
# What a baseline keeps (the gate judges a subset, see chatbench.check).
STORED_METRICS = ("rps", "p50", "p95", "p99", "error_rate", "req_per_cpu_s")
# Settings that must be equal for two runs' figures to be comparable.
SETTINGS_KEYS = (
    "profile", "scenario", "mode", "users", "duration_s", "warmup_s", "variants", "machine_class",
)  # fmt: skip

# variant → endpoint → metric → one value per (valid) repetition
Values = dict[str, dict[str, dict[str, list[float]]]]
CONTROL_METRIC = "ops_per_s"  # the control figure metrics are normalised by
# How each metric is normalised by the control's ops/s; others (error_rate) are not.
NORMALISE_DIVIDE = frozenset({"rps", "req_per_cpu_s"})  # throughput: per probe operation
NORMALISE_MULTIPLY = frozenset({"p50", "p95", "p99", "max"})  # latency: in probe-op times


@dataclass(frozen=True)
class Summary:
    """Per-repetition figures of one run and the settings that produced them."""

    values: Values
    settings: dict[str, Any]
    run_id: str = ""
    git_sha: str | None = None
    versions: dict[str, str] = field(default_factory=dict)
    excluded: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # repetition → the control probe's ops/s in that repetition's round ({} = not measured)
    control: dict[int, float] = field(default_factory=dict)
    # ``values`` relative to the control (see the module docstring); None = not available
    normalised: Values | None = None
    # Parallel to ``values``: which repetition each value is, as "<run id>#<repetition>", so
    # two sides measured at the same time can be paired (``pair_up``). Not stored in files.
    keys: dict[str, dict[str, dict[str, list[str]]]] = field(default_factory=dict)

    def select(self, suffix: str) -> Summary:
        """Only the variants named ``X<suffix>``, renamed ``X`` (``fastapi@base`` → ``fastapi``).

        Raw figures only: the two sides of a same-runner A/B run shared the machine and the
        rounds, so normalising them by the control would add noise, not information."""
        values = {v[: -len(suffix)]: e for v, e in self.values.items() if v.endswith(suffix)}
        keys = {v[: -len(suffix)]: e for v, e in self.keys.items() if v.endswith(suffix)}
        excluded = [
            {**x, "variant": x["variant"][: -len(suffix)]}
            for x in self.excluded
            if str(x.get("variant", "")).endswith(suffix)
        ]
        return Summary(
            values,
            self.settings,
            self.run_id,
            self.git_sha,
            self.versions,
            excluded,
            self.warnings,
            keys=keys,
        )

    def medians(self) -> dict[str, dict[str, dict[str, float]]]:
        """variant → endpoint → metric → median over repetitions (for history and JSON)."""
        import numpy as np

        return {
            v: {
                e: {m: float(np.median(vals)) for m, vals in metrics.items() if vals}
                for e, metrics in endpoints.items()
            }
            for v, endpoints in self.values.items()
        }


def settings_of(meta: Mapping[str, Any]) -> dict[str, Any]:
    """The comparability-deciding settings of a run, from its meta.json."""
    from chatbench.metadata import machine_class

    cfg = meta.get("config", {})
    return {
        "profile": cfg.get("profile"),
        "scenario": cfg.get("scenario"),
        "mode": cfg.get("mode"),
        "users": cfg.get("users"),
        "duration_s": cfg.get("duration_s"),
        "warmup_s": cfg.get("warmup_s"),
        "repeat": cfg.get("repeat"),
        "variants": list(cfg.get("variants", [])),
        "machine_class": machine_class(meta.get("machine") or {}),
        "service_env": cfg.get("service_env") or {},
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


def control_of(meta: Mapping[str, Any]) -> dict[int, float]:
    """repetition → control ops/s, from a run's meta.json (failed probes left out)."""
    section = meta.get("control") or {}
    out = {}
    for entry in section.get("repetitions") or []:
        value = entry.get(CONTROL_METRIC) if isinstance(entry, Mapping) else None
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            out[int(entry.get("repetition", 0))] = float(value)
    return out


def from_run(run_dir: str | Path, metrics: Iterable[str] = STORED_METRICS) -> Summary:
    """Per-repetition figures of a finished run, without its invalid repetitions.

    A repetition whose load generator saturated (``meta.json`` ``invalid_repetitions``) is
    left out and listed in ``excluded``: its latencies measure Locust, not the service.
    """
    from chatbench import results

    run = results.load_run(run_dir)
    meta = run.meta
    wanted = set(metrics)
    excluded = list(meta.get("invalid_repetitions") or [])
    bad = {(x.get("variant"), int(x.get("repetition", 0))) for x in excluded}
    df = results.repetition_metrics(run)
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
    control = control_of(meta)
    fairness = meta.get("fairness") or {}
    warnings = [
        f"fairness rule {name} was violated in run {run.run_id}"
        for name in fairness.get("violated", [])
        if name != "loadgen_headroom"  # handled per repetition, through `excluded`
    ]
    return Summary(
        values=values,
        settings=settings_of(meta),
        run_id=run.run_id,
        git_sha=(meta.get("git") or {}).get("sha"),
        versions=dict(meta.get("versions") or {}),
        excluded=excluded,
        warnings=warnings,
        control=control,
        normalised=normalise(kept, control) if control else None,
        keys=keys,
    )


def save(summary: Summary, path: str | Path, *, name: str | None = None) -> Path:
    """Write ``summary`` as a baseline file (atomically)."""
    from chatbench.results import write_json_atomic

    path = Path(path)
    doc = {
        "format_version": FORMAT_VERSION,
        "name": name or path.stem,
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": summary.run_id,
        "git_sha": summary.git_sha,
        "settings": summary.settings,
        "versions": summary.versions,
        "excluded": summary.excluded,
        "values": summary.values,
        "control": {
            "metric": CONTROL_METRIC,
            "repetitions": {str(k): v for k, v in sorted(summary.control.items())},
        },
        "normalised": summary.normalised,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_json_atomic(path, doc)


def load(path: str | Path) -> Summary:
    """A baseline file; a missing, unreadable or malformed one is a usage error (exit 2)."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(
            f"Baseline {path} does not exist; create it with `chatbench check --update-baseline`."
        )
    try:
        doc = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"Baseline {path} is not valid JSON ({exc}).") from None
    problem = _shape_problem(doc)
    if problem:
        raise UsageError(f"Baseline {path} is malformed: {problem}.")
    return Summary(
        values=doc["values"],
        settings=doc["settings"],
        run_id=str(doc.get("run_id", "")),
        git_sha=doc.get("git_sha"),
        versions=dict(doc.get("versions") or {}),
        excluded=list(doc.get("excluded") or []),
        control={int(k): float(v) for k, v in _control_reps(doc).items()},
        normalised=doc.get("normalised") or None,
    )


def _control_reps(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return (doc.get("control") or {}).get("repetitions") or {}


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "the top level is not an object"
    if doc.get("format_version") != FORMAT_VERSION:
        return f"format_version is {doc.get('format_version')!r}, expected {FORMAT_VERSION}"
    if not isinstance(doc.get("settings"), dict):
        return "no settings object"
    values = doc.get("values")
    if not isinstance(values, dict) or not values:
        return "no values"
    control = doc.get("control")
    if control is not None:
        reps = control.get("repetitions") if isinstance(control, dict) else "not a map"
        if not isinstance(reps, dict | None) or not all(
            str(k).isdigit() and isinstance(v, int | float) and not isinstance(v, bool) and v > 0
            for k, v in (reps or {}).items()
        ):
            return "control is not a map of repetition numbers to positive ops/s"
    normalised = doc.get("normalised")
    if normalised is not None:
        problem = _values_problem(normalised, "normalised ")
        if problem:
            return problem
    return _values_problem(values, "")


def _values_problem(values: Any, what: str) -> str | None:
    if not isinstance(values, dict):
        return f"{what}values are not an object"
    for variant, endpoints in values.items():
        if not isinstance(endpoints, dict):
            return f"{what}values for {variant!r} are not an object"
        for endpoint, metrics in endpoints.items():
            if not isinstance(metrics, dict):
                return f"{what}values for {variant} {endpoint} are not an object"
            for metric, vals in metrics.items():
                if not isinstance(vals, list) or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) for x in vals
                ):
                    return f"{what}{variant} {endpoint} {metric} is not a list of numbers"
    return None


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
    """Refuse (exit 2) to judge a run against a baseline taken under other settings."""
    diffs = settings_differences(baseline.settings, candidate.settings)
    if diffs:
        raise UsageError(
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

    For a duet run (``chatbench.ab``): a pair is only a pair if both halves are valid.
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
