"""A run directory on disk: its raw repetitions, its resource samples, and loading it back.

Layout and file formats are fixed by ``docs/interfaces.md``: ``meta.json`` (the run record,
``chatbench.storing.record``), ``samples.csv`` (resource samples), and per variant and
repetition ``raw/<variant>/rep-<k>/`` with our request listener's ``requests.json`` (exact
counts, HDR histograms in µs) next to Locust's own CSVs, which stay raw data and are never read
here (their last row is stale).
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from chatbench.configuration.endpoints import sort_key
from chatbench.configuration.settings import split_scenario
from chatbench.errors import UsageError
from chatbench.load import latency, openloop
from chatbench.load.openloop import RateVerdict
from chatbench.storing import record as record_mod
from chatbench.storing.atomic import write_text_atomic
from chatbench.storing.record import ConfigRecord, RunRecord

log = logging.getLogger(__name__)

SAMPLE_COLUMNS = (
    "variant",
    "repetition",
    "role",
    "t_s",
    "wall",
    "cpu_seconds",
    "cpu_percent",
    "rss_bytes",
    "processes",
    "threads",
)


class RunDirectoryError(UsageError):
    """The directory is not a (readable) chatbench run."""


@dataclass(frozen=True)
class EndpointData:
    endpoint: str
    count: int
    failures: int
    hdr: str


@dataclass(frozen=True)
class Repetition:
    """One variant × repetition: the request listener's ``requests.json``."""

    variant: str
    repetition: int
    path: Path
    measure_start: float
    measure_end: float
    duration_s: float
    successful_creates: int
    behind_schedule: int
    endpoints: tuple[EndpointData, ...]
    series: tuple[latency.SeriesRow, ...]
    users_series: tuple[tuple[int, int], ...]  # (second, users)
    # Rate mode only (``load.openloop``): the target, what was carried, and the verdict.
    rate: RateVerdict | None = None

    @property
    def overloaded(self) -> bool:
        """A rate-mode repetition that did not keep its rate: its latency is a lower bound."""
        return self.rate is not None and self.rate.overloaded


@dataclass(frozen=True, eq=False)
class Run:
    """A run directory, loaded: its record, its repetitions, its samples (None when
    samples.csv is absent)."""

    path: Path
    record: RunRecord
    repetitions: tuple[Repetition, ...]
    samples: pd.DataFrame | None = field(repr=False)

    @property
    def run_id(self) -> str:
        return self.record.run_id or self.path.name

    @property
    def config(self) -> ConfigRecord:
        return self.record.config

    @property
    def scenario(self) -> str:
        """The run's scenario; a suite run over several reads e.g. ``read+chat``."""
        return "+".join(self.scenarios)

    @property
    def scenarios(self) -> tuple[str, ...]:
        """Every scenario measured, in variant order (one unless a suite ran several)."""
        found = dict.fromkeys(self.variant_scenario(v) for v in self.variants)
        return tuple(found) or (self._config_scenario,)

    @property
    def _config_scenario(self) -> str:
        return self.config.scenario or "unknown"

    def variant_scenario(self, variant: str) -> str:
        """The scenario of one variant: its label's ``scenario=`` (suite runs over several
        scenarios), else the run's."""
        return split_scenario(variant)[1] or self._config_scenario

    @property
    def mode(self) -> str:
        return self.config.mode or "unknown"

    @property
    def status(self) -> str:
        return self.record.status

    @property
    def variants(self) -> tuple[str, ...]:
        """Variants with data, in the configured order (config.variants), else sorted."""
        present = {r.variant for r in self.repetitions}
        order = [*self.config.variants, *sorted(present)]
        return tuple(v for v in dict.fromkeys(order) if v in present)

    @property
    def endpoints(self) -> tuple[str, ...]:
        """Endpoint labels seen in any repetition, canonical ones first."""
        labels = {e.endpoint for r in self.repetitions for e in r.endpoints}
        return tuple(sorted(labels, key=sort_key))

    def variant_axes(self, variant: str) -> dict[str, Any]:
        info = self.record.variants.get(variant)
        return dict(info.axes) if info is not None else {}


def _parse_repetition(variant: str, repetition: int, path: Path) -> Repetition:
    try:
        doc = latency.read_requests(path)
    except latency.RequestsFileError as exc:
        raise RunDirectoryError(str(exc)) from exc
    endpoints = tuple(
        EndpointData(endpoint=label, count=e.count, failures=e.failures, hdr=e.hdr)
        for label, e in doc.endpoints.items()
    )
    return Repetition(
        variant=variant,
        repetition=repetition,
        path=path.parent,
        measure_start=doc.measure_start,
        measure_end=doc.measure_end,
        duration_s=doc.duration_s or (doc.measure_end - doc.measure_start),
        successful_creates=doc.successful_creates,
        behind_schedule=doc.behind_schedule,
        endpoints=tuple(sorted(endpoints, key=lambda e: sort_key(e.endpoint))),
        series=doc.series,
        users_series=tuple(sorted((u.second, u.users) for u in doc.users_series)),
        rate=openloop.verdict(doc),
    )


def _read_samples(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        log.info("no samples.csv in %s: resource metrics and charts are skipped", path.parent)
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        log.warning("unreadable %s (%s): resource metrics are skipped", path, exc)
        return None
    missing = {"variant", "repetition", "role", "t_s"} - set(df.columns)
    if missing or df.empty:
        log.warning(
            "%s lacks %s or has no rows: resource metrics are skipped", path, sorted(missing)
        )
        return None
    df["variant"] = df["variant"].astype(str)
    df["role"] = df["role"].astype(str)
    df["repetition"] = pd.to_numeric(df["repetition"], errors="coerce")
    for col in SAMPLE_COLUMNS[3:]:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else np.nan
    return df.dropna(subset=["repetition", "t_s"]).astype({"repetition": int})


def load_run(run_dir: str | os.PathLike[str]) -> Run:
    """Load the record, every raw/<variant>/rep-<k>/requests.json and samples.csv.

    Missing meta.json or samples.csv are tolerated (logged); a directory without a single
    requests.json is not a run and raises ``RunDirectoryError``.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise RunDirectoryError(f"{path} is not a directory")
    if (path / record_mod.META).is_file():
        rec = record_mod.load(path)
    else:
        log.warning("%s has no meta.json; the report will lack configuration", path)
        rec = RunRecord()
    reps: list[Repetition] = []
    raw = path / "raw"
    for variant_dir in sorted(p for p in raw.glob("*") if p.is_dir()):
        for rep_dir in sorted(variant_dir.glob("rep-*")):
            try:
                k = int(rep_dir.name.removeprefix("rep-"))
            except ValueError:
                continue
            req = rep_dir / "requests.json"
            if not req.is_file():
                log.warning("%s has no requests.json (interrupted?): skipped", rep_dir)
                continue
            reps.append(_parse_repetition(variant_dir.name, k, req))
    if not reps:
        raise RunDirectoryError(f"{path} holds no raw/<variant>/rep-<k>/requests.json: not a run")
    reps.sort(key=lambda r: (r.variant, r.repetition))
    return Run(
        path=path, record=rec, repetitions=tuple(reps), samples=_read_samples(path / "samples.csv")
    )


def write_samples(run_dir: str | os.PathLike[str], rows: Sequence[Mapping[str, Any]]) -> Path:
    """``samples.csv`` (atomically): one row per resource sample, ``SAMPLE_COLUMNS`` only."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SAMPLE_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return write_text_atomic(Path(run_dir) / "samples.csv", buf.getvalue())
