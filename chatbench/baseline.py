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
     "values": {"django": {"ALL": {"rps": [812.1, 799.4, 805.0, 811.3], ...}, ...}, ...}}
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

    def select(self, suffix: str) -> Summary:
        """Only the variants named ``X<suffix>``, renamed ``X`` (``fastapi@base`` → ``fastapi``)."""
        values = {v[: -len(suffix)]: e for v, e in self.values.items() if v.endswith(suffix)}
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
    )


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
    for variant, endpoints in values.items():
        if not isinstance(endpoints, dict):
            return f"values for {variant!r} are not an object"
        for endpoint, metrics in endpoints.items():
            if not isinstance(metrics, dict):
                return f"values for {variant} {endpoint} are not an object"
            for metric, vals in metrics.items():
                if not isinstance(vals, list) or not all(
                    isinstance(x, int | float) and not isinstance(x, bool) for x in vals
                ):
                    return f"{variant} {endpoint} {metric} is not a list of numbers"
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
    values: Values = {}
    for s in summaries:
        for variant, endpoints in s.values.items():
            for endpoint, metrics in endpoints.items():
                for metric, vals in metrics.items():
                    slot = values.setdefault(variant, {}).setdefault(endpoint, {})
                    slot.setdefault(metric, []).extend(vals)
    last = summaries[-1]
    return Summary(
        values=values,
        settings=summaries[0].settings,
        run_id=last.run_id,
        git_sha=last.git_sha,
        versions=last.versions,
        excluded=[x for s in summaries for x in s.excluded],
        warnings=[w for s in summaries for w in s.warnings],
    )
