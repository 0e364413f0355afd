"""The built-in scenarios as workload files send the requests the scenario classes sent.

For a fixed seed, each built-in workload file (loadtests/workloads/) and the user class it
replaced (``legacy_locustfile.py``) are run by real Locust against the in-process target, and
every user's request stream (method, path with query, body), told apart by its connection, must
be the same: contents drawn in the same order, the same seeded sessions and rows, the same
history pages (``after_id`` from the ids the server returned). Chat runs in rate mode, so
drawing the arrival schedule from a generator of its own (not the requests') is checked too.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from chatbench.configuration.paths import LOCUSTFILE
from chatbench.load import locust as loadgen
from tests.load.apitarget import Target

LEGACY = Path(__file__).resolve().parent / "legacy_locustfile.py"
PROCESS_TAG = re.compile(rb"lg-[A-Za-z0-9]+-\d+-")

Stream = tuple[tuple[str, str, bytes], ...]


def _streams(target: Target) -> list[Stream]:
    """Each connection's requests in order, the process tag in session ids masked (it holds
    the pid)."""
    by_peer: dict[tuple[str, int], list[tuple[str, str, bytes]]] = {}
    for peer, method, path, body in target.requests:
        masked = PROCESS_TAG.sub(b"lg-P-", f"{path}".encode()).decode()
        by_peer.setdefault(peer, []).append((method, masked, PROCESS_TAG.sub(b"lg-P-", body)))
    return [tuple(requests) for requests in by_peer.values()]


def _run(
    locustfile: Path, out: Path, monkeypatch: pytest.MonkeyPatch, **load: object
) -> tuple[list[Stream], set[str]]:
    monkeypatch.setattr(loadgen, "LOCUSTFILE", locustfile)
    with Target(seed_sessions=3, seed_messages=4) as target:
        spec = loadgen.LoadSpec(
            target.url,
            warmup_s=0.2,
            duration_s=1.0,
            spawn_rate=100,
            seed_sessions=3,
            seed_messages=4,
            random_seed=20261207,
            **load,  # type: ignore[arg-type]
        )
        result = loadgen.run_load(spec, out)
    return _streams(target), set(result.measured.totals)


@pytest.mark.parametrize(
    "load",
    [
        {"scenario": "chat", "mode": "rate", "users": 1, "rate": 150.0},
        {"scenario": "read", "users": 2},
        {"scenario": "write", "users": 2},
        {"scenario": "detail", "users": 2},
    ],
    ids=lambda load: str(load["scenario"]),
)
def test_a_builtin_workload_sends_the_requests_its_user_class_sent(
    load: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before, before_labels = _run(LEGACY, tmp_path / "legacy", monkeypatch, **load)
    after, after_labels = _run(LOCUSTFILE, tmp_path / "workload", monkeypatch, **load)
    assert loadgen.LOCUSTFILE == LOCUSTFILE  # the second run was the workload's
    assert after_labels == before_labels
    assert len(before) == len(after) == load["users"]
    # Runs end on the clock, so they send different numbers of requests: compare what both sent.
    common = min(len(s) for s in [*before, *after])
    assert common >= (80 if load["scenario"] == "chat" else 20), common
    assert sorted(s[:common] for s in after) == sorted(s[:common] for s in before)
    if load["scenario"] == "chat":  # the latest-page reads with after_id are compared too
        assert any("after_id=" in path for _, path, _ in after[0][:common])


OWN = """\
description = "create, then read back what this user created"
[user]
session_id = "own-{worker}-{user}"
[values]
text = { text = [10, 40] }
[[requests]]
method = "POST"
path = "/api/chat/messages"
json = { role = "user", content = "{text}", session_id = "{session_id}" }
capture = { mine = "id" }
expect = 201
[[requests]]
name = "GET mine"
method = "GET"
path = "/api/chat/messages/{mine}"
expect = 200
"""


def test_a_workload_file_runs_in_ramp_mode_on_two_processes(tmp_path: Path) -> None:
    """A file of one's own, through the harness's user class and recorder: ramp mode, a master
    and two workers; every read is of a row some user created (ids captured from answers)."""
    path = tmp_path / "own.toml"
    path.write_text(OWN)
    with Target(seed_sessions=3, seed_messages=4) as target:
        spec = loadgen.LoadSpec(
            target.url,
            scenario="own",
            workload=str(path),
            mode="ramp",
            ramp_steps=(2, 4),
            ramp_step_s=1.0,
            warmup_s=0.5,
            processes=2,
        )
        result = loadgen.run_load(spec, tmp_path / "out")
    doc = result.measured
    assert doc.scenario == "own" and doc.mode == "ramp" and len(set(doc.processes)) == 2
    assert set(doc.totals) == {"POST /api/chat/messages", "GET mine"}
    assert all(t.failures == 0 for t in doc.totals.values())
    assert max(u.users for u in doc.users_series) == 4
    assert target.details and min(target.details) > target.seeded  # only rows users created
    assert doc.successful_creates_total <= target.created()
