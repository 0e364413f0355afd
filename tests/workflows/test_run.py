"""`chatbench run` end to end: short real runs (seconds), their files, and their failures.

Runs go through the CLI (``chatbench.cli.main``, or the installed command in a subprocess when
a signal must be sent) against real services and Locust, or through ``workflows.bench.run``
when a fault is injected (``measuring.watch.RunHooks``). Most share the session's Postgres
(``--database-url``); the Ctrl-C test lets the run provision its own, to prove it stops it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import psutil
import pytest

from chatbench import cli
from chatbench.configuration import settings as config
from chatbench.configuration.endpoints import ALL
from chatbench.errors import IntegrityError, ServerError
from chatbench.measuring.watch import RunHooks
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.processes import process_tree
from chatbench.workflows import bench
from tests.fixtures.run_shape import GOLDEN, assert_same_shape

REPO_ROOT = Path(__file__).resolve().parents[2]
CHATBENCH = REPO_ROOT / ".venv" / "bin" / "chatbench"
CREATE = "POST /api/chat/messages"
# Seconds, not figures: smoke profile, 1 s warm-up, 2 s measured.
SHORT = ["--profile", "smoke", "--warmup", "1", "--duration", "2"]


def run_cli(args: list[str]) -> int:
    return cli.main(["run", *args])


def only_run_dir(out: Path) -> Path:
    dirs = [d for d in out.iterdir() if d.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def read_meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


@pytest.fixture
def children_before() -> set[int]:
    """This process's children before the test (e.g. the contract suite's session servers)."""
    return {p.pid for p in descendants(os.getpid())}


def new_children(before: set[int]) -> list[psutil.Process]:
    """Descendants of this process that the test itself started."""
    return [p for p in descendants(os.getpid()) if p.pid not in before]


def still_running(procs: list[psutil.Process]) -> list[str]:
    left = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{proc.pid}: {' '.join(proc.cmdline())[:120]}")
        except psutil.NoSuchProcess:
            continue
    return left


def short_cfg(pg_server_url: str, out: Path, variants: tuple[str, ...], duration_s: float = 2.0):
    """The SHORT run of ``variants`` on the session's Postgres, as a config."""
    return config.build(
        "smoke", variants=variants, warmup_s=1, duration_s=duration_s,
        database_url=pg_server_url, out_dir=out,
    )  # fmt: skip


# -- the happy path -------------------------------------------------------------------------


