"""Baselines: the per-repetition figures of one run, kept so later runs can be judged against it.

A CI gate needs more than medians: whether a change is real depends on the spread between
repetitions, so a baseline keeps every repetition's value per variant × endpoint × metric,
plus the settings that produced them. Figures are only comparable under the same settings
(profile, scenario, mode, users, durations, variants, machine class), so :func:`require_same_settings`
refuses a baseline taken under different ones instead of producing a meaningless verdict.
Package versions are recorded but do not refuse: a dependency bump is exactly the kind of
change the gate should measure.

File: ``results/baselines/<name>.json`` (``BASELINE_FORMAT_VERSION``, a format of its own)::

    {"format_version": 1, "name": "ci", "created_at": "...", "run_id": "...", "git_sha": "...",
     "settings": {"profile": "ci", "scenario": "chat", ...},
     "versions": {"python": "3.11.7", "django": "5.2", ...},
     "excluded": [{"variant": "django", "repetition": 2, "reason": "loadgen saturated",
                   "loadgen_fault": true}],
     "values": {"django": {"ALL": {"rps": [812.1, 799.4, 805.0, 811.3], ...}, ...}, ...},
     "control": {"metric": "ops_per_s", "repetitions": {"1": 5210.4, "2": 5187.9, ...}},
     "normalised": {"django": {"ALL": {"rps": [0.156, 0.154, ...], ...}, ...}, ...}}

Normalised figures (``control``, ``normalised``; both optional, a baseline without them still
loads and its normalised figures are "not available"): every run measures a fixed control
probe once per repetition round (``chatbench.measuring.control``: operations per second of a fixed
primary-key SELECT loop on the service CPUs). Each repetition's figure is expressed relative
to the probe of its own round — throughput divided by the probe's ops/s (requests per probe
operation), latency multiplied by it (the latency in probe-operation times) — so a runner that
is uniformly slower moves the control and the service alike and the normalised figure stays.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from chatbench.configuration.paths import BASELINES_DIR
from chatbench.errors import UsageError
from chatbench.storing.atomic import write_json_atomic
from chatbench.storing.record import InvalidRepetition

BASELINE_FORMAT_VERSION = 1
# What a baseline keeps (the gate judges a subset, see chatbench.analysing.gate).
STORED_METRICS = ("rps", "p50", "p95", "p99", "error_rate", "req_per_cpu_s")
CONTROL_METRIC = "ops_per_s"  # the control figure metrics are normalised by
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
    excluded: list[InvalidRepetition] = field(default_factory=list)
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
            x.but(variant=x.variant[: -len(suffix)])
            for x in self.excluded
            if x.variant.endswith(suffix)
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
        return _medians(self.values)

    def normalised_medians(self) -> dict[str, dict[str, dict[str, float]]] | None:
        """The same for the control-normalised figures (None: the run has none)."""
        return None if self.normalised is None else _medians(self.normalised)


def _medians(values: Values) -> dict[str, dict[str, dict[str, float]]]:
    return {
        v: {
            e: {m: float(statistics.median(vals)) for m, vals in metrics.items() if vals}
            for e, metrics in endpoints.items()
        }
        for v, endpoints in values.items()
    }


def save(summary: Summary, path: str | Path, *, name: str | None = None) -> Path:
    """Write ``summary`` as a baseline file (atomically)."""
    path = Path(path)
    doc = {
        "format_version": BASELINE_FORMAT_VERSION,
        "name": name or path.stem,
        "created_at": datetime.now(UTC).isoformat(),
        "run_id": summary.run_id,
        "git_sha": summary.git_sha,
        "settings": summary.settings,
        "versions": summary.versions,
        "excluded": [x.dump() for x in summary.excluded],
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
        excluded=[InvalidRepetition.model_validate(x) for x in doc.get("excluded") or []],
        control={int(k): float(v) for k, v in _control_reps(doc).items()},
        normalised=doc.get("normalised") or None,
    )


def _control_reps(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    return (doc.get("control") or {}).get("repetitions") or {}


def _shape_problem(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return "the top level is not an object"
    if doc.get("format_version") != BASELINE_FORMAT_VERSION:
        return (
            f"format_version is {doc.get('format_version')!r}, expected {BASELINE_FORMAT_VERSION}"
        )
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
    excluded = doc.get("excluded") or []
    if not isinstance(excluded, list) or not all(
        isinstance(x, dict)
        and isinstance(x.get("variant"), str)
        and isinstance(x.get("repetition"), int)
        for x in excluded
    ):
        return "excluded is not a list of {variant, repetition, reason} objects"
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


# -- named baselines in results/baselines/ ----------------------------------------------------
# A baseline is what every later CI check is judged against, so a bad one does quiet damage
# for months: its name must be a plain file name (never a path that escapes the directory).

_SAFE_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


def validate_name(name: str) -> str:
    """The baseline name without a trailing ``.json``; a usage error unless it is a plain file
    name made of letters, digits, ``-``, ``_`` and ``.`` (not starting with a dot)."""
    stem = name.removesuffix(".json")
    if not _SAFE_NAME.fullmatch(stem) or len(stem) > 100:
        raise UsageError(
            f"Baseline name {name!r} is not a safe file name: use letters, digits, '-', '_' and "
            "'.' only (not starting with a dot, no path separators, at most 100 characters)."
        )
    return stem


def path_for(name: str, directory: Path = BASELINES_DIR) -> Path:
    """Where the baseline called ``name`` lives."""
    return Path(directory) / f"{validate_name(name)}.json"


def resolve(name_or_file: str, directory: Path = BASELINES_DIR) -> Path:
    """An existing file as given, else the named baseline in ``directory``."""
    as_file = Path(name_or_file)
    if as_file.is_file():
        return as_file
    if "/" in name_or_file:
        return as_file  # a path that does not exist: baseline.load says so
    return path_for(name_or_file, directory)


@dataclass(frozen=True)
class Description:
    """What a baseline holds, for ``chatbench baseline show``."""

    path: Path
    name: str
    created_at: str
    run_id: str
    git_sha: str | None
    settings: dict[str, Any]
    repetitions: dict[str, int]  # variant → valid repetitions kept
    endpoints: list[str]
    metrics: list[str]
    excluded: list[InvalidRepetition]


def describe(path: Path) -> Description:
    """Read and validate a baseline file (usage error if bad) and summarise what it holds."""
    summary = load(path)
    doc = json.loads(Path(path).read_text())
    endpoints = sorted({e for eps in summary.values.values() for e in eps})
    metrics = sorted({m for eps in summary.values.values() for ms in eps.values() for m in ms})
    repetitions = {
        v: max((len(vals) for ms in eps.values() for vals in ms.values()), default=0)
        for v, eps in summary.values.items()
    }
    return Description(
        path=Path(path),
        name=str(doc.get("name") or Path(path).stem),
        created_at=str(doc.get("created_at") or "unknown"),
        run_id=summary.run_id,
        git_sha=summary.git_sha,
        settings=summary.settings,
        repetitions=repetitions,
        endpoints=endpoints,
        metrics=metrics,
        excluded=summary.excluded,
    )
