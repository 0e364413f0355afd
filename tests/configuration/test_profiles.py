"""The one profile parser, and the names the harness and the locustfile must agree on.

The locustfile and its recorder may not import the harness, so they keep their own copies of
the scenarios, modes, endpoint labels, the history page size and the requests-file version;
these tests read them from the loadtests sources (without importing Locust) and compare.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from chatbench.configuration import endpoints, profiles
from chatbench.configuration import settings as config
from chatbench.configuration.paths import LOADTESTS_DIR
from chatbench.errors import UsageError
from chatbench.load import latency
from chatbench.measuring import wrk


def _constants(path: Path) -> dict[str, object]:
    """Module-level ``NAME = literal`` assignments of a source file."""
    found = {}
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
            if isinstance(target, ast.Name):
                try:
                    found[target.id] = ast.literal_eval(node.value)
                except ValueError:
                    continue
    return found


def test_the_locustfile_knows_the_same_scenarios_modes_and_labels() -> None:
    locustfile = _constants(LOADTESTS_DIR / "locustfile.py")
    recorder = _constants(LOADTESTS_DIR / "recorder.py")
    assert locustfile["SCENARIOS"] == profiles.SCENARIOS
    assert locustfile["MODES"] == profiles.MODES
    assert locustfile["HISTORY"] == endpoints.HISTORY
    assert locustfile["DETAIL"] == endpoints.DETAIL
    assert recorder["CREATE"] == endpoints.CREATE
    assert locustfile["HISTORY_LIMIT"] == wrk.HISTORY_LIMIT
    assert recorder["FORMAT_VERSION"] == latency.REQUESTS_FORMAT_VERSION


def test_profile_processes_key_sets_loadgen_processes(tmp_path: Path) -> None:
    (tmp_path / "two.conf").write_text("users = 4\nspawn_rate = 4\nprocesses = 2\n")
    assert profiles.read_profile("two", directory=tmp_path)["loadgen_processes"] == 2
    assert config.build(str(tmp_path / "two.conf")).loadgen_processes == 2


def test_unknown_profile_key_is_a_usage_error_naming_key_and_file(tmp_path: Path) -> None:
    (tmp_path / "typo.conf").write_text("users = 4\n# a comment\nrun-time = 30s\n")
    with pytest.raises(UsageError) as info:
        profiles.read_profile("typo", directory=tmp_path)
    assert info.value.exit_code == 2
    message = str(info.value)
    assert "'run-time'" in message  # as written in the file
    assert "typo.conf:3" in message


def test_an_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(UsageError, match="Unknown profile 'nope'; available: ci, full"):
        profiles.read_profile("nope")


def test_a_bad_profile_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.conf"
    bad.write_text("users = 3\nthreads = 9\n")
    with pytest.raises(UsageError, match="bad.conf:2"):
        profiles.read_profile(bad)
