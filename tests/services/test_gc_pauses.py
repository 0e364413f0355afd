"""Each service records its own garbage-collection pauses, and both read the ``gc`` axis alike.

With ``CHATBENCH_GC_LOG`` set, every process that serves requests, and only those, writes its
start-up and, under load, its full collections (impl_django/gcpauses.py, impl_fastapi/
gcpauses.py), on every server the services run on: gunicorn gthread, uvicorn (Django over ASGI
with two workers, FastAPI in one process) and granian (both frameworks). The files are read with
the harness's own reader (chatbench.serving.pauses). ``CHATBENCH_GC=freeze`` and ``threshold``
show in what the processes report; a bad value stops a service before it serves.
"""

from __future__ import annotations

import gc
import itertools
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import get_args

import httpx
import pytest
from django.core.exceptions import ImproperlyConfigured
from pydantic import ValidationError

from chatbench.configuration import variants
from chatbench.provisioning.processes import process_tree
from chatbench.serving import pauses, servers
from impl_django import env as django_env
from impl_django import gcpauses as django_hook
from impl_fastapi import config as fastapi_config
from impl_fastapi import gcpauses as fastapi_hook
from tests.conftest import REPO_ROOT

LOAD_DEADLINE_S = 60.0  # a bound on a failing wait; a passing one returns in seconds
DEFAULT_THRESHOLD = gc.get_threshold()  # this interpreter's, as the services run on it
FAKE_DATABASE = "postgresql://u@127.0.0.1:1/none"  # never connected to: nothing here serves


def _db(label: str) -> str:
    return "t_gc_" + "".join(c if c.isalnum() else "_" for c in label)


def _serving_pids(server: servers.RunningServer) -> set[int]:
    """The processes that answer requests: the workers under a master (gunicorn's arbiter,
    uvicorn's supervisor, granian's main process), else the one process itself."""
    workers = {
        p.pid
        for p in process_tree(server.pid)[1:]
        if "resource_tracker" not in " ".join(p.cmdline())  # uvicorn's multiprocessing helper
    }
    return workers or {server.pid}


def _wait_for(directory: Path, ready, what: str, *, load_url: str | None = None):
    """Poll the pause log until ``ready(log)``, driving chat traffic meanwhile when ``load_url``
    is given; fail after LOAD_DEADLINE_S saying ``what`` never showed."""
    deadline = time.monotonic() + LOAD_DEADLINE_S
    turn = itertools.count()
    # A new connection per request: kept-alive connections could all land on one worker of a
    # pre-forked server, and the other would never collect while serving.
    with httpx.Client(base_url=load_url or "http://127.0.0.1:1", timeout=20,
                      headers={"Connection": "close"}) as client:  # fmt: skip

        def conversation(i: int) -> None:
            session = f"gc-{i % 4}"  # histories grow, so each read returns more rows
            body = {"role": "user", "content": "x" * 200, "session_id": session}
            assert client.post("/api/chat/messages", json=body).status_code == 201
            history = client.get("/api/chat/messages", params={"session_id": session, "limit": 200})
            assert history.status_code == 200

        with ThreadPoolExecutor(4) as pool:
            while True:
                log = pauses.read_pause_log(directory)
                if ready(log):
                    return log
                assert time.monotonic() < deadline, f"{what} within {LOAD_DEADLINE_S:.0f} s"
                if load_url:
                    list(pool.map(conversation, [next(turn) for _ in range(40)]))
                else:
                    time.sleep(0.05)


@pytest.mark.parametrize(
    "label",
    [
        "django[workers=2]",  # gunicorn gthread: arbiter + 2 workers
        "django[server=asgi,workers=2]",  # uvicorn: supervisor + 2 workers
        "fastapi[workers=1]",  # uvicorn in one process
        "django[server=granian,workers=1]",  # granian WSGI: main process + 1 worker
        "fastapi[server=granian,workers=1]",  # granian ASGI
    ],
)
def test_every_serving_process_writes_its_full_collections_under_load(
    start_variant, tmp_path: Path, label: str
) -> None:
    server = start_variant(label, db_name=_db(label), extra_env={"CHATBENCH_GC_LOG": str(tmp_path)})
    try:
        serving = _serving_pids(server)
        log = _wait_for(
            tmp_path,
            lambda log: (
                set(log.pids) >= serving
                and all(log.processes[p].runtime is not None for p in serving)
            ),
            "a start and a runtime line from every serving process",
        )
        assert set(log.pids) == serving, "a process that serves nothing wrote a pause log"
        for pid in serving:
            start, runtime = log.processes[pid].start, log.processes[pid].runtime
            assert start is not None and runtime is not None
            assert (start.gc, start.threshold, runtime.gc) == (
                "default",
                DEFAULT_THRESHOLD,
                "default",
            )
            assert start.t <= runtime.t and start.ppid == runtime.ppid
        log = _wait_for(
            tmp_path,
            lambda log: pauses.startup_passed(log, min_full=1),
            "a full collection while serving, in every serving process",
            load_url=server.base_url,
        )
        assert set(log.pids) == serving
        for pid in serving:
            full = log.processes[pid].full[-1]
            assert full.ms > 0 and full.t >= log.processes[pid].serving_since
        # Young collections add up at most every 0.5 s per process, never one line each.
        young = [y for p in log.processes.values() for y in p.young]
        assert young and sum(sum(y.count) for y in young) > len(young)
        assert log.skipped_lines <= len(serving)  # at most a line being written as we read
    finally:
        server.stop()


