#!/usr/bin/env python3
"""How noisy is this runner for the CI gate? CV per variant and metric, raw and normalised.

Give it the run directories of several `chatbench check` runs made with no code change (and
the baseline's run): for each variant × metric (endpoint ``ALL``) it prints the mean
coefficient of variation *within* a run (over its repetitions: what the verdict's noise term
sees) and the CV of the runs' medians *between* runs (what a stored baseline meets on another
day), for the raw figures and for the figures normalised by each round's control probe. The
docs/ci-gate.md's "How well the gate works here" table is this script's output.

    scripts/gate_noise.py results/2026*-django-vs-fastapi-*
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import figures  # noqa: E402

METRICS = ("rps", "p95", "p99")


def _cv(values: list[float]) -> float:
    mean = statistics.fmean(values)
    return statistics.stdev(values) / mean if len(values) > 1 and mean else float("nan")


def noise_rows(run_dirs: list[Path], metrics: tuple[str, ...] = METRICS) -> list[dict]:
    """One row per variant × figures (raw/normalised): metric → (within-run CV, between CV)."""
    summaries = [figures.from_run(d) for d in run_dirs]
    variants = sorted(set.intersection(*(set(s.values) for s in summaries)))
    rows = []
    for variant in variants:
        for kind in ("raw", "normalised"):
            sides = [s.values if kind == "raw" else s.normalised for s in summaries]
            if any(side is None for side in sides):
                continue  # a run without control values: no normalised figures
            row = {"variant": variant, "figures": kind}
            for metric in metrics:
                per_run = [side[variant]["ALL"][metric] for side in sides]
                row[metric] = (
                    statistics.fmean(_cv(values) for values in per_run),
                    _cv([statistics.median(values) for values in per_run]),
                )
            rows.append(row)
    return rows


def to_markdown(rows: list[dict], metrics: tuple[str, ...] = METRICS) -> str:
    lines = [
        "| | " + " | ".join(metrics) + " |",
        "| --- |" + " --- |" * len(metrics),
    ]
    for row in rows:
        cells = [f"{row[m][0]:.1%} / {row[m][1]:.1%}".replace("%", " %") for m in metrics]
        lines.append(f"| {row['variant']} {row['figures']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dirs", nargs="+", type=Path, help="finished run directories")
    args = parser.parse_args(argv)
    missing = [str(d) for d in args.run_dirs if not (d / "meta.json").is_file()]
    if len(args.run_dirs) < 2 or missing:
        parser.error(
            f"not a run directory: {', '.join(missing)}" if missing else "give at least two runs"
        )
    print(f"{len(args.run_dirs)} runs; cells: mean within-run CV / CV of the run medians")
    print(to_markdown(noise_rows(args.run_dirs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