def test_smoke_run_two_variants_two_loadgen_processes(
    pg_server_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    children_before: set[int],
) -> None:
    """Every file of the run directory, with sane content; the terminal shows summary.csv."""
    args = [*SHORT, "--variants", "django,fastapi", "--loadgen-processes", "2"]
    rc = run_cli([*args, "--database-url", pg_server_url, "--out", str(tmp_path)])
    out, err = capsys.readouterr()
    assert rc == 0, err
    run_dir = only_run_dir(tmp_path)
    meta = read_meta(run_dir)
    assert meta["status"] == "complete" and meta["error"] is None
    assert meta["config"]["loadgen_processes"] == 2
    origins = meta["config"]["origins"]  # where each setting came from
    assert origins["loadgen_processes"] == origins["warmup_s"] == "command line"
    assert origins["repeat"] == "profile smoke" and origins["seed"] == "default"

    for variant in ("django", "fastapi"):
        rep = run_dir / "raw" / variant / "rep-1"
        for name in ("requests.json", "locust_stats.csv", "locust_stats_history.csv",
                     "locust_failures.csv", "locust_exceptions.csv", "locust.log"):  # fmt: skip
            assert (rep / name).is_file(), rep / name
        doc = json.loads((rep / "requests.json").read_text())
        # Two Locust worker processes, both contributed, merged exactly.
        assert len(set(doc["processes"])) == 2
        parts = doc["per_process"]
        assert len(parts) == 2 and all(p["count"] > 0 for p in parts)
        assert sum(p["count"] for p in parts) == sum(e["count"] for e in doc["endpoints"].values())
        recorded = sum(p["recorded"] for p in parts)
        assert recorded == sum(e["count"] - e["failures"] for e in doc["endpoints"].values())
        assert all(e["failures"] == 0 for e in doc["endpoints"].values())
        assert doc["endpoints"][CREATE]["count"] > 0
        # Integrity: rows written == successful creates, exactly, and not vacuously.
        (row,) = [r for r in meta["integrity"] if r["variant"] == variant]
        assert row["ok"] and row["expected"] == doc["successful_creates_total"] > 0
        assert row["expected"] <= row["actual"] <= row["expected"] + row["unfinished_creates"]
        assert row["expected"] > 0

    # One long-lived service per variant, started once: its log and its pause log under
    # services/<variant>/, its life in the record, every window's pauses in the evidence.
    assert set(meta["services"]) == {"django", "fastapi"}
    for variant in ("django", "fastapi"):
        assert (run_dir / "services" / variant / "service.log").is_file()
        assert list((run_dir / "services" / variant / "gc").glob("gc-*.jsonl"))
        assert f"{variant}#1" in meta["evidence"]["pauses"]
        assert meta["evidence"]["pauses"][f"{variant}#1"]["processes"] >= 1
    assert not list(run_dir.glob("raw/*/rep-*/service.log"))

    samples = pd.read_csv(run_dir / "samples.csv")
    for variant in ("django", "fastapi"):
        roles = set(samples[samples["variant"] == variant]["role"])
        assert {"server", "loadgen"} <= roles

    # Pinned apart from the service, every Locust process (master and both workers) ran under
    # SCHED_IDLE, as the OS reported it during the load.
    if meta["cpu_plan"]["loadgen_policy"] == "SCHED_IDLE":
        policies = [m["loadgen_policy"] for m in meta["evidence"]["affinity"].values()]
        assert policies and all(p == ["SCHED_IDLE"] for p in policies), policies

    summary = pd.read_csv(run_dir / "summary.csv")
    assert json.loads((run_dir / "summary.json").read_text())
    totals = summary[(summary["endpoint"] == ALL)].set_index(["variant", "metric"])["value"]
    for variant in ("django", "fastapi"):
        assert totals[(variant, "rps")] > 0
        assert totals[(variant, "failures")] == 0
        assert 0 < totals[(variant, "p50")] <= totals[(variant, "p99")]

    pngs = {p.stem for p in (run_dir / "charts").glob("*.png")}
    svgs = {p.stem for p in (run_dir / "charts").glob("*.svg")}
    assert pngs and pngs == svgs
    html = (run_dir / "report.html").read_text()
    assert "django" in html and "fastapi" in html
    # The report opens with its answer and says which cross-check vouches for Locust.
    assert '<ul class="answer"><li>Capacity (closed loop' in html
    assert 'id="crosscheck">Load generator: ' in html

    # The terminal's figures are summary.csv's, formatted; the table fits 80 columns.
    for variant in ("django", "fastapi"):
        printed = next(ln.split() for ln in out.splitlines() if ln.split()[:2] == [variant, "all"])
        assert printed[2] == f"{totals[(variant, 'rps')]:.1f}"
        assert printed[3] == f"{totals[(variant, 'p50')]:.2f}"
        assert printed[5] == f"{totals[(variant, 'p99')]:.2f}"
    assert max(len(line) for line in out.splitlines()) <= 80
    assert str(run_dir / "report.html") in out.replace("\n", "")

    # No Locust worker (or service) outlived the run.
    assert still_running(new_children(children_before)) == []

    # The files, summary.csv's columns and meta.json's keys are the golden list's, and
    # `chatbench report` redraws the same files in place (tests/fixtures/run_shape.py).
    assert_same_shape(run_dir, GOLDEN / "smoke_run.json")
    assert cli.main(["report", str(run_dir)]) == 0
    assert_same_shape(run_dir, GOLDEN / "smoke_run.json")


# -- faults -----------------------------------------------------------------------------------


def test_integrity_check_catches_a_lost_write(pg_server_url: str, tmp_path: Path) -> None:
    def lose_one_write(variant: str, rep: int, database_url: str | None) -> None:
        with postgres.connect(database_url) as conn:
            conn.execute("DELETE FROM chat_messages WHERE id = (SELECT max(id) FROM chat_messages)")

    cfg = short_cfg(pg_server_url, tmp_path, ("fastapi",))
    with pytest.raises(IntegrityError, match="Integrity check failed") as info:
        bench.run(cfg, hooks=RunHooks(after_load=lose_one_write), report=False)
    assert info.value.exit_code == 1
    meta = read_meta(only_run_dir(tmp_path))
    assert meta["status"] == "failed"
    assert "Integrity check failed" in meta["error"]
    (row,) = meta["integrity"]
    assert not row["ok"] and row["actual"] == row["expected"] - 1


