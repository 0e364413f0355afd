"""Where things are: the one place that knows the checkout's layout and the wheel's.

In a checkout the services (``impl_django``, ``impl_fastapi``), the load tests (``loadtests``)
and ``postgres/`` (schema, server config) are top-level folders next to ``chatbench``. A wheel
carries the same folders as package data of chatbench, under ``chatbench/_bundle`` (setup.py's
``build_py`` puts them there), so it installs no generic top-level package. ``SOURCE_ROOT`` is
whichever holds them; services start with it as their working directory (``python -m`` puts
it on their path), and the harness, which imports ``loadtests``, puts it on its own path.

Run output goes to ``./results`` in the current directory by default; the committed data of
the checkout (baselines, cross-checks, history) stays under the checkout's ``results/``.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(str(resources.files("chatbench")))
REPO_ROOT = PACKAGE_DIR.parent
BUNDLE_DIR = PACKAGE_DIR / "_bundle"
BUNDLED = BUNDLE_DIR.is_dir()
SOURCE_ROOT = BUNDLE_DIR if BUNDLED else REPO_ROOT
if BUNDLED and str(SOURCE_ROOT) not in sys.path:
    sys.path.append(str(SOURCE_ROOT))

import loadtests  # noqa: E402 - found through SOURCE_ROOT when bundled
from loadtests import workload as workloads  # noqa: E402 - the workload file reader

LOADTESTS_DIR = Path(loadtests.__file__).resolve().parent
LOCUSTFILE = LOADTESTS_DIR / "locustfile.py"
PROFILES_DIR = LOADTESTS_DIR / "profiles"
SUITES_DIR = LOADTESTS_DIR / "suites"
WORKLOADS_DIR = workloads.WORKLOADS_DIR
# The open-model generator (Node.js on undici); `make tools` installs its node_modules there.
OPENMODEL_DIR = LOADTESTS_DIR / "openmodel"
OPENMODEL_SCRIPT = OPENMODEL_DIR / "openmodel.mjs"
SCHEMA_SQL = SOURCE_ROOT / "postgres" / "schema.sql"
POSTGRESQL_CONF = SOURCE_ROOT / "postgres" / "postgresql.conf"
# Where a run writes by default: ./results of the directory it is started in.
DEFAULT_RESULTS_DIR = Path("results")
RESULTS_DIR = REPO_ROOT / "results"
# Committed Locust/wrk cross-checks; runs cite the newest one of their scenario from here.
CROSSCHECK_DIR = RESULTS_DIR / "crosscheck"
STEADY_DIR = RESULTS_DIR / "steady"
SLO_REPEAT_DIR = RESULTS_DIR / "slo"
BASELINES_DIR = RESULTS_DIR / "baselines"
DEFAULT_BASELINE = BASELINES_DIR / "ci.json"
DEFAULT_HISTORY = RESULTS_DIR / "history.jsonl"
