"""The layer table of a ``--cpu-profile`` run: each variant's CPU per request, by layer.

A variant's *shares* come from its profiled repetition (``measuring.profiling``): py-spy's
stacks attributed by ``analysing.layers``. Its *CPU per request* comes from the measured repetitions, which py-spy never
touched: requests per service CPU-second, per repetition, turned into milliseconds and
summarised with ``stats.interval`` (geometric mean; a 95 % CI from 3 repetitions, the range
of 2, none with 1). A layer's milliseconds per request = its share × that figure; the
interval of the CPU figure is the one the table states (the shares rest on one profiled
repetition and carry none).

``profiles/layers.csv`` (``write_csv``) holds the table, one row per variant × layer.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from chatbench.analysing import stats
from chatbench.analysing.layers import (
    LAYER_KEYS,
    LayerShares,
    layer_samples,
    parse_collapsed,
    shares,
)
from chatbench.analysing.tables import repetition_metrics
from chatbench.configuration.endpoints import ALL
from chatbench.storing.atomic import write_text_atomic
from chatbench.storing.rundir import Run

LAYERS_CSV = "layers.csv"
CSV_COLUMNS = ("variant", "layer", "samples", "share", "ms_per_request", "cpu_ms_per_request",
               "cpu_interval")  # fmt: skip


@dataclass(frozen=True)
class VariantLayers:
    """One variant's row of the layer table."""

    variant: str
    stacks: Path  # py-spy's collapsed stacks
    layers: LayerShares
    cpu_ms: stats.Estimate  # CPU milliseconds per request, measured repetitions
    samples: int
    errors: int
    seconds: float
    system_share: float  # of the service's CPU in the profiled window (NaN: not read)

    @property
    def ms(self) -> dict[str, float]:
        """Milliseconds of CPU per request, per layer (NaN without a CPU figure)."""
        return self.layers.ms_per_request(self.cpu_ms.value)


def cpu_ms_per_request(run: Run, variant: str, reps: pd.DataFrame | None = None) -> stats.Estimate:
    """The service's CPU milliseconds per successful request over the measured repetitions."""
    reps = repetition_metrics(run) if reps is None else reps
    if reps.empty:
        return stats.interval([])
    hit = reps[(reps["variant"] == variant) & (reps["endpoint"] == ALL)
               & (reps["metric"] == "req_per_cpu_s")]  # fmt: skip
    per_cpu = hit["value"].to_numpy(dtype=float)
    return stats.interval([1000.0 / x for x in per_cpu if math.isfinite(x) and x > 0])


def layer_table(run: Run, reps: pd.DataFrame | None = None) -> list[VariantLayers]:
    """Every profiled variant's layers, in the run's variant order (empty: no profile)."""
    section = run.record.cpu_profile
    if section is None or not section.variants:
        return []
    reps = repetition_metrics(run) if reps is None else reps
    out = []
    for variant in [v for v in run.variants if v in section.variants]:
        entry = section.variants[variant]
        path = run.path / entry.stacks
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        found = shares(layer_samples(parse_collapsed(text)))
        cpu = float(entry.user_cpu_s) + float(entry.system_cpu_s)
        out.append(VariantLayers(variant, path, found, cpu_ms_per_request(run, variant, reps),
                                 entry.samples, entry.errors, float(entry.seconds),
                                 float(entry.system_cpu_s) / cpu if cpu > 0 else math.nan))  # fmt: skip
    return out


def differences(table: list[VariantLayers]) -> dict[str, dict[str, float]]:
    """Per variant after the first: each layer's ms per request minus the first variant's
    (the gap between them, layer by layer; positive: this variant spends more there)."""
    if len(table) < 2:
        return {}
    base = table[0].ms
    return {row.variant: {k: row.ms[k] - base[k] for k in LAYER_KEYS} for row in table[1:]}


def write_csv(run_dir: str | os.PathLike[str], table: list[VariantLayers]) -> Path | None:
    """``profiles/layers.csv`` (None and nothing written when no variant was profiled)."""
    if not table:
        return None
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in table:
        for key in LAYER_KEYS:
            writer.writerow([row.variant, key, row.layers.samples.get(key, ""),
                             f"{row.layers.shares[key]:.6f}", f"{row.ms[key]:.6f}",
                             f"{row.cpu_ms.value:.6f}", row.cpu_ms.method])  # fmt: skip
    return write_text_atomic(Path(run_dir) / "profiles" / LAYERS_CSV, buf.getvalue())