@pytest.mark.parametrize(
    ("label", "frozen", "threshold"),
    [
        ("django[gc=freeze,workers=1]", True, DEFAULT_THRESHOLD),
        ("fastapi[gc=freeze,workers=1]", True, DEFAULT_THRESHOLD),
        ("django[gc=threshold,workers=1]", False, (12_000, 20, 25)),
        ("fastapi[gc=threshold,workers=1]", False, (12_000, 20, 25)),
    ],
)
def test_the_gc_axis_takes_effect_in_every_worker(
    start_variant, tmp_path: Path, label: str, frozen: bool, threshold: tuple[int, int, int]
) -> None:
    server = start_variant(label, db_name=_db(label), extra_env={"CHATBENCH_GC_LOG": str(tmp_path)})
    try:
        (pid,) = _serving_pids(server)
        log = _wait_for(
            tmp_path,
            lambda log: pid in log.processes and log.processes[pid].runtime is not None,
            "the runtime line",
        )
        start, runtime = log.processes[pid].start, log.processes[pid].runtime
        assert start is not None and runtime is not None
        assert start.gc == runtime.gc == label.split("gc=")[1].split(",")[0]
        assert runtime.threshold == threshold
        assert start.frozen == 0
        assert (runtime.frozen > 10_000) == frozen  # the whole loaded application
        if frozen:  # freeze collects first, so no start-up garbage is kept forever
            assert any(start.t <= c.t <= runtime.t for c in log.processes[pid].full)
    finally:
        server.stop()


def _import_app(framework: str, cwd: Path, extra: dict[str, str]) -> subprocess.CompletedProcess:
    """Import a service's application module in a fresh interpreter, as a worker does, then
    make garbage and collect; print how many gc callbacks are installed."""
    module = "impl_django.project.wsgi" if framework == "django" else "impl_fastapi.main"
    code = (
        f"import gc, {module}\n"
        "for _ in range(3):\n"
        "    junk = [[] for _ in range(100_000)]\n"
        "    gc.collect()\n"
        "print(len(gc.callbacks))\n"
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("CHATBENCH_GC")}
    environ.update({"DATABASE_URL": FAKE_DATABASE, "PYTHONPATH": str(REPO_ROOT), **extra})
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("framework", ["django", "fastapi"])
def test_without_the_variable_there_is_no_callback_and_no_file(
    tmp_path: Path, framework: str
) -> None:
    off = _import_app(framework, tmp_path, {})
    assert off.returncode == 0, off.stderr[-2000:]
    assert off.stdout.split() == ["0"]
    assert list(tmp_path.rglob("*")) == []
    on = _import_app(framework, tmp_path, {"CHATBENCH_GC_LOG": str(tmp_path / "gc")})
    assert on.returncode == 0, on.stderr[-2000:]
    assert on.stdout.split() == ["1"]
    log = pauses.read_pause_log(tmp_path / "gc")
    (process,) = log.processes.values()
    assert process.start is not None and len(process.full) >= 3  # the three gc.collect() calls
    assert log.skipped_lines == 0


# Install the hook alone, make cyclic garbage (young collections) and some that lives long
# enough to reach generation 2 (full collections) for 1.5 s, then print the collections the
# interpreter counted meanwhile; the young line written at exit closes the log.
COUNTED = """
import gc, sys, time
from impl_{framework} import gcpauses
before = [s["collections"] for s in gc.get_stats()]
gcpauses.install("default", sys.argv[1])
kept, end = [], time.monotonic() + 1.5
while time.monotonic() < end:
    for _ in range(1000):
        a = []
        a.append(a)
    kept.append([[] for _ in range(50)])
    if len(kept) > 2000:
        kept = []
after = [s["collections"] for s in gc.get_stats()]
print(*[b - a for a, b in zip(before, after)])
"""


