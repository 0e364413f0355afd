"""Experiment suites: TOML grids expanded into variant labels, run, and answered.

The four shipped suites are expanded and validated here without load (cheap); one, caching, is
run end to end with the shortest durations: it exercises the grid, the axis columns, the Valkey
server the harness provisions, its hit counters and the answer. Ctrl-C during a suite run must
leave no Valkey (or any other) process behind.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from markupsafe import escape

from chatbench import cli
from chatbench.analysing import stats, suite_answer
from chatbench.analysing.tables import repetition_metrics
from chatbench.cli.run import print_after_run
from chatbench.configuration import settings as config
from chatbench.configuration import suites, variants
from chatbench.errors import UsageError
from chatbench.storing.record import FairnessRecord
from chatbench.storing.rundir import load_run
from chatbench.workflows import report as report_wf
from chatbench.workflows import suites as suites_wf

REPO = Path(__file__).resolve().parents[2]


def _axis_values(labels: tuple[str, ...], framework: str, axis: str) -> set[str]:
    specs = [variants.get(config.split_scenario(label)[0]) for label in labels]
    return {s.axes[axis] for s in specs if s.framework == framework and axis in s.axes}


def test_every_shipped_suite_loads_and_validates_for_every_profile() -> None:
    assert set(suites.suite_names()) >= {"concurrency", "pooling", "caching", "async-vs-sync", "gc"}
    for name in suites.suite_names():
        suite = suites.load(name)
        assert suite.question.endswith("?")
        for profile in ("smoke", "quick", "full"):
            cfg = suites.build_config(suite, profile)
            assert cfg.variants == suite.labels()
            assert cfg.profile == profile


@pytest.mark.parametrize(
    ("name", "axis"),
    [("pooling", "pool"), ("caching", "cache"), ("concurrency", "server"), ("gc", "gc")],
)
def test_axis_suites_give_two_values_per_framework(name: str, axis: str) -> None:
    labels = suites.load(name).labels()
    assert len(_axis_values(labels, "django", axis)) >= 2
    if axis == "server":  # FastAPI has one server model; its concurrency grid is the workers
        assert _axis_values(labels, "fastapi", "workers") == {"1", "2"}
    else:
        assert len(_axis_values(labels, "fastapi", axis)) >= 2


def test_suite_labels_are_real_variant_settings() -> None:
    labels = suites.load("pooling").labels()
    assert labels[:3] == ("django[pool=none]", "django[pool=persistent]", "django[pool=pool]")
    assert (
        variants.get(labels[0]).service_env(
            database_url="postgresql://x@127.0.0.1:1/d", port=1, cpus=1
        )["CHATBENCH_DB_POOL"]
        == "none"
    )
    concurrency = suites.load("concurrency")
    assert "django[server=asgi]" in concurrency.labels()
    assert variants.get("django[server=sync]").command()[-1].endswith("wsgi:application")
    assert suites.build_config(concurrency, "smoke").mode == "ramp"


def test_async_vs_sync_compares_the_route_styles() -> None:
    labels = suites.load("async-vs-sync").labels()
    assert set(labels) == {"django", "django-async", "fastapi", "fastapi-sync", "fastapi-seed"}
    assert suite_answer.setting_of("django-async", {"django", "django-async"}) == "django-async"


def test_profile_settings_override_the_suite_and_cli_overrides_both() -> None:
    suite = suites.load("pooling")
    assert suites.build_config(suite, "smoke").duration_s == 3
    assert suites.build_config(suite, "full").duration_s == 60
    assert suites.build_config(suite, "smoke", duration_s=1.5).duration_s == 1.5


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[grid]\npoool = ["none"]', "unknown axis 'poool'"),
        ('[grid]\npool = ["none", "bouncer"]', "Axis pool has no value 'bouncer' for django"),
        ('[grid]\nworkers = ["0"]', "Axis workers takes a whole number"),
        ('[grid.flask]\npool = ["none"]', "[grid.flask] names a variant not in 'variants'"),
        ('colour = "blue"', "unknown key 'colour'"),
        ('duration = "long"', "key duration: input should be a valid number."),
        ("[profiles.huge]\nduration = 1", "[profiles.huge] is not a profile"),
        ('scenarios = ["read", "chatty"]', "unknown scenario 'chatty'; choose one of chat, read"),
        ('scenario = "reed"', "key scenario: input should be 'chat', 'read', 'write' or 'detail'"),
        ("[profiles.smoke]\nusers = 0", "bad.toml: key profiles.smoke.users: input should be"),
        ('scenario = "read"\nscenarios = ["chat"]', "either 'scenario' or 'scenarios'"),
        ('scenarios = ["read", "read"]', "'scenarios' lists a scenario twice"),
        ("scenarios = []", "'scenarios' must be a non-empty list"),
        ('hold_constant = ["colour"]', "hold_constant names unknown axis 'colour'"),
        ('hold_constant = "server"', "'hold_constant' must be a list of names"),
        ('hold_constant = ["server", "server"]', "'hold_constant' names an axis twice"),
        (
            'scenarios = ["read", "chat"]\n[profiles.smoke]\nscenario = "write"',
            "[profiles.smoke] sets scenario, but the suite runs 'scenarios'",
        ),
    ],
)
def test_bad_suite_file_exits_2_with_one_sentence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], body: str, message: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(f'question = "Why?"\nvariants = ["django", "fastapi"]\n{body}\n')
    with pytest.raises(UsageError, match=r"^bad\.toml: "):
        suites.load(str(path))
    code = cli.main(["run", "--suite", str(path), "--out", str(tmp_path / "out")])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()  # nothing started, nothing written


def test_unknown_suite_and_suite_with_variants_are_usage_errors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert cli.main(["run", "--suite", "nosuch"]) == 2
    assert "Unknown suite 'nosuch'; available: " in capsys.readouterr().err
    assert cli.main(["run", "--suite", "pooling", "--variants", "django"]) == 2
    assert "leave out --variants" in capsys.readouterr().err


# -- the answer's sentence names its interval by n --------------------------------------------


def _answer(n: int) -> tuple[dict, str]:
    """django: pool=none at ~500 req/s, pool=persistent ~20 % faster, ``n`` repetitions each."""
    noise = [1.0, 1.03, 0.98, 1.01, 0.99][:n]
    reps = {"django[pool=none]": {"rps": [500 * f for f in noise], "p95": [40.0 * f for f in noise]},
            "django[pool=persistent]": {"rps": [600 * f for f in noise[::-1]],
                                        "p95": [30.0 * f for f in noise]}}  # fmt: skip

    def values(label: str, metric: str) -> list[float]:
        return reps[label][metric]

    settings = [
        suite_answer._setting(label, label.split("[")[1].rstrip("]"), values, []) for label in reps
    ]
    return suite_answer.framework_answer("django", settings, values)


def test_answer_names_a_95_ci_and_a_p_only_from_three_repetitions() -> None:
    entry, sentence = _answer(5)
    assert entry["ratio_interval"] == "welch-t-log" and entry["significant"] is True
    assert sentence.startswith("django: highest pool=persistent at 601 req/s (95 % CI ")
    assert ", t on log values); pool=persistent vs pool=none = 1.20× throughput (95 % CI " in (
        sentence
    )
    assert "Welch's t on log values, p = " in sentence and ": significant)" in sentence
    assert "p95 −25 %" in sentence


def test_answer_with_two_repetitions_gives_ranges_and_does_not_judge() -> None:
    entry, sentence = _answer(2)
    assert entry["ratio_interval"] == "range" and entry["significant"] is False
    assert "95 % CI" not in sentence and "p = " not in sentence
    assert "(range of 2: " in sentence and "not judged (n = 2)" in sentence


def test_answer_with_one_repetition_has_no_interval() -> None:
    entry, sentence = _answer(1)
    assert entry["ratio_interval"] == "none"
    assert "(n = 1, no interval)" in sentence and "not judged (n = 1)" in sentence
    assert "95 % CI" not in sentence and "range" not in sentence


def _valkey_children(pid: int) -> list[psutil.Process]:
    try:
        kids = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [k for k in kids if "valkey-server" in " ".join(_cmdline(k))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.ZombieProcess, psutil.AccessDenied):
        return []


def test_caching_suite_end_to_end(tmp_path: Path) -> None:
    """The acceptance run, with the shortest load and a small seed: a row per cache value per
    framework per scenario (read and the mixed chat, one run), integrity held with the cache on
    under writes, Valkey really hit, the answer per scenario, the grid chart, no Valkey left."""
    # Through the Python API the CLI calls, with a small seed (the CLI has no seed option; its
    # --suite parsing and errors are tested above, Ctrl-C below). allow_unfair: this test
    # asserts the suite's own results; fairness has its own tests, and an unpinnable CI
    # machine fails the CPU-separation rule by design.
    suite = suites.load("caching")
    cfg = suites.build_config(
        suite, "smoke", duration_s=1.0, warmup_s=0.5, seed_sessions=40, seed_messages=5,
        out_dir=tmp_path, allow_unfair=True,
    )  # fmt: skip
    outcome = suites_wf.run(suite, cfg)
    assert outcome.status == "complete"
    print_after_run(outcome.run_dir)
    assert report_wf.read_answer(outcome.run_dir)
    (run_dir,) = tmp_path.iterdir()
    assert run_dir.name.split("-suite-")[1].startswith("caching-")
    summary = pd.read_csv(run_dir / "summary.csv")
    assert {"pool", "cache", "server", "workers"} <= set(summary.columns)
    rps = summary[(summary["endpoint"] == "ALL") & (summary["metric"] == "rps")]
    for scenario in ("read", "chat"):
        for framework in ("django", "fastapi"):
            rows = rps[
                rps["variant"].str.startswith(f"{framework}[") & (rps["scenario"] == scenario)
            ]
            assert sorted(rows["cache"]) == ["off", "valkey"]
            assert (rows["value"] > 0).all()
    # chat writes (POST) and reads; read only reads: each row's endpoints are its scenario's.
    posts = summary[(summary["endpoint"] == "POST /api/chat/messages")]
    assert set(posts["scenario"]) == {"chat"}
    meta = json.loads((run_dir / "meta.json").read_text())
    assert meta["status"] == "complete"
    assert len(meta["integrity"]) == 8 and all(r["ok"] for r in meta["integrity"])
    written = {r["variant"]: r["actual"] for r in meta["integrity"]}
    assert written["django[cache=valkey,scenario=chat]"] > 0  # writes through the cache
    assert written["fastapi[cache=valkey,scenario=chat]"] > 0
    hits = meta["cache"]["stats"]
    assert set(hits) == {
        f"{framework}[cache=valkey,scenario={scenario}]#1"
        for framework in ("django", "fastapi")
        for scenario in ("read", "chat")
    }
    assert all(s["keyspace_hits"] > 0 for s in hits.values())  # from Valkey's own INFO
    assert meta["question"] == suites.load("caching").question
    answer = json.loads((run_dir / "answer.json").read_text())
    assert len(answer["sentences"]) == 4
    assert answer["sentences"][0].startswith("read scenario, django: highest cache=")
    assert answer["sentences"][3].startswith("chat scenario, fastapi: highest cache=")
    assert all("cache=valkey vs cache=off" in s for s in answer["sentences"])
    assert "Valkey hit ratio" in answer["sentences"][0]
    # Smoke runs 1 repetition: figures without intervals, and no comparison is judged.
    assert all("not judged (n = 1)" in s and "95 % CI" not in s for s in answer["sentences"])
    html = (run_dir / "report.html").read_text()
    assert all(escape(s) in html for s in answer["sentences"])
    assert 'id="chart-grid"' in html
    assert {"grid.png", "grid.svg"} <= {p.name for p in (run_dir / "charts").iterdir()}
    assert not _valkey_children(os.getpid())


def test_ctrl_c_during_a_cache_suite_leaves_no_valkey(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "chatbench.cli", "run", "--suite", "caching", "--profile",
         "smoke", "--out", str(tmp_path)],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        valkey: list[psutil.Process] = []
        while not valkey and proc.poll() is None and time.monotonic() < deadline:
            valkey = _valkey_children(proc.pid)
            time.sleep(0.1)
        assert valkey, "the suite run never started its Valkey server"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err.decode(errors="replace")[-2000:]
    gone, alive = psutil.wait_procs(valkey, timeout=5)
    assert not alive, f"valkey-server left running: {[p.pid for p in alive]}"


def test_a_suite_accepts_only_the_fairness_rules_it_breaks_by_design() -> None:
    """concurrency.toml accepts keep_alive (sync workers close connections); nothing else."""
    concurrency = suites.load("concurrency")
    note = suites_wf.unfair_by_design(concurrency, FairnessRecord(violated=["keep_alive"]))
    assert note is not None and "keep_alive differ by design in the concurrency suite" in note
    both = FairnessRecord(violated=["keep_alive", "connection_cap"])
    assert suites_wf.unfair_by_design(concurrency, both) is None
    assert suites_wf.unfair_by_design(concurrency, FairnessRecord()) is None
    pooling = suites.load("pooling")  # accepts nothing
    assert suites_wf.unfair_by_design(pooling, FairnessRecord(violated=["keep_alive"])) is None


def test_a_suite_answer_leaves_invalid_repetitions_out_and_says_which_setting_has_none(
    tmp_path: Path,
) -> None:
    """A repetition whose load generator saturated measures Locust, not the service: the
    suite's answer leaves it out (as compare and check do), and a setting with no valid
    repetition left is named, with why, instead of being compared."""
    run_dir = tmp_path / "pooling"
    shutil.copytree(REPO / "results" / "sample" / "pooling", run_dir)
    meta = json.loads((run_dir / "meta.json").read_text())
    labels = meta["config"]["variants"]
    reps = meta["config"]["repeat"]
    baseline, partial = labels[0], labels[1]  # django[pool=none], django[pool=persistent]
    meta["invalid_repetitions"] = [
        {"variant": baseline, "repetition": r, "reason": "loadgen saturated: CPU set [0] busy"}
        for r in range(1, reps + 1)
    ] + [{"variant": partial, "repetition": 1, "reason": "loadgen saturated: loop lag"}]
    (run_dir / "meta.json").write_text(json.dumps(meta))
    answer = suite_answer.answer(run_dir)
    django = answer["frameworks"]["django"]
    by_setting = {s["setting"]: s for s in django["settings"]}
    assert math.isnan(by_setting["pool=none"]["rps"])
    assert by_setting["pool=persistent"]["n"] == reps - 1
    # The baseline falls to the first setting measured; pool=none is in no comparison.
    assert django["baseline"] == "pool=persistent" and django["compared"] == "pool=pool"
    assert not [s for s in answer["sentences"] if s.startswith("django: highest pool=none")]
    (note,) = [s for s in answer["sentences"] if "not measured" in s]
    assert note == (
        "django: not measured on this machine — every repetition of pool=none "
        "(loadgen saturated) was invalid, so it is left out of the comparison."
    )
    (partly,) = [s for s in answer["sentences"] if "least loaded" in s]
    assert partly.startswith("django: pool=persistent lost 1 repetition (loadgen saturated);")
    fastapi = answer["frameworks"]["fastapi"]
    assert all(s["n"] == reps for s in fastapi["settings"])


def test_hold_constant_compares_the_frameworks_where_the_recorded_axes_are_equal(
    tmp_path: Path,
) -> None:
    """The committed concurrency sample (hold_constant = server, workers) pairs exactly the two
    same-server cells: both frameworks on granian with one worker, and both on uvicorn with
    one (Django's ``server=asgi`` is uvicorn), each with the ratio of their throughputs and its
    Welch interval. Holding only ``workers`` pairs every one-worker Django variant with every
    one-worker FastAPI one; a suite that holds nothing gets no such sentence."""
    run_dir = tmp_path / "concurrency"
    shutil.copytree(REPO / "results" / "sample" / "concurrency", run_dir)
    meta = json.loads((run_dir / "meta.json").read_text())
    assert suites.load("concurrency").hold_constant == ("server", "workers")

    def answer_holding(axes: list[str]) -> dict:
        meta["suite"]["hold_constant"] = axes
        (run_dir / "meta.json").write_text(json.dumps(meta))
        return suite_answer.answer(run_dir)

    held = answer_holding(["server", "workers"])
    pairs = held["across"]["chat"]
    assert {(p["reference"], p["other"]) for p in pairs} == {
        ("django[server=asgi]", "fastapi[server=uvicorn,workers=1]"),
        ("django[server=granian]", "fastapi[server=granian,workers=1]"),
    }
    assert {p["held"] for p in pairs} == {"server=uvicorn, workers=1", "server=granian, workers=1"}
    reps = repetition_metrics(load_run(run_dir))
    reps = reps[(reps["endpoint"] == "ALL") & (reps["metric"] == "rps")]

    def rps(label: str) -> list[float]:
        return list(reps[reps["variant"] == label]["value"])

    for pair in pairs:
        ratio, p = stats.ratio_interval(rps(pair["other"]), rps(pair["reference"]))
        assert pair["ratio"] == pytest.approx(ratio.value) and pair["ratio_p"] == pytest.approx(p)
        (sentence,) = [s for s in held["sentences"] if s.startswith(f"same {pair['held']}: ")]
        assert sentence.startswith(
            f"same {pair['held']}: {pair['other']} vs {pair['reference']} = {ratio.value:.2f}× "
            f"throughput (95 % CI {ratio.low:.2f}–{ratio.high:.2f}, Welch's t on log values, p = "
        )
    workers_only = answer_holding(["workers"])["across"]["chat"]
    assert {(p["reference"], p["other"]) for p in workers_only} == {
        (d, f)
        for d in ("django[server=asgi]", "django[server=granian]")
        for f in ("fastapi[server=uvicorn,workers=1]", "fastapi[server=granian,workers=1]")
    }
    assert "across" not in answer_holding([])


def test_the_committed_pooling_answer_rests_on_pool_none_with_its_database_cost() -> None:
    """results/sample/pooling: pool=none's own database work saturates the load generator's
    shared CPU; its repetitions stand, judged at n >= 3, and the answer says what they rest
    on instead of "not measured" or "n = 1"."""
    from chatbench.analysing import suite_answer
    from tests.conftest import REPO_ROOT

    said = suite_answer.answer(REPO_ROOT / "results" / "sample" / "pooling")["sentences"]
    text = " ".join(said)
    assert "not measured" not in text and "n = 1" not in text and "lost" not in text
    for framework in ("django", "fastapi"):
        (ratio,) = [s for s in said if s.startswith(f"{framework}: highest")]
        assert "pool=none" in ratio and "95 % CI" in ratio
        (cost,) = [s for s in said if s.startswith(f"{framework}: the database's own work")]
        assert "pool=none in " in cost and "the figures stand and include that cost" in cost
