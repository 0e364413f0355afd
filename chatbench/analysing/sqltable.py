"""The SQL work table of a run: statements, rows and database time per request.

Built from the run record's evidence (``chatbench.measuring.sqlwork`` collected it): one row
per variant × endpoint × source, where ``profile`` is the endpoint called alone
``ENDPOINT_CALLS`` times before load (exact statement counts and texts) and ``load`` the
measured repetitions (warm-up included, median over repetitions; ``ALL`` is every request of
the window). ``sqlwork.csv`` holds it; the report folds it per endpoint.
"""

from __future__ import annotations

import csv
import io
import os
import statistics
from pathlib import Path
from typing import Any

from chatbench.configuration.endpoints import ALL, sort_key
from chatbench.storing.atomic import write_text_atomic
from chatbench.storing.record import EndpointSql, Evidence

TABLE_COLUMNS = [
    "variant", "endpoint", "source", "requests", "statements_per_request", "rows_per_request",
    "db_exec_ms_per_request", "statements",
]  # fmt: skip
_PER_REQUEST = ("statements_per_request", "rows_per_request", "db_exec_ms_per_request")


def statement_texts(profile: EndpointSql) -> list[str]:
    """``1× SELECT …`` per statement an endpoint ran alone, times per call."""
    calls = max(1, profile.calls)
    return [f"{s.calls / calls:g}× {s.query}" for s in profile.statements]


def table(evidence: Evidence) -> list[dict[str, Any]]:
    """One row per variant × endpoint × source (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for variant, endpoints in evidence.sql_per_endpoint.items():
        for ep, p in endpoints.items():
            rows.append(
                {
                    "variant": variant,
                    "endpoint": ep,
                    "source": "profile",
                    "requests": p.calls,
                    "statements_per_request": float(p.statements_per_call),
                    "rows_per_request": float(p.rows_per_call),
                    "db_exec_ms_per_request": float(p.db_exec_ms_per_call),
                    "statements": " | ".join(statement_texts(p)),
                }
            )
    for variant, reps in evidence.sql.items():
        by_endpoint: dict[str, list[dict[str, Any]]] = {ALL: [r.dump() for r in reps]}
        for rep in reps:
            for ep, figures in (rep.per_endpoint or {}).items():
                by_endpoint.setdefault(ep, []).append(figures)
        for ep, figures in by_endpoint.items():
            rows.append(
                {
                    "variant": variant,
                    "endpoint": ep,
                    "source": "load",
                    "requests": sum(int(f.get("requests", 0)) for f in figures),
                    **{k: _median([float(f.get(k, 0.0)) for f in figures]) for k in _PER_REQUEST},
                    "statements": "",
                }
            )
    return rows


def _median(values: list[float]) -> float:
    return float(statistics.median(values)) if values else 0.0


def write_csv(run_dir: str | os.PathLike[str], evidence: Evidence) -> Path:
    """``sqlwork.csv`` in the run directory (atomically)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=TABLE_COLUMNS)
    writer.writeheader()
    for row in table(evidence):
        writer.writerow({k: (f"{v:.4f}" if isinstance(v, float) else v) for k, v in row.items()})
    return write_text_atomic(Path(run_dir) / "sqlwork.csv", buf.getvalue())


def report_rows(evidence: Evidence) -> list[dict[str, Any]]:
    """``table`` folded to one row per endpoint × variant (variants of an endpoint adjacent,
    so their statement counts and texts read side by side): profile and load figures."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for r in table(evidence):
        row = merged.setdefault(
            (r["endpoint"], r["variant"]),
            {"endpoint": r["endpoint"], "variant": r["variant"], "profile": None, "load": None},
        )
        row[r["source"]] = r
        if r["source"] == "profile":
            row["statements"] = r["statements"].split(" | ") if r["statements"] else []
    return [
        {"statements": [], **row}
        for (_, _), row in sorted(merged.items(), key=lambda kv: (sort_key(kv[0][0]), kv[0]))
    ]
