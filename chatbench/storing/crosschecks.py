"""Cross-check files: what ``chatbench crosscheck`` keeps, and which one a run cites.

One JSON file per cross-check (``CROSSCHECK_FORMAT_VERSION``, a format of its own):
configuration, every measured window of both tools, the per-variant agreement and the machine.
:func:`latest_for` finds the newest cross-check of a scenario under ``results/crosscheck/``,
which every run records (``meta.json`` ``crosscheck``) and its report names.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from chatbench.configuration.machine import machine_class
from chatbench.errors import UsageError
from chatbench.measuring.crosscheck import AGREEMENT, MIN_PAIRS, CrossCheckConfig, Measurement
from chatbench.storing.atomic import write_json_atomic

CROSSCHECK_FORMAT_VERSION = 1


@dataclass(frozen=True)
class Agreement:
    """Locust/wrk for one variant: per-pair ratios, their geometric mean and 95 % interval."""

    variant: str
    ratios: list[float]
    ratio: float
    low: float
    high: float
    n: int

    @property
    def agrees(self) -> bool:
        return (
            self.n >= MIN_PAIRS
            and math.isfinite(self.low)
            and self.low >= 1 - AGREEMENT
            and self.high <= 1 + AGREEMENT
        )

    def sentence(self) -> str:
        interval = (
            f"[{self.low:.3f}–{self.high:.3f}]" if math.isfinite(self.low) else "(no interval)"
        )
        verdict = "agree within ±5 %" if self.agrees else "do NOT agree within ±5 %"
        return f"{self.variant}: Locust/wrk {self.ratio:.3f} {interval}, n = {self.n}: {verdict}"


@dataclass(frozen=True)
class CrossCheckResult:
    config: CrossCheckConfig
    measurements: list[Measurement]
    agreements: list[Agreement]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def agrees(self) -> bool:
        return all(a.agrees for a in self.agreements)

    def to_json(self) -> dict[str, Any]:
        return {
            "format_version": CROSSCHECK_FORMAT_VERSION,
            "kind": "chatbench-crosscheck",
            "config": asdict(self.config) | {"database_url": None},
            "meta": self.meta,
            "agreement_bound": AGREEMENT,
            "agrees": self.agrees,
            "agreements": [asdict(a) | {"agrees": a.agrees} for a in self.agreements],
            "measurements": [asdict(m) for m in self.measurements],
        }


def write(result: CrossCheckResult, out_dir: Path) -> Path:
    """``out_dir/crosscheck-<scenario>-<UTC time>.json``, written atomically."""
    stamp = result.meta.get("started", "").replace(":", "").replace("-", "")[:15]
    path = out_dir / f"crosscheck-{result.config.scenario}-{stamp}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, result.to_json())
    return path


def load(path: Path) -> dict[str, Any]:
    """A cross-check file, refused with one sentence when it is not one we can read."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path} is not a readable cross-check file ({exc}).") from None
    if (
        data.get("kind") != "chatbench-crosscheck"
        or data.get("format_version") != CROSSCHECK_FORMAT_VERSION
    ):
        raise UsageError(
            f"{path} is not a chatbench cross-check of format version {CROSSCHECK_FORMAT_VERSION}."
        )
    return data


def latest_for(
    directory: Path, scenario: str, variants: list[str], machine: str | None = None
) -> dict[str, Any] | None:
    """What a run cites: the newest cross-check in ``directory`` of ``scenario`` made with the
    variants' and the load generator's default configuration (no ``service_env``, no
    ``normal_priority``), one made on ``machine`` (``machine.machine_class``: CPU model and
    count) before any made elsewhere, with every one of ``variants`` that it covers, as
    {file, started, git sha, machine, per-variant agreement}: a Locust/wrk ratio measured on
    another CPU need not hold on this one, so the citation names where it was measured."""
    best: tuple[tuple[bool, str], Path, dict[str, Any]] | None = None
    for path in sorted(directory.glob("crosscheck-*.json")) if directory.is_dir() else []:
        try:
            data = load(path)
        except UsageError:
            continue
        config = data["config"]
        if (
            config["scenario"] != scenario
            or config.get("service_env")
            or config.get("normal_priority")
        ):
            continue
        started = str(data.get("meta", {}).get("started", ""))
        rank = (machine is not None and _machine_of(data) == machine, started)
        if best is None or rank > best[0]:
            best = (rank, path, data)
    if best is None:
        return None
    (_, started), path, data = best
    covered = {a["variant"]: a for a in data["agreements"]}
    return {
        "file": path.name,
        "started": started,
        "git_sha": (data.get("meta", {}).get("git") or {}).get("sha"),
        "machine": _machine_of(data),
        "scenario": scenario,
        "variants": {v: covered[v] for v in variants if v in covered},
        "not_covered": [v for v in variants if v not in covered],
    }


def _machine_of(data: dict[str, Any]) -> str | None:
    info = data.get("meta", {}).get("machine")
    return machine_class(info) if info else None


# -- the open-model cross-check (``chatbench crosscheck --open-model``) ------------------------

OPEN_KIND = "chatbench-open-crosscheck"
OPEN_FORMAT_VERSION = 1


def write_open(doc: dict[str, Any], out_dir: Path) -> Path:
    """``out_dir/openmodel-<scenario>-<UTC time>.json`` (a format of its own, ``OPEN_KIND``):
    what an open-model cross-check run found, written atomically."""
    stamp = str(doc.get("started", "")).replace(":", "").replace("-", "")[:15]
    path = out_dir / f"openmodel-{doc['scenario']}-{stamp}.json"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"kind": OPEN_KIND, "format_version": OPEN_FORMAT_VERSION, **doc})
    return path


def latest_open_for(directory: Path, scenario: str, variants: list[str]) -> dict[str, Any] | None:
    """The newest open-model cross-check of ``scenario`` covering every one of ``variants``
    (None: none is committed), as a run cites it: file, started, its sentence, its verdicts."""
    best: tuple[str, Path, dict[str, Any]] | None = None
    for path in sorted(directory.glob("openmodel-*.json")) if directory.is_dir() else []:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("kind") != OPEN_KIND or data.get("format_version") != OPEN_FORMAT_VERSION:
            continue
        if data.get("scenario") != scenario or not set(variants) <= set(data.get("variants", [])):
            continue
        started = str(data.get("started", ""))
        if best is None or started > best[0]:
            best = (started, path, data)
    if best is None:
        return None
    started, path, data = best
    return {
        "file": path.name,
        "started": started,
        "sentence": data.get("sentence", ""),
        "agrees": bool(data.get("agrees")),
        "run_id": data.get("run_id"),
    }
