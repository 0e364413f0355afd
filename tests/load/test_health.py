"""Load-generator health (``chatbench.load.health.LoadgenHealth``): the busy share of the whole
load-generator CPU set over the measured window, and each Locust process's event-loop lag.

Unit tests feed the window computation synthetic per-CPU counters and the merge synthetic
per-process lag; the real runs are short ``chatbench run``s (seconds) on the session's Postgres,
once with a busy loop pinned to every load-generator CPU of the plan and once without: the hog
must make the repetition invalid for its CPU set, and its absence must leave it valid.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import psutil
import pytest

from chatbench import cli
from chatbench.load import health as loadhealth
from chatbench.load import latency
from chatbench.load.health import CpuSetBusy, LoadgenHealth, LoopLag, cpu_set_busy
from chatbench.provisioning import cpuplan
from loadtests.recorder import Recorder

# --------------------------------------------------------------------------- synthetic CPU sets


def counters(
    busy_pct, *, cpus: int = 1, step: float = 0.5, until: float = 20.0, t0: float = 1000.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cumulative (wall, busy s, total s) of a CPU set sampled every ``step`` seconds, where
    ``busy_pct(t)`` is the set's busy % during the interval ending at t (seconds after t0)."""
    t = np.arange(0.0, until + step / 2, step)
    busy = np.concatenate([[0.0], np.cumsum([busy_pct(x) / 100 * step * cpus for x in t[1:]])])
    return t0 + t, busy, t * cpus


def burst(t: float) -> float:
    """40 % busy, except 100 % during seconds 10..13."""
    return 100.0 if 10.0 < t <= 13.0 else 40.0


def test_the_busiest_stretch_shows_saturation_that_the_mean_hides() -> None:
    walls, busy, total = counters(burst)
    got = cpu_set_busy(walls, busy, total, 1002.0, 1018.0, cpus=(0,))
    assert got.stretch_s == loadhealth.BUSY_STRETCH_S == 5.0
    # Busiest 5 s: the 3 saturated seconds and 2 at 40 %; the 16 s mean dilutes them.
    assert got.busiest_pct == pytest.approx((3 * 100 + 2 * 40) / 5)
    assert got.mean_pct == pytest.approx((13 * 40 + 3 * 100) / 16)
    assert 6.0 - 1e-9 <= got.busiest_from_s <= 8.0 + 1e-9  # holds all of seconds 10..13
    # A shorter stretch is all saturation.
    short = cpu_set_busy(walls, busy, total, 1002.0, 1018.0, cpus=(0,), stretch_s=2.0)
    assert short.busiest_pct == pytest.approx(100.0)
    # The series has one point per 0.5 s interval, so the saturated seconds show.
    assert len(got.series) == 32
    assert [p for s, p in got.series if 6.0 < s <= 11.0] == pytest.approx([40.0] * 4 + [100.0] * 6)


def test_window_edges_between_samples_are_interpolated() -> None:
    walls, busy, total = counters(lambda t: 20.0 if t <= 5.0 else 80.0)
    # 4.75 s at 20 % then 5.25 s at 80 %, neither edge on a sample.
    got = cpu_set_busy(walls, busy, total, 1000.25, 1010.25, cpus=(0,), stretch_s=20.0)
    assert got.stretch_s == pytest.approx(10.0)  # a window shorter than the stretch: all of it
    assert got.mean_pct == pytest.approx(got.busiest_pct)
    # Counters are linear inside a sampling interval, so the edges cut them pro rata.
    assert got.mean_pct == pytest.approx((4.75 * 20 + 5.25 * 80) / 10)


def test_the_share_is_of_the_whole_set() -> None:
    # Two CPUs, one of them busy: the set is half busy (100 % = every CPU of the set busy).
    walls, busy, total = counters(lambda t: 50.0, cpus=2)
    got = cpu_set_busy(walls, busy, total, 1001.0, 1009.0, cpus=(0, 1))
    assert got.busiest_pct == pytest.approx(50.0) and got.cpus == (0, 1)
    assert got.as_dict()["cpus"] == [0, 1] and got.as_dict()["busy_pct"] == 50.0


def test_samples_that_miss_the_window_are_not_judged() -> None:
    walls, busy, total = counters(lambda t: 100.0, until=4.0)
    late = cpu_set_busy(walls, busy, total, 1003.0, 1013.0, cpus=(0,))  # covers 1 s of 10
    assert not late.measured and math.isnan(late.busiest_pct)
    assert late.as_dict()["busy_pct"] is None
    health = LoadgenHealth(late, LoopLag(10.0, 500, 1.0, 2.0))
    assert health.valid and not health.measured  # unknown is not "saturated", nor "held"