def test_a_killed_service_fails_the_run(
    children_before: set[int], pg_server_url: str, tmp_path: Path
) -> None:
    killed: list[int] = []

    def kill_service(variant: str, rep: int, server_pid: int | None, elapsed_s: float) -> None:
        if not killed and server_pid and elapsed_s > 1.5:
            os.kill(server_pid, signal.SIGKILL)
            killed.append(server_pid)

    cfg = short_cfg(pg_server_url, tmp_path, ("fastapi",), duration_s=30)
    started = time.monotonic()
    with pytest.raises(ServerError, match="fastapi service exited unexpectedly") as info:
        bench.run(cfg, hooks=RunHooks(during_load=kill_service), report=False)
    assert killed, "the hook never ran"
    assert info.value.exit_code == 1
    assert time.monotonic() - started < 25, "the run went on after its service died"
    meta = read_meta(only_run_dir(tmp_path))
    assert meta["status"] == "failed" and "exited unexpectedly" in meta["error"]
    assert still_running(new_children(children_before)) == []


def test_a_killed_service_in_a_duet_stops_both_sides(
    children_before: set[int], pg_server_url: str, tmp_path: Path
) -> None:
    """A duet (two sides loaded at once, see chatbench.workflows.ab): when one side's service dies the
    other side's load stops too, the run fails naming the dead one, and nothing is left."""
    import dataclasses

    killed: list[str] = []

    def kill_fastapi(variant: str, rep: int, server_pid: int | None, elapsed_s: float) -> None:
        if variant == "fastapi" and not killed and server_pid and elapsed_s > 1.5:
            os.kill(server_pid, signal.SIGKILL)
            killed.append(variant)

    cfg = short_cfg(pg_server_url, tmp_path, ("django", "fastapi"), duration_s=30)
    cfg = dataclasses.replace(cfg, duet=True).validate()
    started = time.monotonic()
    with pytest.raises(ServerError, match="fastapi service exited unexpectedly"):
        bench.run(cfg, hooks=RunHooks(during_load=kill_fastapi), report=False)
    assert killed == ["fastapi"]
    assert time.monotonic() - started < 25, "the other side's load went on"
    meta = read_meta(only_run_dir(tmp_path))
    assert meta["status"] == "failed" and meta["config"]["duet"] is True
    assert still_running(new_children(children_before)) == []


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A TMPDIR of the test's own, short (Postgres' socket path is limited), removed after."""
    path = Path(tempfile.mkdtemp(prefix="cbt-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_ctrl_c_mid_run_stops_everything_and_marks_the_run_incomplete(
    tmp_path: Path, scratch: Path
) -> None:
    """SIGINT to the CLI during the load: exit 130 within 10 s, nothing left, run incomplete.

    This run provisions its own embedded Postgres, so stopping it is part of what is checked.
    """
    cmd = [
        str(CHATBENCH),
        "run",
        *SHORT[:-1],
        "30",
        "--variants",
        "fastapi",
        "--out",
        str(tmp_path),
    ]
    env = {k: v for k, v in os.environ.items() if k != "CHATBENCH_DATABASE_URL"} | {
        "TMPDIR": str(scratch)
    }
    proc = subprocess.Popen(
        cmd, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        locust_log = None
        while time.monotonic() < deadline and proc.poll() is None:
            found = list(tmp_path.glob("*/raw/fastapi/rep-1/locust.log"))
            if found and any("locust" in " ".join(p.cmdline()) for p in descendants(proc.pid)):
                locust_log = found[0]
                break
            time.sleep(0.2)
        assert locust_log is not None, f"the load phase never started: {proc.poll()}"
        children = descendants(proc.pid)
        postmaster = read_meta(locust_log.parents[3])["postgres"]["postmaster_pid"]
        proc.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = proc.communicate(timeout=30)
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert took < 10, f"stopping took {took:.1f} s"
    assert "Traceback" not in err and "Interrupted" in err
    assert still_running(children) == []
    assert not psutil.pid_exists(postmaster) or psutil.Process(postmaster).status() == "zombie"
    meta = read_meta(only_run_dir(tmp_path))
    assert meta["status"] == "incomplete"
    assert "interrupted" in meta["error"]
    # The cluster's data directory (and every other scratch directory) went with it.
    assert sorted(p.name for p in scratch.iterdir()) == []


# -- bad arguments ----------------------------------------------------------------------------


def _outside_cpu() -> str:
    return str(max(cpuplan.available_cpus()) + 1)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--variants", "nope"], "Unknown variant"),
        (["--profile", "nope"], "Unknown profile"),
        (["--users", "0"], "--users must be above 0"),
        (["--service-env", "django-no-assignment"], "--service-env takes VARIANT:NAME=VALUE"),
        (["--service-env", "django:lower=1"], "not an environment variable name"),
        (["--server-cpus", _outside_cpu()], "--server-cpus names CPUs outside"),
        (["--target", "http://192.0.2.10:8000", "--variant-label", "x"], "non-loopback"),
        (["--target", "http://127.0.0.1:9"], "--target needs --variant-label"),
        (["--duration", "abc"], "Invalid value for '--duration'"),
        (["--no-such-option"], "No such option"),
    ],
)
def test_bad_arguments_exit_2_with_one_sentence(
    args: list[str], says: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc = run_cli([*args, "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert rc == 2
    assert says in " ".join(err.split())
    assert err.count("error:") == 1 and "Traceback" not in err
    assert not list(tmp_path.iterdir()), "nothing may start for bad arguments"


def test_bad_argument_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(CHATBENCH), "run", "--duration", "abc", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and "error:" in done.stderr


# -- an already running service ---------------------------------------------------------------


def test_target_measures_a_separately_started_service(
    start_variant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_variant("fastapi", db_name="t_run_target_fastapi")
    # Deployed apart from the load generator, as it would be: the run judges the load
    # generator's CPUs whole, so a service spread onto them would count against it.
    plan = cpuplan.make_plan()
    for proc in process_tree(server.pid):
        for thread in proc.threads():
            os.sched_setaffinity(thread.id, plan.server)
    rc = run_cli(
        [
            *SHORT,
            "--target",
            server.base_url,
            "--variant-label",
            "fastapi-ext",
            "--database-url",
            server.database_url,
            "--out",
            str(tmp_path),
        ]  # fmt: skip
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert server.alive(), "a --target run must not stop the service it measured"
    run_dir = only_run_dir(tmp_path)
    meta = read_meta(run_dir)
    assert meta["status"] == "complete"
    assert list(meta["variants"]) == ["fastapi-ext"]
    assert (run_dir / "raw" / "fastapi-ext" / "rep-1" / "requests.json").is_file()
    (row,) = meta["integrity"]
    assert row["ok"] and row["expected"] > 0
    assert row["expected"] <= row["actual"] <= row["expected"] + row["unfinished_creates"]
    # What cannot be seen from here is "not checked", never a pretend "held".
    verdicts = {r["name"]: r["verdict"] for r in meta["fairness"]["rules"]}
    assert verdicts.pop("loadgen_headroom") == "held"  # 4 users are light work for Locust
    health = meta["evidence"]["loadgen_health"]["fastapi-ext#1"]
    assert health["measured"] and health["cpu_set"]["cpus"] == list(plan.loadgen)
    assert verdicts and set(verdicts.values()) == {"not checked"}
    summary = pd.read_csv(run_dir / "summary.csv")
    assert set(summary["variant"]) == {"fastapi-ext"}
    assert (run_dir / "report.html").is_file()


# -- a variant from a file ---------------------------------------------------------------------

THROWAWAY = """
[variants.throwaway]
framework = "fastapi"
server = "uvicorn"
command = ["-m", "impl_fastapi.serve"]
env = { CHATBENCH_FASTAPI_ROUTES = "sync", CHATBENCH_WORKERS = "1" }
description = "FastAPI sync routes on one uvicorn worker, declared in a test's own file"
"""


def test_a_variant_declared_in_a_file_runs_without_touching_chatbench(
    pg_server_url: str, tmp_path: Path
) -> None:
    """The installed command, given only a TOML file, starts, measures and records the variant."""
    variant_file = tmp_path / "throwaway.toml"
    variant_file.write_text(THROWAWAY)
    out = tmp_path / "out"
    done = subprocess.run(
        [str(CHATBENCH), "run", *SHORT, "--variants-file", str(variant_file),
         "--variants", "throwaway", "--users", "4", "--database-url", pg_server_url,
         "--out", str(out), "--allow-unfair"],  # about the registry, not the machine's headroom
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    meta = read_meta(only_run_dir(out))
    assert meta["status"] == "complete" and list(meta["variants"]) == ["throwaway"]
    recorded = meta["variants"]["throwaway"]
    assert recorded["description"].startswith("FastAPI sync routes on one uvicorn worker")
    assert recorded["env"]["CHATBENCH_FASTAPI_ROUTES"] == "sync"
    assert all(row["ok"] and row["expected"] > 0 for row in meta["integrity"])


def test_two_running_targets_are_measured_interleaved(
    start_variant, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--target NAME=URL`` twice: both services measured A B, B A, each under its own name."""
    first = start_variant("fastapi", db_name="t_run_targets_a")
    second = start_variant("django-ninja", db_name="t_run_targets_b")
    plan = cpuplan.make_plan()
    for server in (first, second):  # deployed apart from the load generator, as above
        for proc in process_tree(server.pid):
            for thread in proc.threads():
                os.sched_setaffinity(thread.id, plan.server)
    rc = run_cli(
        [*SHORT, "--repeat", "2", "--warmup", "0.5", "--duration", "1", "--users", "4",
         "--out", str(tmp_path),
         "--target", f"api={first.base_url}", "--target", f"ninja={second.base_url}",
         "--allow-unfair"]  # about the schedule and records, not this machine's headroom
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert first.alive() and second.alive(), "a --target run must not stop what it measured"
    meta = read_meta(only_run_dir(tmp_path))
    assert meta["status"] == "complete"
    assert meta["config"]["targets"] == {"api": first.base_url, "ninja": second.base_url}
    assert {n: v["target_url"] for n, v in meta["variants"].items()} == meta["config"]["targets"]
    measured = [(r["variant"], r["repetition"]) for r in meta["repetitions"]]
    assert measured == [("api", 1), ("ninja", 1), ("ninja", 2), ("api", 2)]
    # Without the services' databases there is nothing to count rows in: skipped, not passed.
    rows = meta["integrity"]
    assert len(rows) == 4 and all(r["actual"] is None and r["skipped"] for r in rows)
    assert all(r["expected"] > 0 for r in rows)  # both services took writes
    summary = pd.read_csv(only_run_dir(tmp_path) / "summary.csv")
    assert set(summary["variant"]) == {"api", "ninja"}


@pytest.mark.parametrize(
    ("targets", "message"),
    [
        (["a=http://127.0.0.1:1", "a=http://127.0.0.1:2"], "names 'a' twice"),
        (["a=http://example.com:80"], "loopback"),
        (["=http://127.0.0.1:1"], "is not NAME=URL"),
    ],
)
def test_bad_targets_exit_2(targets: list[str], message: str, capsys) -> None:
    args = [arg for t in targets for arg in ("--target", t)]
    assert run_cli([*SHORT, *args]) == 2
    err = capsys.readouterr().err
    assert message in err.replace("\n", " ") and "Traceback" not in err


def test_granian_under_both_frameworks_is_judged_like_the_other_servers(
    pg_server_url: str, tmp_path: Path
) -> None:
    """The fairness rules read workers, connections and keep-alive back from granian too."""
    rc = run_cli(
        [*SHORT, "--variants", "django[server=granian],fastapi[server=granian]", "--users", "4",
         "--database-url", pg_server_url, "--out", str(tmp_path), "--allow-unfair"]
    )  # fmt: skip
    assert rc == 0
    meta = read_meta(only_run_dir(tmp_path))
    verdicts = {r["name"]: r["verdict"] for r in meta["fairness"]["rules"]}
    for rule in ("workers_as_recorded", "connection_cap", "keep_alive"):
        assert verdicts[rule] == "held", (rule, meta["fairness"]["rules"])
    for name, variant in meta["variants"].items():
        assert variant["server"] == "granian", name
        assert variant["processes_observed"] == int(variant["workers"]) + 1, name
    assert all(row["ok"] and row["expected"] > 0 for row in meta["integrity"])
