"""The control probe (chatbench/control.py): sane figures from a real Postgres, pinned where
asked, and nothing left behind — no child process, no connection to the probed database."""

from __future__ import annotations

import time

import psutil
import pytest

from chatbench.measuring import control
from chatbench.provisioning import cpuplan, ports, postgres


def test_probe_length_follows_the_run_within_bounds() -> None:
    assert control.probe_seconds(10.0) == 2.0  # the ci profile
    assert control.probe_seconds(60.0) == 2.0
    assert control.probe_seconds(5.0) == 0.25  # smoke runs and tests: seconds, not figures


def _connections(server_url: str, dbname: str) -> int:
    with postgres.connect(server_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (dbname,),
        ).fetchone()[0]


def test_probe_reports_positive_figures_and_leaves_nothing_behind(
    pg_server_url: str, template_db: str
) -> None:
    cpus = cpuplan.available_cpus()[-1:]  # one CPU, as a service would be pinned
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = control.measure(template_db, seconds=0.3, cpus=cpus)
    assert result.ops > 10 and result.ops_per_s > 10
    assert result.ops_per_s == pytest.approx(result.ops / result.seconds)
    assert 0 < result.p50_ms < 1000 / result.ops_per_s * 5  # a median op, not an outlier
    assert result.seconds >= 0.3
    if hasattr(psutil.Process(), "cpu_affinity"):
        assert result.cpus == list(cpus)  # the child really ran pinned
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
    # A backend exits just after its client closes: poll with a deadline, do not sleep.
    deadline = time.monotonic() + 5
    while _connections(pg_server_url, "chatbench_test_template") and time.monotonic() < deadline:
        pass
    assert _connections(pg_server_url, "chatbench_test_template") == 0


def test_a_probe_that_cannot_connect_says_so_in_one_sentence() -> None:
    url = f"postgresql://nobody@127.0.0.1:{ports.free_port()}/nothing"
    with pytest.raises(control.ControlError, match="cannot connect to the control database"):
        control.measure(url, seconds=0.25)


def test_the_probe_command_needs_its_url_and_seconds(monkeypatch, capsys) -> None:
    monkeypatch.delenv(control.URL_VAR, raising=False)
    assert control.main(["1"]) == 2
    assert "usage:" in capsys.readouterr().err