def lag(p99: float | None, count: int = 900) -> LoopLag:
    return LoopLag(10.0, count, p99, None if p99 is None else p99 * 2)


def test_health_names_each_broken_limit() -> None:
    walls, busy, total = counters(lambda t: 95.0)
    hot = cpu_set_busy(walls, busy, total, 1002.0, 1012.0, cpus=(0,))
    walls, busy, total = counters(lambda t: 30.0)
    cool = cpu_set_busy(walls, busy, total, 1002.0, 1012.0, cpus=(0,))
    assert LoadgenHealth(cool, lag(2.0)).valid
    (cpu,) = LoadgenHealth(hot, lag(2.0)).problems
    assert cpu.startswith("load-generator CPU set {0} was 95 % busy over the busiest 5 s")
    (loop,) = LoadgenHealth(cool, lag(12.5)).problems
    assert loop == "a load-generator event loop woke 12.5 ms late at p99 (limit 10 ms; worst 25 ms)"
    both = LoadgenHealth(hot, lag(12.5))
    assert len(both.problems) == 2 and not both.valid and both.measured
    assert both.as_dict()["problems"] == list(both.problems)
    assert not LoadgenHealth(cool, lag(None, 0)).measured


def test_a_set_saturated_by_the_database_keeps_the_figures_and_says_so() -> None:
    """Postgres doing most of the other work on a saturated set while the generator kept
    headroom: the variant's own cost, valid and named; a busy machine instead (Postgres idle,
    or the service sharing the set, or the generator itself busy): invalid."""
    walls, busy, total = counters(lambda t: 98.0)
    hot = cpu_set_busy(walls, busy, total, 1002.0, 1012.0, cpus=(0,))
    by_database = LoadgenHealth(hot, lag(2.0), own_cpu_pct=30.0, database_cpu_pct=60.0)
    assert by_database.valid and by_database.attributed
    assert by_database.other_cpu_pct == pytest.approx(68.0, abs=0.5)
    assert "Postgres using 60 % of a CPU there" in by_database.shared
    assert by_database.as_dict()["shared"] == by_database.shared
    by_a_hog = LoadgenHealth(hot, lag(2.0), own_cpu_pct=30.0, database_cpu_pct=10.0)
    assert not by_a_hog.valid and not by_a_hog.attributed and not by_a_hog.shared
    sharing = LoadgenHealth(hot, lag(2.0), own_cpu_pct=30.0, database_cpu_pct=60.0,
                            database_only=False)  # fmt: skip
    assert not sharing.valid
    # The generator yields to Postgres: loops late while the database holds the core are its
    # cost too (said), up to ATTRIBUTED_LAG_LIMIT_MS; later than that, the generator's wait.
    waited = LoadgenHealth(hot, lag(12.5), own_cpu_pct=30.0, database_cpu_pct=60.0)
    assert waited.valid and waited.attributed
    assert "loops waited for the database's CPU" in waited.shared and "12.5 ms" in waited.shared
    late = LoadgenHealth(hot, lag(60.0), own_cpu_pct=30.0, database_cpu_pct=60.0)
    assert len(late.problems) == 2 and not late.attributed
    late_by_a_hog = LoadgenHealth(hot, lag(12.5), own_cpu_pct=30.0, database_cpu_pct=10.0)
    assert len(late_by_a_hog.problems) == 2 and not late_by_a_hog.valid
    busy_itself = LoadgenHealth(hot, lag(2.0), own_cpu_pct=95.0, database_cpu_pct=3.0)
    assert any("own processes used 95 %" in p for p in busy_itself.problems)
    unobserved = LoadgenHealth(hot, lag(2.0), own_cpu_pct=30.0)  # no Postgres reading
    assert not unobserved.valid


def test_a_duet_side_takes_the_shared_cpu_set_and_keeps_its_own_lag() -> None:
    walls, busy, total = counters(lambda t: 97.0)
    shared = cpu_set_busy(walls, busy, total, 1002.0, 1012.0, cpus=(0,))
    side = LoadgenHealth(CpuSetBusy((0,), 40.0, 41.0, 0.0, 5.0), lag(3.0))
    moved = side.with_cpu_set(shared)
    assert not moved.valid and moved.loop_lag == side.loop_lag


