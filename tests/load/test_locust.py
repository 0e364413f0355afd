"""chatbench.loadgen + loadtests/: real Locust against a tiny in-process ChatMessage target.

The target (``tests/load/apitarget.py``) is a stdlib ThreadingHTTPServer that speaks just enough
of the API (POST, history, detail) and counts what it served, so every figure Locust reports can
be checked against what the server actually saw: creates must match exactly.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import psutil
import pytest

from chatbench.load import latency, openloop
from chatbench.load import locust as loadgen
from tests.load.apitarget import CREATE, DETAIL, HISTORY, Target


def locust_processes(marker: str = "") -> list[str]:
    """Live Locust processes whose command line contains marker (our tmp dir: ours only,
    not those of another test session sharing the machine)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.NoSuchProcess:
            continue
        if proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if "locust" in cmd and "pytest" not in cmd and marker in cmd:
            found.append(f"{proc.info['pid']}: {cmd[:120]}")
    return found


@pytest.fixture(autouse=True)
def no_leftover_locust(tmp_path_factory: pytest.TempPathFactory):
    yield
    assert locust_processes(str(tmp_path_factory.getbasetemp())) == []


def check_against_target(
    result: loadgen.LoadResult, target: Target, users: int
) -> latency.RequestsDocument:
    doc = result.measured
    assert result.requests_path.is_file()
    assert latency.read_requests(result.requests_path) == doc
    # Nothing lost, nothing invented: every row the server inserted was counted as a success,
    # except POSTs Locust cut off at stop (sent and served, reply never seen), which are counted
    # as unfinished: at most one per user.
    unfinished = doc.unfinished_creates
    assert 0 <= unfinished <= users
    assert result.successful_creates_total <= target.created()
    assert target.created() <= result.successful_creates_total + unfinished
    served = dict(target.counts())
    counted = {k: v.count for k, v in doc.totals.items()}
    assert set(counted) == set(served)
    for name, count in counted.items():
        # A read cut off at stop is likewise served but never seen: at most one per user.
        extra = unfinished if name == CREATE else users
        assert count <= served[name] <= count + extra, (name, count, served[name])
    # Warm-up happened and is not in the measured figures.
    warm = sum(r.count for r in doc.outside_window.warmup.values())
    assert warm > 0
    measured = {k: v.count for k, v in doc.endpoints.items()}
    window = target.counts(doc.measure_start, doc.measure_end)
    for name, count in measured.items():
        # Server and client clocks see a reply a fraction of a millisecond apart; at the
        # window's two edges that can move one in-flight request per user either way.
        assert abs(count - window[name]) <= 2 * users, (name, count, window[name])
        assert count == sum(r.count for r in doc.series if r.endpoint == name)
    create = doc.endpoints.get(CREATE)
    assert doc.successful_creates == (create.count - create.failures if create else 0)
    hist = doc.all_endpoints_histogram()
    p = latency.percentiles(hist, [50, 95, 99])
    assert 0 < p[50] <= p[95] <= p[99]
    return doc


def test_closed_mode_counts_match_target(tmp_path: Path) -> None:
    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, users=4, spawn_rate=50, warmup_s=1, duration_s=3,
            seed_sessions=3, seed_messages=4,
        )  # fmt: skip
        result = loadgen.run_load(spec, tmp_path)
    doc = check_against_target(result, target, users=4)
    assert set(doc.endpoints) == {CREATE, HISTORY}
    assert len(doc.processes) == 1
    assert 2.9 < doc.duration_s <= 3.0
    assert [r.second for r in doc.series if r.endpoint == CREATE] == [0, 1, 2]
    assert all(u.users == 4 for u in doc.users_series)
    # Locust's own totals agree with ours in a single process.
    assert result.locust_counts[CREATE]["count"] == doc.totals[CREATE].count
    assert (tmp_path / "locust_stats.csv").is_file() and (tmp_path / "locust.log").is_file()
    assert result.samples and result.samples[-1]["cpu_seconds"] > 0
    # The load generator's health over the window: its CPU set read from the OS, covering the
    # window (the last sample follows Locust's exit), and the loop-lag probe's wake-ups.
    health = result.health
    assert health.measured and health.cpu_set.cpus == tuple(sorted(os.sched_getaffinity(0)))
    assert 0 < health.cpu_set.busiest_pct <= 100
    assert result.cpu_set_samples[-1]["wall"] >= doc.measure_end
    assert 150 <= health.loop_lag.count <= 301  # at most 100 wake-ups a second, for 3 s
    assert doc.per_process[0].loop_lag_count == health.loop_lag.count


