"""``chatbench run --cpu-profile`` end to end: short real runs (seconds) on the session's Postgres.

One profiled run of django and fastapi (fastapi with the test-only CPU burn, a known hot spot;
two Locust processes) and one run of fastapi alone without the flag, which gives the burn's
cost independently: the service CPU per request with the burn minus without it. The profile
must put that cost in the service's own code, within ``BURN_TOLERANCE``.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import psutil
import pytest

from chatbench.analysing import cpu_profile
from chatbench.analysing.layers import LAYER_KEYS
from chatbench.configuration import settings as config
from chatbench.measuring.watch import RunHooks
from chatbench.presenting import findings
from chatbench.serving import profiler
from chatbench.storing import record as rec
from chatbench.storing.rundir import load_run
from chatbench.workflows import bench

CHATBENCH = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "chatbench"
REPO_ROOT = CHATBENCH.parents[2]
BURN_US = 3000
# Measured on the 2-core machine (2026-11-30, 1 repetition of 3 s each side, docs/cpu-profile.md):
# the profile's own-code ms per request was 16–23 % below the burn's cost from CPU per request.
BURN_TOLERANCE = 0.35


def command_line(proc: psutil.Process) -> str:
    """Its command line ("" once it exited or is a zombie: the run reaps its children)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def py_spy_running() -> bool:
    return any(profiler.COMMAND_MARK in command_line(p)
               for p in psutil.Process().children(recursive=True))  # fmt: skip


class SpyWatch:
    """A RunHooks.during_load that notes, per (variant, repetition), whether py-spy ran."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, int], bool] = {}

    def __call__(self, variant: str, rep: int, pid: int | None, elapsed_s: float) -> None:
        key = (variant, rep)
        self.seen[key] = self.seen.get(key, False) or py_spy_running()


def cfg(pg_server_url: str, out: Path, variants: tuple[str, ...], **extra) -> config.RunConfig:
    """A short run (1 s warm-up, 3 s measured, one repetition) on the session's Postgres."""
    values = {"warmup_s": 1, "duration_s": 3, **extra}
    return config.build(
        "smoke", variants=variants, repeat=1, database_url=pg_server_url, out_dir=out,
        allow_unfair=True, **values,
    )  # fmt: skip


@pytest.fixture(scope="module")
def runs(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory):
    """(profiled run dir, its SpyWatch, unprofiled run dir, its SpyWatch)."""
    out = tmp_path_factory.mktemp("cpu-profile")
    watch = SpyWatch()
    profiled = bench.run(
        cfg(pg_server_url, out / "profiled", ("django", "fastapi"), cpu_profile=True,
            loadgen_processes=2, service_env={"fastapi": {"CHATBENCH_BURN_US": str(BURN_US)}}),
        hooks=RunHooks(during_load=watch),
    )  # fmt: skip
    plain_watch = SpyWatch()
    plain = bench.run(cfg(pg_server_url, out / "plain", ("fastapi",)),
                      hooks=RunHooks(during_load=plain_watch), report=False)  # fmt: skip
    return profiled.run_dir, watch, plain.run_dir, plain_watch


def test_a_profiled_run_writes_a_flame_graph_and_a_layer_table_per_variant(runs) -> None:
    run_dir, watch, _, _ = runs
    record = rec.load(run_dir)
    assert record.status == "complete"
    section = record.cpu_profile
    assert section is not None and section.unavailable is None
    assert section.tool == "py-spy 0.4.3" and section.rate_hz == profiler.RATE_HZ
    assert set(section.variants) == {"django", "fastapi"}
    for variant in ("django", "fastapi"):
        entry = section.variants[variant]
        assert entry.samples > 0 and entry.requests and entry.requests > 0
        assert entry.user_cpu_s > 0
        folder = run_dir / "profiles" / variant
        svg = ET.parse(folder / "flame.svg").getroot()
        assert svg.tag.endswith("svg")
        # Every box carries its frame as hover text: a frame, its samples and share.
        tips = [t.text or "" for t in svg.iter("{http://www.w3.org/2000/svg}title")]
        counts = [int(t.rsplit(": ", 1)[1].split(" samples, ")[0]) for t in tips]
        assert tips and all(0 < n <= entry.samples for n in counts)
        doc = json.loads((folder / "speedscope.json").read_text())
        assert doc["$schema"] == "https://www.speedscope.app/file-format-schema.json"
        (prof,) = doc["profiles"]
        assert prof["type"] == "sampled" and len(prof["samples"]) == len(prof["weights"])
        assert sum(prof["weights"]) == entry.samples == prof["endValue"]
        frames = len(doc["shared"]["frames"])
        assert all(0 <= i < frames for stack in prof["samples"] for i in stack)
        # py-spy ran during this variant's profiled repetition (0), never a measured one (1).
        assert watch.seen[(variant, 0)] is True
        assert watch.seen[(variant, 1)] is False

    table = pd.read_csv(run_dir / "profiles" / "layers.csv")
    for variant, rows in table.groupby("variant"):
        assert list(rows["layer"]) == list(LAYER_KEYS)
        assert rows["share"].sum() == pytest.approx(1.0, abs=0.01), variant
        cpu = rows["cpu_ms_per_request"].iloc[0]
        assert rows["ms_per_request"].sum() == pytest.approx(cpu, rel=0.01)

    # The profiled repetition is in no other figure: raw/ holds the measured one only.
    assert sorted(p.name for p in (run_dir / "raw" / "fastapi").iterdir()) == ["rep-1"]
    assert {(r.variant, r.repetition) for r in load_run(run_dir).repetitions} == {
        ("django", 1), ("fastapi", 1)}  # fmt: skip

    html = (run_dir / "report.html").read_text()
    assert '<section id="cpu-profile">' in html and "Where the CPU goes" in html
    assert 'href="profiles/django/flame.svg"' in html
    assert 'href="profiles/fastapi/speedscope.json"' in html
    assert (run_dir / "charts" / "cpu_layers.png").is_file()
    assert not py_spy_running()