def test_cpu_set_counters_come_from_the_os() -> None:
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    began = time.monotonic()
    busy0, total0 = loadhealth._cpu_set_times(cpus)
    while time.monotonic() - began < 0.5:  # busy: this process's own CPU must show
        sum(range(10_000))
    busy1, total1 = loadhealth._cpu_set_times(cpus)
    elapsed = time.monotonic() - began
    assert 0 <= busy0 <= total0 and 0 <= busy1 <= total1
    # Every CPU of the set counts its whole time, busy or not: the set's total grows by the
    # wall time times its size (to the kernel's 10 ms ticks, and what a VM's clock allows).
    assert total1 - total0 == pytest.approx(elapsed * len(cpus), rel=0.2, abs=0.05)
    # This process spun the whole time on one CPU of the set.
    assert busy1 - busy0 >= 0.8 * elapsed - 0.05


# --------------------------------------------------------------------------- loop lag


def started_recorder(t0: float = 1000.0) -> Recorder:
    rec = Recorder()
    rec.start(t0, {"warmup_s": 1.0, "measure_s": 10.0, "scenario": "chat", "mode": "closed"})
    return rec


def test_the_recorder_keeps_loop_lag_of_the_measured_window_only() -> None:
    rec = started_recorder()
    rec.record_lag(0.500, now=1000.5)  # warm-up: left out
    for i in range(99):
        rec.record_lag(0.001, now=1002.0 + i * 0.01)
    rec.record_lag(0.040, now=1005.0)
    rec.record_lag(-0.0002, now=1006.0)  # woke a hair early: no lag, not a negative one
    rec.record_lag(0.900, now=1011.5)  # drain: left out
    doc = rec.to_doc(now=1012.0)["loop_lag"]
    assert doc["interval_ms"] == 10.0 and doc["count"] == 101
    hist = latency.decode(doc["hdr"])
    assert hist.get_max_value() == pytest.approx(40_000, rel=0.001)  # µs
    assert hist.get_min_value() <= 1


def lag_doc(values_ms: list[float], pid: int, *, probe: bool = True) -> latency.RequestsDocument:
    """One process's requests file; ``probe=False``: from a recorder without the loop-lag probe."""
    rec = started_recorder()
    for i, v in enumerate(values_ms):
        rec.record_lag(v / 1000.0, now=1002.0 + i * 0.001)
    doc = rec.to_doc(now=1012.0)
    doc["processes"] = [pid]
    if not probe:
        del doc["loop_lag"]
    return latency.parse_requests(doc)


def test_merge_keeps_each_processs_loop_lag_and_judges_the_worst() -> None:
    calm = lag_doc([1.0] * 200, pid=1)
    stalled = lag_doc([1.0] * 180 + [25.0] * 20, pid=2)  # 10 % of its wake-ups 25 ms late
    merged = latency.merge_requests([calm, stalled])
    lag_ = merged.loop_lag
    assert lag_ is not None and lag_.processes == 2 and lag_.count == 400
    assert latency.decode(lag_.hdr).get_total_count() == 400
    assert lag_.worst_process_p99_ms == pytest.approx(25.0, rel=0.01)
    assert lag_.max_ms == pytest.approx(25.0, rel=0.01)
    by_pid = {p.pids[0]: p for p in merged.per_process}
    assert by_pid[1].loop_lag_p99_ms == pytest.approx(1.0, rel=0.01)
    assert by_pid[2].loop_lag_p99_ms == pytest.approx(25.0, rel=0.01)
    assert by_pid[1].loop_lag_count == by_pid[2].loop_lag_count == 200
    judged = LoopLag.from_requests(merged)
    assert judged.measured and judged.worst_process_p99_ms == lag_.worst_process_p99_ms
    # Files from a recorder without the probe merge as before, with no loop_lag at all.
    calm, stalled = (lag_doc([1.0] * 200, pid, probe=False) for pid in (1, 2))
    unprobed = latency.merge_requests([calm, stalled])
    assert unprobed.loop_lag is None and "loop_lag" not in unprobed.dump()
    assert not LoopLag.from_requests(unprobed).measured


# --------------------------------------------------------------------------- real runs


def _pin(cpu: int):
    return lambda: os.sched_setaffinity(0, {cpu})


@pytest.fixture
def cpu_hog() -> Iterator[tuple[int, ...]]:
    """A busy loop pinned to each CPU of the plan's load-generator set; killed however the
    test ends."""
    plan = cpuplan.make_plan()
    assert plan.pinned, plan.note  # this machine has 2 CPUs: service on one, load on the other
    hogs: list[subprocess.Popen] = []
    try:
        for cpu in plan.loadgen:
            hogs.append(
                subprocess.Popen(
                    [sys.executable, "-c", "while True: pass"],
                    preexec_fn=_pin(cpu),
                    start_new_session=True,
                )
            )
        deadline = time.monotonic() + 10
        for hog in hogs:  # running, and on its CPU, before the run starts
            proc = psutil.Process(hog.pid)
            while sum(proc.cpu_times()[:2]) < 0.05:
                assert time.monotonic() < deadline, "the CPU hog never ran"
                assert hog.poll() is None, "the CPU hog exited"
                time.sleep(0.01)
            assert proc.cpu_affinity() == [plan.loadgen[hogs.index(hog)]]
        yield plan.loadgen
    finally:
        for hog in hogs:
            hog.kill()
        for hog in hogs:
            hog.wait(timeout=10)