def test_two_processes_merge(tmp_path: Path) -> None:
    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, users=6, spawn_rate=50, warmup_s=1, duration_s=3, processes=2
        )
        result = loadgen.run_load(spec, tmp_path)
    doc = check_against_target(result, target, users=6)
    assert len(set(doc.processes)) == 2
    assert max(u.users for u in doc.users_series) == 6
    # Each process contributed, and the merge adds up to exactly their sum.
    parts = doc.per_process
    assert len(parts) == 2 and all(p.count > 0 for p in parts)
    assert sum(p.count for p in parts) == doc.completed
    assert not list(tmp_path.glob("requests.d/*"))
    # Both processes ran the loop-lag probe; the worst of them is what is judged.
    assert doc.loop_lag is not None and doc.loop_lag.processes == 2
    assert all(p.loop_lag_count is not None and p.loop_lag_count > 200 for p in parts)
    assert doc.loop_lag.worst_process_p99_ms == max(p.loop_lag_p99_ms or 0.0 for p in parts)


def test_rate_mode_measures_from_intended_send_time(tmp_path: Path) -> None:
    delay = 0.05
    # 2 users at 100 req/s: one send per user every 20 ms against a 50 ms server.
    with Target(delay_s=delay) as target:
        spec = loadgen.LoadSpec(
            target.url, scenario="write", mode="rate", rate=100, users=2,
            spawn_rate=50, warmup_s=0.5, duration_s=2.5,
        )  # fmt: skip
        result = loadgen.run_load(spec, tmp_path)
    doc = result.measured
    assert result.successful_creates_total == target.created()
    assert doc.behind_schedule > 0
    assert doc.target_rate == 100
    hist = doc.endpoint_histogram(CREATE)
    p = latency.percentiles(hist, [1, 50])
    assert p[1] >= delay * 1000 * 0.98
    # Backlog grows every send; from the intended time, the median is far above service time.
    assert p[50] > 4 * delay * 1000
    # 2 users with one request in flight each carry at most 2 / 50 ms = 40 req/s of the 100
    # asked: the sends they never got to are dropped, and the repetition is overloaded.
    kept = openloop.verdict(doc)
    assert kept is not None and kept.overloaded
    assert kept.achieved_rate <= 40 * 1.05
    owed = 100 * (doc.measure_end - doc.measure_start + doc.warmup_s) - target.created()
    assert doc.dropped > 0.5 * owed, (doc.dropped, owed)


def test_rate_mode_keeps_its_schedule(tmp_path: Path) -> None:
    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, scenario="detail", mode="rate", rate=200, users=4,
            spawn_rate=100, warmup_s=1, duration_s=2, seed_sessions=3, seed_messages=4,
        )  # fmt: skip
        result = loadgen.run_load(spec, tmp_path)
    doc = result.measured
    count = doc.endpoints[DETAIL].count
    assert abs(count - 200 * 2) <= 0.05 * 400, count
    assert doc.endpoints[DETAIL].failures == 0
    assert doc.behind_schedule <= 0.05 * count
    kept = openloop.verdict(doc)
    assert kept is not None and not kept.overloaded and kept.dropped == 0, kept
    # The warm-up runs on the schedule too: about the 200 requests its 1 s holds (the users
    # start at random phases within their interval, so a few more or fewer).
    warm = sum(e.count for e in doc.outside_window.warmup.values())
    assert 0.8 * 200 <= warm <= 1.1 * 200, warm