@pytest.mark.parametrize("framework", ["django", "fastapi"])
def test_the_lines_account_for_every_collection(tmp_path: Path, framework: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", COUNTED.replace("{framework}", framework), str(tmp_path)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    gen0, gen1, gen2 = map(int, done.stdout.split())
    log = pauses.read_pause_log(tmp_path)
    (process,) = log.processes.values()
    young = process.young
    assert len(young) >= 3  # one about every 0.5 s, and the last at exit
    # Aggregated, not one line per collection: the hook decides on perf_counter() 0.5 s apart,
    # and stamps each line with time.time() read just after, so a process preempted between
    # the two reads (a busy 2-core machine: tens of ms) writes lines a little under 0.5 s apart.
    assert all(b.t - a.t >= 0.4 for a, b in zip(young, young[1:-1], strict=False)), [
        round(b.t - a.t, 3) for a, b in zip(young, young[1:-1], strict=False)
    ]
    # Between the count printed and the exit, a collection or two more may run.
    counted = [sum(y.count[0] for y in young), sum(y.count[1] for y in young)]
    assert gen0 <= counted[0] <= gen0 + 2 and gen1 <= counted[1] <= gen1 + 1
    assert gen2 >= 1 and gen2 <= len(process.full) <= gen2 + 1  # + the one at exit
    for y in young:
        assert all(
            0 < most <= total for most, total in zip(y.ms_max, y.ms_total, strict=True) if most
        )


@pytest.mark.parametrize(
    "command",
    [
        [
            "-m",
            "gunicorn",
            "--config",
            "python:impl_django.gunicorn_conf",
            "impl_django.project.wsgi:application",
        ],
        ["-m", "impl_django.serve_asgi"],
        ["-m", "impl_django.serve_granian"],
        ["-m", "impl_fastapi.serve"],
    ],
)
def test_a_bad_gc_value_stops_the_service_with_one_line_naming_it(command: list[str]) -> None:
    environ = {
        **os.environ,
        "DATABASE_URL": FAKE_DATABASE,
        "CHATBENCH_GC": "generational",
        "CHATBENCH_PORT": "1",
        "CHATBENCH_WORKERS": "1",
    }
    done = subprocess.run(
        [sys.executable, *command],
        cwd=REPO_ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("CHATBENCH_GC") and "'generational'" in line


@pytest.mark.parametrize(
    "raw", ["default", "freeze", "threshold", "FREEZE", " threshold ", "", " "]
)
def test_both_services_read_the_same_values(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBENCH_GC", raw)
    monkeypatch.setenv("DATABASE_URL", FAKE_DATABASE)
    assert (
        django_env.gc_mode() == fastapi_config.Settings().gc == (raw.strip().lower() or "default")
    )


@pytest.mark.parametrize("raw", ["off", "frozen", "thresholds", "700,10,10", "0"])
def test_both_services_refuse_the_same_values(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATBENCH_GC", raw)
    monkeypatch.setenv("DATABASE_URL", FAKE_DATABASE)
    with pytest.raises(ImproperlyConfigured, match="^CHATBENCH_GC must be one of "):
        django_env.gc_mode()
    with pytest.raises(ValidationError) as refused:
        fastapi_config.Settings()
    assert [e["loc"] for e in refused.value.errors()] == [("gc",)]


def test_the_two_hooks_are_the_same_code() -> None:
    """The services share no code, so each has its own copy; they differ only in the sentence
    naming the other."""
    django_lines = Path(django_hook.__file__).read_text().splitlines()
    fastapi_lines = Path(fastapi_hook.__file__).read_text().splitlines()
    differing = [a for a, b in zip(django_lines, fastapi_lines, strict=True) if a != b]
    assert differing == [
        "The FastAPI service has the same module (impl_fastapi/gcpauses.py): the services share no code,"
    ]
    # One list of values everywhere: both services, both hooks, the harness's axis.
    assert django_hook.MODES == fastapi_hook.MODES == django_env.GC_MODES
    assert get_args(fastapi_config.GcMode) == fastapi_hook.MODES == variants.GC_MODES
    assert variants.AXES["gc"] == {"django": variants.GC_MODES, "fastapi": variants.GC_MODES}
