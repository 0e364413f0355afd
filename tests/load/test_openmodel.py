"""chatbench.load.openmodel + loadtests/openmodel: the open-model generator (Node.js on undici)
against the in-process API target (``tests/load/apitarget.py``) and a real FastAPI service.

What the server saw is the reference: creates, requests per endpoint, the bodies posted and the
history queries read. Runs are short (seconds); the assertions are about structure and
correctness, with bounds wide enough for a shared machine.
"""

from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest

from chatbench.configuration.paths import OPENMODEL_DIR
from chatbench.errors import Interrupted, LoadgenError, ToolMissing, UsageError
from chatbench.load import openmodel
from chatbench.provisioning import cpuplan, postgres
from loadtests import corpus
from tests.conftest import TEST_SEED
from tests.load.apitarget import CREATE, DETAIL, HISTORY, Target


def generator_processes(marker: str) -> list[psutil.Process]:
    """Live generator processes whose command line names ``marker`` (a test's own directory)."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.NoSuchProcess:
            continue
        if proc.info["status"] != psutil.STATUS_ZOMBIE and "openmodel.mjs" in cmd and marker in cmd:
            found.append(proc)
    return found


@pytest.fixture(autouse=True)
def no_leftover_generator(tmp_path: Path):
    yield
    assert generator_processes(str(tmp_path)) == []


def raw_document(result: openmodel.OpenModelResult) -> dict:
    return json.loads(result.path.read_text())


def test_a_fast_server_gets_the_chat_mix_on_schedule(tmp_path: Path) -> None:
    with Target() as target:
        spec = openmodel.OpenModelSpec(
            target.url, rate=200, connections=10, sessions=3, warmup_s=0.5, duration_s=2
        )
        result = openmodel.run_open_model(spec, tmp_path)

    # The schedule was kept: 200 req/s x 2 s due in the window, all sent, none dropped.
    assert result.scheduled in (400, 401)
    assert result.sent_on_time == result.scheduled and result.dropped == 0
    assert not result.overloaded and result.achieved_rate == pytest.approx(200, rel=0.02)
    assert result.behind_schedule <= 0.25 * result.scheduled  # a busy shared machine
    assert result.duration_s == pytest.approx(2.0)

    # Nothing lost, nothing invented: every response counted is one the server sent.
    served = target.counts()
    assert {name: c.count for name, c in result.totals.items()} == dict(served)
    assert all(c.failures == 0 for c in result.totals.values())
    assert result.unfinished_creates == 0
    assert result.successful_creates_total == target.created()
    # A keep-alive pool: 10 connections, every one of them used (the idle-longest sends next).
    assert len(target.peers) == 10
    # The chat mix: each session posts twice for each history read.
    assert abs(served[CREATE] - 2 * served[HISTORY]) <= 2 * 3
    measured = {name: c.count for name, c in result.endpoints.items()}
    assert set(measured) == {CREATE, HISTORY}
    assert abs(measured[CREATE] - 2 * measured[HISTORY]) <= 2 * 3
    assert result.successful_creates == measured[CREATE]
    # Warm-up requests were counted, not measured.
    assert sum(measured.values()) < sum(served.values())

    # Bodies as Locust sends them: json.dumps with its separators and ASCII escapes, the
    # corpus's texts and lengths, roles alternating in each of the generator's own sessions.
    bodies = [json.loads(raw) for raw in target.bodies]
    assert all(raw == json.dumps(json.loads(raw)).encode() for raw in target.bodies)
    assert any(b"\\u" in raw for raw in target.bodies)
    sessions = {b["session_id"] for b in bodies}
    assert len(sessions) == 3 and all(re.fullmatch(r"om-\d+-[0-2]", s) for s in sessions)
    for session in sessions:
        roles = [b["role"] for b in bodies if b["session_id"] == session]
        assert roles[:4] == ["user", "assistant", "user", "assistant"]
    assert all(0 < len(b["content"]) <= corpus.ASSISTANT_CHARS[1] for b in bodies)
    # History reads: the session's latest page, limit 50, after the oldest of its 51 newest ids.
    ids = {s: {r["id"] for r in target.rows if r["session_id"] == s} for s in sessions}
    assert all(q["limit"] == ["50"] and q["session_id"][0] in sessions for q in target.queries)
    paged = [q for q in target.queries if "after_id" in q]
    assert paged and all(int(q["after_id"][0]) in ids[q["session_id"][0]] for q in paged)

    # Latencies: one per measured success, into the project's HDR histograms.
    assert result.histogram.get_total_count() == sum(measured.values())
    assert result.endpoint_histograms[CREATE].get_total_count() == measured[CREATE]
    p = result.percentiles((50, 99))
    assert 0 < p[50] <= p[99] < 1000
    doc = raw_document(result)
    for row in doc["endpoints"].values():
        assert len(row["completed_ms"]) == len(row["latencies_us"])
        assert all(0 <= t < 2000 for t in row["completed_ms"])

    # The generator's own resources, sampled as Locust's are; the pinned package ran.
    assert math.isfinite(result.cpu_percent) and 0 < result.cpu_percent < 200
    assert result.samples and result.cpu_set.measured
    assert result.loop_lag.count > 100  # a 10 ms probe over the 2 s window
    assert result.health.measured
    assert result.undici_version == pinned_undici()
    assert result.connections == 10

    # Evenly spaced arrivals (the default): the server saw a request about every 5 ms.
    assert result.arrivals == "even"
    gaps = target.arrival_gaps(result.window_start, result.window_end)
    assert statistics.fmean(gaps) == pytest.approx(0.005, rel=0.1)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) < 0.6  # exponential gaps: 1


def test_poisson_arrivals_are_as_irregular_as_exponential_gaps(tmp_path: Path) -> None:
    with Target(seed_sessions=3, seed_messages=4) as target:
        spec = openmodel.OpenModelSpec(
            target.url, scenario="detail", rate=200, arrivals="poisson", connections=10,
            seed_sessions=3, seed_messages=4, warmup_s=0.3, duration_s=2,
        )  # fmt: skip
        result = openmodel.run_open_model(spec, tmp_path)
    assert result.arrivals == "poisson" and raw_document(result)["arrivals"] == "poisson"
    assert result.sent_on_time == result.scheduled and result.dropped == 0
    assert result.scheduled == pytest.approx(400, rel=0.2)  # a Poisson count: s.d. 5 %
    gaps = target.arrival_gaps(result.window_start, result.window_end)
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) > 0.7  # exponential: 1


def test_latency_counts_from_the_intended_time_through_a_stall(tmp_path: Path) -> None:
    """Every 100th request stalls the whole server for 200 ms (a garbage collection). With 4
    connections most slots due during a stall wait in the generator for a connection: measured
    from when they were sent they would look fast; from their intended time they carry the
    stall. So about 20 % of requests are more than 100 ms late, not 4 per stall."""
    stall_s = 0.2
    with Target(stall_every=100, stall_s=stall_s) as target:
        spec = openmodel.OpenModelSpec(
            target.url, rate=200, connections=4, sessions=4, warmup_s=0.5, duration_s=2
        )
        result = openmodel.run_open_model(spec, tmp_path)
    assert len(target.stalls) >= 4
    p = result.percentiles((50, 90, 99))
    assert p[50] < 50  # most requests come between stalls
    assert p[90] >= 50, p  # the queue behind each stall
    assert stall_s * 1000 * 0.9 <= result.histogram.get_max_value() / 1000 < 1000
    # Slots waited for a connection: sends behind schedule, their wait in send_lag.
    assert result.behind_schedule >= 20
    assert result.send_lag.p99_ms is not None and result.send_lag.p99_ms >= 50
    # The schedule's books balance: each slot due in the window was sent or dropped.
    assert result.scheduled == result.sent_on_time + result.dropped
    assert result.scheduled in (400, 401)
    assert result.successful_creates_total == target.created()
    assert {name: c.count for name, c in result.totals.items()} == dict(target.counts())


def detail_run(tmp_path: Path, **spec: object) -> tuple[openmodel.OpenModelResult, Target]:
    with Target(seed_sessions=3, seed_messages=4) as target:
        result = openmodel.run_open_model(
            openmodel.OpenModelSpec(
                target.url, scenario="detail", seed_sessions=3, seed_messages=4, **spec
            ),
            tmp_path,
        )
    return result, target


def test_the_detail_scenario_reads_seeded_rows_in_a_shared_window(tmp_path: Path) -> None:
    start_at = time.time() + 1.0
    result, target = detail_run(
        tmp_path, rate=100, connections=4, warmup_s=0.5, duration_s=1, start_at=start_at
    )
    assert {status for _, _, status in target.served} == {200}
    assert set(target.details) == set(range(1, 13))  # uniform over the 12 seeded rows
    assert set(result.totals) == {DETAIL} and result.failures == 0
    assert result.totals[DETAIL].count == target.counts()[DETAIL] == len(target.details)
    assert result.scheduled == 100 and result.sent_on_time == 100
    assert result.successful_creates_total == 0 and target.created() == 0
    # The window is fixed in wall-clock time by start_at, as for two Locusts of a duet.
    assert result.window_start == pytest.approx(start_at + 0.5, abs=1e-3)
    assert result.window_end == pytest.approx(start_at + 1.5, abs=1e-3)
    assert min(t for t, _, _ in target.served) >= start_at


def test_a_seed_gives_the_same_requests(tmp_path: Path) -> None:
    runs = [
        detail_run(tmp_path / str(i), rate=100, connections=1, warmup_s=0, duration_s=0.5, seed=s)
        for i, s in enumerate((3, 3, 4))
    ]
    first, again, other = (target.details for _, target in runs)
    assert len(first) == 50 and first == again and other != first


def test_a_real_fastapi_service_gets_the_chat_mix(start_variant, tmp_path: Path) -> None:
    server = start_variant("fastapi", db_name="t_openmodel")
    before = postgres.row_count(server.database_url)
    spec = openmodel.OpenModelSpec(
        server.base_url,
        rate=100,
        connections=5,
        sessions=5,
        warmup_s=0.5,
        duration_s=2,
        seed_sessions=TEST_SEED.sessions,
        seed_messages=TEST_SEED.messages,
    )
    result = openmodel.run_open_model(spec, tmp_path)
    assert result.failures == 0 and all(c.failures == 0 for c in result.totals.values())
    assert result.errors == {}
    totals = {name: c.count for name, c in result.totals.items()}
    assert set(totals) == {CREATE, HISTORY}
    assert abs(totals[CREATE] - 2 * totals[HISTORY]) <= 2 * 5
    assert sum(totals.values()) == pytest.approx(250, abs=3)  # 100 req/s over 2.5 s
    # Rows written == successful creates, as every run checks.
    assert result.unfinished_creates == 0
    assert postgres.row_count(server.database_url) - before == result.successful_creates_total
    with postgres.connect(server.database_url) as conn:
        ours = conn.execute(
            "SELECT count(*) FROM chat_messages WHERE session_id LIKE 'om-%'"
        ).fetchone()[0]
    assert ours == result.successful_creates_total
    assert not result.overloaded and result.dropped == 0
    server.check_alive()


def test_a_stop_request_leaves_no_generator_process(tmp_path: Path) -> None:
    cpu = cpuplan.available_cpus()[0]
    stop = threading.Event()
    seen: dict[str, object] = {}

    def stop_once_running() -> None:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not stop.is_set():
            procs = generator_processes(str(tmp_path))
            if procs:
                seen["affinity"] = procs[0].cpu_affinity()
                stop.set()
                return
            time.sleep(0.05)

    with Target() as target:
        spec = openmodel.OpenModelSpec(
            target.url, rate=50, connections=2, warmup_s=0, duration_s=30, cpus=(cpu,)
        )
        watcher = threading.Thread(target=stop_once_running, daemon=True)
        watcher.start()
        started = time.monotonic()
        with pytest.raises(Interrupted):
            openmodel.run_open_model(spec, tmp_path, stop_event=stop)
        watcher.join(timeout=5)
    assert time.monotonic() - started < 15
    assert seen["affinity"] == [cpu]  # pinned to the load-generator CPUs it was given
    assert generator_processes(str(tmp_path)) == []


def test_a_target_off_this_machine_is_refused(tmp_path: Path) -> None:
    remote = "http://192.0.2.1:8000"
    with pytest.raises(UsageError, match="non-loopback"):
        openmodel.run_open_model(openmodel.OpenModelSpec(remote), tmp_path)
    # The program refuses it too, in one sentence and with exit code 2, before any request.
    out = tmp_path / "out.json"
    args = [
        "--target",
        remote,
        "--scenario",
        "detail",
        "--rate",
        "10",
        "--duration-s",
        "1",
        "--seed-sessions",
        "1",
        "--seed-messages",
        "1",
        "--out",
        str(out),
    ]
    done = subprocess.run(
        [*openmodel.node_command(), *args], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"openmodel: target {remote} resolves to non-loopback 192.0.2.1; "
        "load is only sent to services on this machine"
    )
    assert not out.exists()


def test_a_failing_generator_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = openmodel.generator_command
    monkeypatch.setattr(openmodel, "generator_command", lambda *a: [*real(*a), "--no-such-option"])
    spec = openmodel.OpenModelSpec("http://127.0.0.1:9", rate=10, duration_s=1)
    with pytest.raises(LoadgenError, match="exited with code 2: .*no-such-option") as info:
        openmodel.run_open_model(spec, tmp_path)
    assert "no-such-option" in (info.value.detail or "")


def test_missing_node_or_packages_say_run_make_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(openmodel, "OPENMODEL_DIR", tmp_path)
    with pytest.raises(ToolMissing, match="make tools"):
        openmodel.node_command()
    monkeypatch.setattr(openmodel.shutil, "which", lambda name: None)
    with pytest.raises(ToolMissing, match="node is not installed"):
        openmodel.run_open_model(openmodel.OpenModelSpec("http://127.0.0.1:9"), tmp_path)
    assert issubclass(ToolMissing, UsageError)  # exit code 2, one sentence


def pinned_undici() -> str:
    return json.loads((OPENMODEL_DIR / "package.json").read_text())["dependencies"]["undici"]


def test_undici_is_pinned_exactly_and_node_bounded_once() -> None:
    package = json.loads((OPENMODEL_DIR / "package.json").read_text())
    lock = json.loads((OPENMODEL_DIR / "package-lock.json").read_text())
    assert list(package["dependencies"]) == ["undici"]  # the whole dependency set
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned_undici())  # no ^ or ~
    assert lock["packages"]["node_modules/undici"]["version"] == pinned_undici()
    assert set(lock["packages"]) == {"", "node_modules/undici"}  # undici depends on nothing
    engines = ">=" + ".".join(map(str, openmodel.MIN_NODE))
    assert package["engines"]["node"] == engines
    assert lock["packages"]["node_modules/undici"]["engines"]["node"] == engines
    installed = OPENMODEL_DIR / "node_modules" / "undici" / "package.json"
    assert json.loads(installed.read_text())["version"] == pinned_undici()


def test_spec_validation() -> None:
    bad = {
        "scenario": ("read", "scenario 'read'"),
        "rate": (0, "rate must be"),
        "connections": (0, "connections must"),
        "duration_s": (0, "duration_s must"),
        "warmup_s": (-1, "warmup_s cannot"),
        "start_at": (-1.0, "start_at"),
        "arrivals": ("bursts", "arrivals 'bursts' is not one of even, poisson"),
    }
    for field, (value, message) in bad.items():
        with pytest.raises(UsageError, match=message):
            openmodel.OpenModelSpec("http://127.0.0.1:1", **{field: value})
    with pytest.raises(UsageError, match="detail scenario needs"):
        openmodel.OpenModelSpec("http://127.0.0.1:1", scenario="detail")
    # Connections default to Locust's user count for the rate (openloop.users_for).
    assert openmodel.OpenModelSpec("http://127.0.0.1:1", rate=400).connection_count == 100
    assert openmodel.OpenModelSpec("http://127.0.0.1:1", rate=1).connection_count == 2


def test_the_command_carries_the_spec(tmp_path: Path) -> None:
    spec = openmodel.OpenModelSpec(
        "http://127.0.0.1:1",
        rate=250,
        warmup_s=1,
        duration_s=3,
        sessions=7,
        start_at=1_800_000_000.5,
        seed=9,
        arrivals="poisson",
    )
    cmd = openmodel.generator_command(spec, tmp_path / "o.json", tmp_path / "c.json")
    options = dict(zip(cmd[2::2], cmd[3::2], strict=True))
    assert options["--rate"] == "250.0" and options["--connections"] == "63"
    assert options["--sessions"] == "7" and options["--arrivals"] == "poisson"
    assert options["--start-at"] == "1800000000.5" and options["--seed"] == "9"
    assert options["--contents"] == str(tmp_path / "c.json")


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "openmodel.json"
    path.write_text(json.dumps({"format_version": 99}))
    with pytest.raises(LoadgenError, match="format_version 99"):
        openmodel.read_document(path)
    path.write_text(json.dumps({"format_version": 1}))
    with pytest.raises(LoadgenError, match="not a valid open-model file"):
        openmodel.read_document(path)


def test_own_cpu_is_read_over_the_window_the_samples_cover() -> None:
    samples = tuple({"wall": w, "cpu_seconds": c} for w, c in [(0, 0), (1, 0.5), (2, 0.7)])
    assert openmodel.own_cpu_percent(samples, 0.5, 1.5) == pytest.approx(35.0)
    # The samples end at 2: a window to 3 is read over 1..2 only.
    assert openmodel.own_cpu_percent(samples, 1.0, 3.0) == pytest.approx(20.0)
    assert math.isnan(openmodel.own_cpu_percent(samples, 1.5, 5.0))
