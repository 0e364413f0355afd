"""Where things are in the checkout: the one place that knows the repository's layout."""

from __future__ import annotations

from pathlib import Path

import loadtests

REPO_ROOT = Path(__file__).resolve().parents[2]
LOADTESTS_DIR = Path(loadtests.__file__).resolve().parent
LOCUSTFILE = LOADTESTS_DIR / "locustfile.py"
PROFILES_DIR = LOADTESTS_DIR / "profiles"
SUITES_DIR = LOADTESTS_DIR / "suites"
SCHEMA_SQL = REPO_ROOT / "postgres" / "schema.sql"
POSTGRESQL_CONF = REPO_ROOT / "postgres" / "postgresql.conf"
RESULTS_DIR = REPO_ROOT / "results"
# Committed Locust/wrk cross-checks; runs cite the newest one of their scenario from here.
CROSSCHECK_DIR = RESULTS_DIR / "crosscheck"
BASELINES_DIR = RESULTS_DIR / "baselines"
DEFAULT_BASELINE = BASELINES_DIR / "ci.json"
DEFAULT_HISTORY = RESULTS_DIR / "history.jsonl"