def test_the_cpu_burn_shows_up_in_the_services_own_code_at_its_measured_cost(runs) -> None:
    run_dir, _, plain_dir, _ = runs
    with_burn = cpu_profile.cpu_ms_per_request(load_run(run_dir), "fastapi").value
    without = cpu_profile.cpu_ms_per_request(load_run(plain_dir), "fastapi").value
    cost = with_burn - without
    assert cost > 0.5 * BURN_US / 1000  # the burn is real CPU, seen without any profiler
    rows = {row.variant: row for row in cpu_profile.layer_table(load_run(run_dir))}
    own = rows["fastapi"].ms["own"]
    assert abs(own - cost) <= BURN_TOLERANCE * cost, (own, cost)
    # ... and nowhere else: django, without the burn, spends little in its own code.
    assert rows["django"].layers.shares["own"] < 0.2 < rows["fastapi"].layers.shares["own"]


def test_findings_render_where_the_cpu_goes_from_a_profiled_run(runs) -> None:
    run_dir, _, _, _ = runs
    block = findings.render(run_dir, link="RUN")
    assert "#### Where the CPU goes" in block
    rows = {row.variant: row for row in cpu_profile.layer_table(load_run(run_dir))}
    assert f"django {findings.cpu_profile_text(rows['django'].cpu_ms)}; fastapi " in block
    # The burn makes `own` fastapi's largest gap, named in README's sentence.
    gap = rows["fastapi"].ms["own"] - rows["django"].ms["own"]
    assert f"the largest gaps are own ({gap:+.3f} ms)" in block
    assert "[fastapi](RUN/profiles/fastapi/flame.svg)" in block
    # Layer by layer, the table is docs/cpu-profile.md's generated block.
    layers = findings.render_layers(run_dir)
    assert f"| own | {rows['django'].ms['own']:.3f} " in layers and f"{gap:+.3f}" in layers


def test_a_run_without_the_flag_profiles_nothing(runs) -> None:
    _, _, plain_dir, plain_watch = runs
    assert rec.load(plain_dir).cpu_profile is None
    assert not (plain_dir / "profiles").exists()
    assert plain_watch.seen and not any(plain_watch.seen.values())


def test_where_py_spy_cannot_attach_the_run_says_so_and_goes_on(
    pg_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "py-spy"
    fake.write_text("#!/bin/sh\necho 'Permission Denied: ptrace is not allowed here' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv(profiler.PY_SPY_ENV, str(fake))
    short = cfg(pg_server_url, tmp_path / "out", ("fastapi",), cpu_profile=True, warmup_s=0.5,
                duration_s=1)  # fmt: skip
    outcome = bench.run(short, report=False)
    record = rec.load(outcome.run_dir)
    assert record.status == "complete"
    sentence = record.cpu_profile.unavailable
    assert sentence.startswith("CPU profiles skipped: py-spy could not attach to process ")
    assert "Permission Denied: ptrace is not allowed here" in sentence
    assert sentence.endswith("the run continues without them.") and "\n" not in sentence
    assert sentence in record.warnings
    assert record.cpu_profile.variants == {}
    assert not py_spy_running()


def test_ctrl_c_while_py_spy_samples_stops_it_with_everything_else(
    pg_server_url: str, tmp_path: Path
) -> None:
    """SIGINT to the CLI during the profiled repetition: exit 130, no py-spy (nor anything
    else the run started) left, the run marked incomplete."""
    cmd = [str(CHATBENCH), "run", "--profile", "smoke", "--variants", "fastapi", "--repeat", "1",
           "--warmup", "0.5", "--duration", "4", "--cpu-profile", "--allow-unfair",
           "--database-url", pg_server_url, "--out", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        spying = []
        while time.monotonic() < deadline and proc.poll() is None and not spying:
            tree = psutil.Process(proc.pid).children(recursive=True)
            spying = [p for p in tree if profiler.COMMAND_MARK in command_line(p)]
            time.sleep(0.2)
        assert spying, (
            f"py-spy never started: {proc.poll()}: {proc.stderr.read() if proc.poll() is not None else ''}"
        )
        children = psutil.Process(proc.pid).children(recursive=True)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert [p for p in children if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    (run_dir,) = tmp_path.iterdir()
    assert rec.load(run_dir).status == "incomplete"