def test_a_window_ended_early_is_a_whole_shorter_window(tmp_path: Path) -> None:
    """``end_window`` (SIGUSR1 to Locust) ends the measured window where it says so: the file
    is written as at a planned end, the window is shorter than asked, the schedule is judged
    over that window (kept, nothing dropped) and every request is counted once."""
    asked: list[float] = []

    def end_after_one_second() -> bool:
        asked.append(time.monotonic())
        return asked[-1] - asked[0] >= 3.0  # Locust's start, its 1 s warm-up, 1 s of window

    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, scenario="detail", mode="rate", rate=200, users=4,
            spawn_rate=100, warmup_s=1, duration_s=20, seed_sessions=3, seed_messages=4,
        )  # fmt: skip
        result = loadgen.run_load(spec, tmp_path, end_window=end_after_one_second)
    doc = result.measured
    assert 0.3 < doc.duration_s < 5, doc.duration_s
    assert result.wall_s < 15
    count = doc.endpoints[DETAIL].count
    assert abs(count - 200 * doc.duration_s) <= 0.1 * 200 * doc.duration_s + 5, count
    kept = openloop.verdict(doc)
    assert kept is not None and not kept.overloaded and kept.dropped == 0, kept
    every = sum(c.count for c in doc.totals.values())
    outside = sum(c.count for rows in (doc.outside_window.warmup, doc.outside_window.drain)
                  for c in rows.values())  # fmt: skip
    assert every == count + outside


def test_stop_event_kills_everything(tmp_path: Path) -> None:
    stop = threading.Event()
    with Target() as target:
        spec = loadgen.LoadSpec(target.url, users=2, warmup_s=0, duration_s=30, processes=2)
        timer = threading.Timer(2.0, stop.set)
        timer.start()
        started = time.monotonic()
        with pytest.raises(loadgen.LoadgenInterrupted):
            loadgen.run_load(spec, tmp_path, stop_event=stop)
        timer.cancel()
    assert time.monotonic() - started < 10


def test_locust_failure_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loadgen, "LOCUSTFILE", tmp_path / "missing_locustfile.py")
    with pytest.raises(loadgen.LoadgenError, match="exited with code") as info:
        loadgen.run_load(loadgen.LoadSpec("http://127.0.0.1:9", duration_s=1), tmp_path / "o")
    assert "missing_locustfile" in info.value.log_tail


def test_refuses_remote_target(tmp_path: Path) -> None:
    with pytest.raises(loadgen.LoadgenError, match="non-loopback"):
        loadgen.run_load(loadgen.LoadSpec("http://192.0.2.1:8000"), tmp_path)
    loadgen.check_target("http://localhost:8000")
    loadgen.check_target("http://192.0.2.1:8000", allow_remote=True)


def test_spec_validation() -> None:
    with pytest.raises(loadgen.LoadgenError, match="rate mode needs a rate"):
        loadgen.LoadSpec("http://127.0.0.1:1", mode="rate")
    with pytest.raises(loadgen.LoadgenError, match="read scenario needs"):
        loadgen.LoadSpec("http://127.0.0.1:1", scenario="read")
    ramp = loadgen.LoadSpec("http://127.0.0.1:1", mode="ramp", ramp_steps=(2, 4), ramp_step_s=5)
    assert ramp.measure_s == 10
    cmd = loadgen.locust_command(ramp, Path("/tmp/x"))
    assert "--run-time" not in cmd and "-u" not in cmd


def test_a_shared_start_fixes_the_measured_window_in_wall_clock_time(tmp_path: Path) -> None:
    """Two Locusts given one ``start_at`` (a duet) measure the same window: warm-up from
    ``start_at``, measuring from ``start_at + warmup`` — not from whenever each started."""
    start_at = time.time() + 2.5
    with Target() as target:
        spec = loadgen.LoadSpec(
            target.url, users=2, spawn_rate=50, warmup_s=1, duration_s=2, start_at=start_at
        )
        assert loadgen.locust_env(spec, tmp_path)["CHATBENCH_START_AT"] == repr(start_at)
        result = loadgen.run_load(spec, tmp_path)
    assert result.measured.measure_start == pytest.approx(start_at + 1.0, abs=1e-3)
    assert result.measured.measure_end == pytest.approx(start_at + 3.0, abs=1e-3)
    assert result.measured.outside_window.warmup  # users ran before the window


def test_start_at_validation() -> None:
    with pytest.raises(loadgen.LoadgenError, match="start_at"):
        loadgen.LoadSpec("http://127.0.0.1:1", start_at=-1.0)
    with pytest.raises(loadgen.LoadgenError, match="not supported in ramp mode"):
        loadgen.LoadSpec("http://127.0.0.1:1", mode="ramp", ramp_steps=(2,), start_at=time.time())
    plain = loadgen.LoadSpec("http://127.0.0.1:1")
    assert loadgen.locust_env(plain, Path("/tmp/x"))["CHATBENCH_START_AT"] == "0.0"
