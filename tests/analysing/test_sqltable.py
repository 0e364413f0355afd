"""The SQL work table (``chatbench.analysing.sqltable``): profile and load rows, the CSV."""

from __future__ import annotations

import csv

import pytest

from chatbench.analysing import sqltable
from chatbench.storing.record import Evidence
from tests.measuring.test_sqlwork import INSERT, PING, PROFILE


def _meta() -> dict:
    """What a run records of its SQL (``meta.json`` ``evidence``), for three repetitions."""
    return {
        "evidence": {
            "sql_per_endpoint": {"fastapi": PROFILE},
            "sql": {
                "fastapi": [
                    {"repetition": r, "requests": 400, "statements_per_request": s,
                     "rows_per_request": 13.0, "db_exec_ms_per_request": 0.1,
                     "per_endpoint": {"GET /api/chat/messages": {
                         "requests": 100, "statements_per_request": s, "rows_per_request": 51.0,
                         "db_exec_ms_per_request": 0.2}}}
                    for r, s in ((1, 2.0), (2, 2.2), (3, 2.1))
                ]
            },
        }
    }  # fmt: skip


def test_table_has_profile_and_load_rows_with_medians_over_repetitions():
    rows = {
        (r["variant"], r["endpoint"], r["source"]): r for r in sqltable.table(_evidence(_meta()))
    }
    post = rows[("fastapi", "POST /api/chat/messages", "profile")]
    assert post["statements_per_request"] == 2.0
    assert post["statements"] == f"1× {INSERT} | 1× {PING}"
    assert rows[("fastapi", "ALL", "load")]["statements_per_request"] == pytest.approx(2.1)
    assert rows[("fastapi", "GET /api/chat/messages", "load")]["requests"] == 300


def test_report_rows_put_variants_of_an_endpoint_side_by_side():
    meta = _meta()
    meta["evidence"]["sql_per_endpoint"]["django"] = PROFILE
    order = [(r["endpoint"], r["variant"]) for r in sqltable.report_rows(_evidence(meta))]
    assert order[:4] == [
        ("POST /api/chat/messages", "django"), ("POST /api/chat/messages", "fastapi"),
        ("GET /api/chat/messages", "django"), ("GET /api/chat/messages", "fastapi"),
    ]  # fmt: skip
    assert order[-1] == ("ALL", "fastapi")


def test_write_csv(tmp_path):
    path = sqltable.write_csv(tmp_path, _evidence(_meta()))
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == sqltable.TABLE_COLUMNS
    assert {r["source"] for r in rows} == {"profile", "load"}
    assert rows[0]["statements_per_request"] == "2.0000"


def _evidence(meta: dict) -> Evidence:
    return Evidence.model_validate(meta["evidence"])