SMOKE = ["--profile", "smoke", "--variants", "fastapi", "--warmup", "1", "--duration", "3"]


def _run(pg_server_url: str, out: Path) -> tuple[int, dict, Path]:
    rc = cli.main(["run", *SMOKE, "--database-url", pg_server_url, "--out", str(out)])
    (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
    return rc, json.loads((run_dir / "meta.json").read_text()), run_dir


def _figures(meta: dict) -> str:
    h = meta["evidence"]["loadgen_health"]["fastapi#1"]
    lag_ = h["loop_lag"]
    return (
        f"CPU set {h['cpu_set']['cpus']} busy {h['cpu_set']['busy_pct']} % (busiest "
        f"{h['cpu_set']['stretch_s']:g} s; mean {h['cpu_set']['mean_pct']} %), loop lag p99 "
        f"{lag_['worst_process_p99_ms']} ms, max {lag_['max_ms']} ms ({lag_['count']} wake-ups)"
    )


def test_a_cpu_hog_on_the_loadgen_cpus_makes_the_repetition_invalid(
    pg_server_url: str, tmp_path: Path, cpu_hog: tuple[int, ...], capsys: pytest.CaptureFixture
) -> None:
    rc, meta, run_dir = _run(pg_server_url, tmp_path)
    out, err = capsys.readouterr()
    with capsys.disabled():
        print(f"\nwith a CPU hog on {list(cpu_hog)}: {_figures(meta)}")
    assert rc == 3, err  # not comparable: loadgen_headroom violated
    cpus = ",".join(map(str, cpu_hog))
    (invalid,) = meta["invalid_repetitions"]
    assert invalid["variant"] == "fastapi" and invalid["repetition"] == 1
    assert invalid["loadgen_fault"] is True  # what the SLO search reads to retry a window
    assert f"load-generator CPU set {{{cpus}}} was" in invalid["reason"]
    health = meta["evidence"]["loadgen_health"]["fastapi#1"]
    assert health["valid"] is False and health["cpu_set"]["busy_pct"] > loadhealth.BUSY_LIMIT_PCT
    assert health["cpu_set"]["cpus"] == list(cpu_hog)
    rules = {r["name"]: r for r in meta["fairness"]["rules"]}
    assert rules["loadgen_headroom"]["verdict"] == "violated"
    assert "invalid: fastapi#1" in rules["loadgen_headroom"]["evidence"]
    # The terminal says which repetition and why.
    said = " ".join(err.split())
    assert "fastapi repetition 1 is invalid (loadgen saturated: load-generator CPU set" in said
    # The CPU set's own samples are in samples.csv, and the run's figures say the same.
    samples = pd.read_csv(run_dir / "samples.csv")
    cpu_rows = samples[samples["role"] == "loadgen_cpus"]
    assert len(cpu_rows) >= 6 and cpu_rows["cpu_percent"].max() > loadhealth.BUSY_LIMIT_PCT
    summary = pd.read_csv(run_dir / "summary.csv")
    busy = summary[summary["metric"] == "loadgen_busy_pct"]["value"]
    assert busy.tolist() == pytest.approx([health["cpu_set"]["busy_pct"]], abs=0.05)


def test_the_same_run_without_the_hog_is_not_marked(
    pg_server_url: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    rc, meta, _ = _run(pg_server_url, tmp_path)
    _, err = capsys.readouterr()
    with capsys.disabled():
        print(f"\nwithout a hog: {_figures(meta)}")
    assert rc == 0, err
    assert not meta.get("invalid_repetitions")
    health = meta["evidence"]["loadgen_health"]["fastapi#1"]
    assert health["valid"] is True and health["measured"] is True
    assert 0 < health["cpu_set"]["busy_pct"] <= loadhealth.BUSY_LIMIT_PCT
    assert health["cpu_set"]["series"]
    assert health["loop_lag"]["count"] > 100  # the probe ran through the window
    assert health["loop_lag"]["worst_process_p99_ms"] <= loadhealth.LOOP_LAG_LIMIT_MS
    rules = {r["name"]: r for r in meta["fairness"]["rules"]}
    assert rules["loadgen_headroom"]["verdict"] == "held"
    assert "is invalid" not in err
