"""Fairness rules: judged from evidence (unit level) and proven by short real runs.

The unit tests build run records the way a run writes them and break one fact at a time.
The real runs (fastapi alone, ~2 s of load each, on the session's Postgres) show the rules
react to what the OS and Postgres report: a load generator pinned onto the service's CPU, an
extra query per request, a tampered clone.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.analysing import fairness
from chatbench.analysing.fairness import NotComparable
from chatbench.configuration import settings as config
from chatbench.load import health as loadhealth
from chatbench.measuring.watch import RunHooks
from chatbench.provisioning import cpuplan, postgres
from chatbench.storing import record
from chatbench.workflows import bench

ENDPOINTS = (
    "POST /api/chat/messages",
    "GET /api/chat/messages",
    "GET /api/chat/messages/{id}",
    "DELETE /api/chat/messages/{id}",
)


def health(busy_pct: float = 40.0, lag_p99_ms: float | None = 2.0) -> dict:
    """One repetition's ``evidence.loadgen_health`` entry, as the runner records it."""
    cpu_set = loadhealth.CpuSetBusy((0,), busy_pct - 2.0, busy_pct, 1.5, 5.0)
    lag = loadhealth.LoopLag(10.0, 0 if lag_p99_ms is None else 950, lag_p99_ms, lag_p99_ms)
    return loadhealth.LoadgenHealth(cpu_set, lag).as_dict()


def fair_meta() -> dict:
    """Metadata of a run in which every rule holds (as the runner records it)."""
    return {
        "config": {
            "variants": ["django", "fastapi"],
            "repeat": 2,
            "warmup_s": 3.0,
            "db_max_connections": 10,
        },  # fmt: skip
        "cpu_plan": {"pinned": True, "server": [1], "loadgen": [0], "loadgen_policy": "SCHED_IDLE"},
        "postgres": {"version": "18", "config_sha256": "c0ffee", "template_checksum": "abc"},
        "variants": {
            "django": {
                "server": "gthread",
                "workers": 3,
                "threads": 2,
                "db_max_connections": 10,
                "processes_observed": 4,
                "threads_observed": 8,
            },  # fmt: skip
            "fastapi": {
                "server": "uvicorn",
                "workers": 1,
                "threads": 1,
                "db_max_connections": 10,
                "processes_observed": 1,
                "threads_observed": 5,
            },  # fmt: skip
        },
        "evidence": {
            "pg_settings_hash_start": "h1",
            "pg_settings_hash_end": "h1",
            "pg_settings_by_db": {"cb_django": "h1", "cb_fastapi": "h1"},
            "clone_checks": [
                {"variant": v, "repetition": r, "checksum_equal": True, "schema_equal": True}
                for r in (1, 2)
                for v in ("django", "fastapi")
            ],
            "affinity": {
                key: {
                    "service": [1],
                    "loadgen": [0],
                    "postgres": [0],
                    "loadgen_policy": ["SCHED_IDLE"],
                }
                for key in ("django#1", "fastapi#1", "fastapi#2", "django#2")
            },
            "peak_connections": {"django": 6, "fastapi": 4},
            "service_probes": {
                v: {
                    "not_found_status": 404,
                    "debug_page": False,
                    "keep_alive": True,
                    "access_log_lines": 0,
                }  # fmt: skip
                for v in ("django", "fastapi")
            },
            "loadgen_health": {
                key: health() for key in ("django#1", "fastapi#1", "fastapi#2", "django#2")
            },
            "order": ["django#1", "fastapi#1", "fastapi#2", "django#2"],
            "windows": {"django#1": {"measure_start_offset_s": 3.0, "warmup_requests": 500}},
        },
    }


def judge(meta: dict) -> list[fairness.Rule]:
    """The rules over ``meta`` read as the run record it would be on disk."""
    return fairness.judge(record.from_dict(meta))


def verdicts(meta: dict) -> dict[str, bool]:
    return {r.name: r.held for r in judge(meta)}


def test_a_fair_run_holds_every_rule_with_evidence():
    rules = judge(fair_meta())
    assert {r.name for r in rules} == {
        "postgres_settings", "identical_data", "cpu_separation", "workers_as_recorded",
        "connection_cap", "debug_and_access_logs_off", "keep_alive", "loadgen_headroom",
        "warmup_excluded_interleaved",
    }  # fmt: skip
    assert all(r.held and r.evidence for r in rules), [r for r in rules if not r.held]
    summary = fairness.summarise(rules, allowed=False)
    assert summary.comparable and summary.violated == []


def _broken(mutate) -> dict[str, bool]:
    meta = copy.deepcopy(fair_meta())
    mutate(meta)
    return verdicts(meta)


@pytest.mark.parametrize(
    ("rule", "mutate"),
    [
        ("cpu_separation", lambda m: m["evidence"]["affinity"]["fastapi#2"].update(loadgen=[0, 1])),
        ("cpu_separation", lambda m: m["evidence"]["affinity"]["django#1"].update(postgres=[1])),
        # Locust seen at normal priority where the plan makes it yield to Postgres.
        ("cpu_separation", lambda m: m["evidence"]["affinity"]["django#2"].update(
            loadgen_policy=["SCHED_OTHER"])),
        ("connection_cap", lambda m: m["evidence"]["peak_connections"].update(fastapi=12)),
        ("connection_cap", lambda m: m["variants"]["fastapi"].update(db_max_connections=20)),
        ("identical_data", lambda m: m["evidence"]["clone_checks"][3].update(checksum_equal=False)),
        ("identical_data", lambda m: m["evidence"]["clone_checks"][0].update(schema_equal=False)),
        ("postgres_settings", lambda m: m["evidence"]["pg_settings_by_db"].update(cb_django="h2")),
        ("postgres_settings", lambda m: m["evidence"].update(pg_settings_hash_end="h2")),
        ("workers_as_recorded", lambda m: m["variants"]["django"].update(processes_observed=2)),
        ("debug_and_access_logs_off",
         lambda m: m["evidence"]["service_probes"]["django"].update(debug_page=True)),
        ("debug_and_access_logs_off",
         lambda m: m["evidence"]["service_probes"]["fastapi"].update(access_log_lines=3)),
        ("keep_alive", lambda m: m["evidence"]["service_probes"]["django"].update(keep_alive=False)),
        ("loadgen_headroom", lambda m: m["evidence"]["loadgen_health"].update(
            {"fastapi#2": health(busy_pct=95.0)})),
        ("loadgen_headroom", lambda m: m["evidence"]["loadgen_health"].update(
            {"django#1": health(lag_p99_ms=12.0)})),
        ("warmup_excluded_interleaved", lambda m: m["evidence"].update(
            order=["django#1", "fastapi#1", "django#2", "fastapi#2"])),
        ("warmup_excluded_interleaved", lambda m: m["evidence"]["windows"]["django#1"].update(
            measure_start_offset_s=0.0)),
    ],
)  # fmt: skip
def test_each_broken_fact_violates_exactly_its_rule(rule, mutate):
    got = _broken(mutate)
    assert [name for name, held in got.items() if not held] == [rule]


def test_connection_cap_evidence_names_the_variant_over_the_cap():
    meta = fair_meta()
    meta["evidence"]["peak_connections"]["fastapi"] = 12
    rule = next(r for r in judge(meta) if r.name == "connection_cap")
    assert "fastapi: peak 12 of 10" in rule.evidence and "over the cap: fastapi" in rule.evidence


def _connection_cap(meta: dict) -> fairness.Rule:
    return next(r for r in judge(meta) if r.name == "connection_cap")


def test_connection_cap_is_not_checked_when_a_variant_was_never_sampled():
    # The sampler failed for fastapi: its peak 0 is "never seen", not "held the cap".
    meta = fair_meta()
    meta["evidence"]["peak_connections"]["fastapi"] = 0
    meta["evidence"]["connection_samples"] = {"django": 40, "fastapi": 0}
    rule = _connection_cap(meta)
    assert rule.held is None and rule.verdict == "not checked"
    assert "fastapi: peak unknown, no pg_stat_activity sample succeeded" in rule.evidence
    assert "never sampled for fastapi" in rule.evidence
    assert "django: peak 6 of 10 (pg_stat_activity, 40 samples)" in rule.evidence
    assert rule.as_record().verdict == "not checked"
    summary = fairness.summarise(judge(meta), allowed=False)
    assert summary.violated == [] and summary.comparable
    assert summary.not_checked == ["connection_cap"]
    assert (
        fairness.terminal_line(summary) == "fairness: 8/9 rules held; not checked: connection_cap"
    )


def test_connection_cap_with_samples_for_every_variant_is_judged_on_the_peaks():
    meta = fair_meta()
    meta["evidence"]["connection_samples"] = {"django": 40, "fastapi": 38}
    assert _connection_cap(meta).held is True
    meta["evidence"]["connection_samples"]["fastapi"] = 0  # a variant missing counts as unsampled
    del meta["evidence"]["connection_samples"]["fastapi"]
    assert _connection_cap(meta).held is None


def test_connection_cap_over_the_cap_stays_violated_beside_an_unsampled_variant():
    meta = fair_meta()
    meta["evidence"]["peak_connections"]["django"] = 11
    meta["evidence"]["connection_samples"] = {"django": 40, "fastapi": 0}
    rule = _connection_cap(meta)
    assert rule.held is False and "over the cap: django" in rule.evidence


def _headroom(meta: dict) -> fairness.Rule:
    return next(r for r in judge(meta) if r.name == "loadgen_headroom")


def test_loadgen_headroom_shows_each_repetitions_cpu_set_and_loop_lag():
    rule = _headroom(fair_meta())
    assert rule.held is True
    assert "90 % busy over the busiest 5 s" in rule.rule and "10 ms late at p99" in rule.rule
    assert "django#1: CPU set {0} 40 % busy (busiest 5 s; mean 38 %), loop lag p99 2.0 ms" in (
        rule.evidence
    )
    meta = fair_meta()
    meta["evidence"]["loadgen_health"]["fastapi#2"] = health(busy_pct=97.0)
    rule = _headroom(meta)
    assert rule.held is False and rule.evidence.endswith("— invalid: fastapi#2")
    assert "fastapi#2: CPU set {0} 97 % busy" in rule.evidence


def test_loadgen_headroom_unmeasured_is_not_checked_never_held():
    meta = fair_meta()
    meta["evidence"]["loadgen_health"]["django#2"] = health(lag_p99_ms=None)
    rule = _headroom(meta)
    assert rule.held is None and "not measured: django#2" in rule.evidence
    assert "loop lag not recorded" in rule.evidence
    # A proven invalid repetition beside an unmeasured one stays violated.
    meta["evidence"]["loadgen_health"]["django#1"] = health(busy_pct=99.0)
    assert _headroom(meta).held is False
    del meta["evidence"]["loadgen_health"]
    assert _headroom(meta).held is None


def test_missing_evidence_is_never_held():
    assert not any(verdicts({"config": {}, "cpu_plan": {"pinned": True}}).values())


def test_check_clone_compares_checksum_and_schema():
    template = postgres.DataState("abc", "CREATE TABLE t ();")
    assert fairness.check_clone("django", 1, template, template).ok
    changed = postgres.DataState("x", template.schema)
    assert not fairness.check_clone("django", 1, template, changed).ok
    assert not fairness.check_clone("django", 1, template, postgres.DataState("abc", "")).ok


# --------------------------------------------------------------------------- real runs


def _same_cpu() -> str:
    return str(cpuplan.available_cpus()[-1])


def _meta(run_dir: Path) -> dict:
    return json.loads((run_dir / "meta.json").read_text())


def _only_run(out: Path) -> Path:
    dirs = [p for p in out.iterdir() if p.is_dir()]
    assert len(dirs) == 1, dirs
    return dirs[0]


def _cfg(pg_server_url: str, out: Path, **overrides) -> config.RunConfig:
    return config.build(
        "smoke", variants=("fastapi",), database_url=pg_server_url, out_dir=out,
        duration_s=1.5, warmup_s=0.5, seed_sessions=20, seed_messages=5, **overrides,
    )  # fmt: skip


@pytest.fixture(scope="module")
def unfair_cli_run(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[int, Path]:
    """`chatbench run` with Locust pinned onto the service's own CPU, no override."""
    out = tmp_path_factory.mktemp("unfair")
    cpu = _same_cpu()
    rc = cli.main([
        "run", "--profile", "smoke", "--variants", "fastapi", "--duration", "1.5", "--warmup", "0.5",
        "--server-cpus", cpu, "--loadgen-cpus", cpu, "--database-url", pg_server_url,
        "--out", str(out),
    ])  # fmt: skip
    return rc, _only_run(out)


@pytest.fixture(scope="module")
def allowed_extra_query_run(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same CPU clash, allowed, and fastapi running one extra query per request."""
    out = tmp_path_factory.mktemp("allowed")
    cpu = _same_cpu()
    cfg = _cfg(
        pg_server_url, out, server_cpus=cpu, loadgen_cpus=cpu, allow_unfair=True,
        service_env={"fastapi": {"CHATBENCH_EXTRA_QUERY": "1"}},
    )  # fmt: skip
    outcome = bench.run(cfg)
    assert outcome.status == "complete"
    return outcome.run_dir


def test_loadgen_on_the_server_cpu_is_violated_and_exits_3(unfair_cli_run):
    rc, run_dir = unfair_cli_run
    assert rc == NotComparable.exit_code == 3
    meta = _meta(run_dir)
    rules = {r["name"]: r for r in meta["fairness"]["rules"]}
    assert rules["cpu_separation"]["verdict"] == "violated"
    assert "overlap: fastapi#1" in rules["cpu_separation"]["evidence"]
    # Locust on the service's CPU also shares it with a service saturating it (closed loop):
    # the load-generator CPU set is full, so the repetition is invalid as well.
    assert meta["fairness"]["violated"] == ["cpu_separation", "loadgen_headroom"], meta["fairness"]
    assert "invalid: fastapi#1" in rules["loadgen_headroom"]["evidence"]
    assert meta["invalid_repetitions"][0]["reason"].startswith(
        f"loadgen saturated: load-generator CPU set {{{_same_cpu()}}} was"
    )
    masks = meta["evidence"]["affinity"]["fastapi#1"]  # read from the live processes
    assert masks["service"] == masks["loadgen"] == [int(_same_cpu())]
    html = (run_dir / "report.html").read_text()
    assert "cpu_separation" in html and "violated" in html and 'id="sql-work"' in html


def test_allow_unfair_completes_and_still_says_violated(allowed_extra_query_run):
    meta = _meta(allowed_extra_query_run)
    assert meta["status"] == "complete"
    assert meta["fairness"]["violated"] == ["cpu_separation", "loadgen_headroom"]
    assert meta["fairness"]["overridden"] is True
    assert 'id="chart-db_time"' in (allowed_extra_query_run / "report.html").read_text()


def test_extra_query_shows_as_more_statements_on_every_endpoint(
    unfair_cli_run, allowed_extra_query_run
):
    plain = _meta(unfair_cli_run[1])["evidence"]
    extra = _meta(allowed_extra_query_run)["evidence"]
    for ep in ENDPOINTS:
        before = plain["sql_per_endpoint"]["fastapi"][ep]["statements_per_call"]
        after = extra["sql_per_endpoint"]["fastapi"][ep]["statements_per_call"]
        assert after == pytest.approx(before + 1), ep
    under_load = extra["sql"]["fastapi"][0]["per_endpoint"]
    baseline = plain["sql"]["fastapi"][0]["per_endpoint"]
    for ep, figures in under_load.items():
        assert figures["statements_per_request"] > baseline[ep]["statements_per_request"] + 0.5
    assert baseline["POST /api/chat/messages"]["statements_per_request"] == pytest.approx(1.0)
    csv_text = (allowed_extra_query_run / "sqlwork.csv").read_text()
    assert "fastapi,POST /api/chat/messages,profile,20,2.0000" in csv_text


def test_tampered_clone_is_caught_before_load(pg_server_url: str, tmp_path: Path):
    def tamper(variant: str, rep: int, db_url: str) -> None:
        with postgres.connect(db_url) as conn:
            conn.execute("UPDATE chat_messages SET content = content || '!' WHERE id = 1")

    cfg = _cfg(pg_server_url, tmp_path)
    with pytest.raises(NotComparable, match="before loading it"):
        bench.run(cfg, hooks=RunHooks(after_clone=tamper), report=False)
    run_dir = _only_run(tmp_path)
    meta = _meta(run_dir)
    assert meta["evidence"]["clone_checks"][0]["checksum_equal"] is False
    assert "identical_data" in meta["fairness"]["violated"]
    rep_dir = run_dir / "raw" / "fastapi" / "rep-1"
    assert not list(rep_dir.glob("locust*")) and not (rep_dir / "requests.json").exists()
    assert meta["repetitions"] == []


def test_terminal_line_counts_held_rules_and_names_violations():
    meta = fair_meta()
    summary = fairness.summarise(judge(meta), allowed=False)
    assert fairness.terminal_line(summary) == "fairness: 9/9 rules held"
    meta["evidence"]["service_probes"]["django"]["keep_alive"] = False
    summary = fairness.summarise(judge(meta), allowed=True)
    assert fairness.terminal_line(summary) == (
        "fairness: 8/9 rules held; VIOLATED: keep_alive (allowed by --allow-unfair)"
    )


def _duet_meta(windows: dict) -> dict:
    meta = fair_meta()
    meta["config"].update(variants=["fastapi@base", "fastapi@head"], repeat=1, duet=True)
    meta["evidence"]["order"] = ["fastapi@base#1", "fastapi@head#1"]
    meta["evidence"]["windows"] = windows
    return meta


def _window(start: float, warmup_requests: int = 100) -> dict:
    return {
        "measure_start_offset_s": 3.0,
        "warmup_requests": warmup_requests,
        "measure_start": start,
        "measure_end": start + 10.0,
    }


def test_a_duet_holds_only_when_both_sides_share_the_window():
    aligned = _duet_meta({"fastapi@base#1": _window(1000.0), "fastapi@head#1": _window(1000.01)})
    assert verdicts(aligned)["warmup_excluded_interleaved"] is True
    apart = _duet_meta({"fastapi@base#1": _window(1000.0), "fastapi@head#1": _window(1000.4)})
    assert verdicts(apart)["warmup_excluded_interleaved"] is False
    (rule,) = [r for r in judge(apart) if r.name == "warmup_excluded_interleaved"]
    assert "fastapi@base/fastapi@head repetition 1 0.40 s apart" in rule.evidence
    # A side whose users only started inside the window (no warm-up request) is not in a duet.
    late = _duet_meta({"fastapi@base#1": _window(1000.0), "fastapi@head#1": _window(1000.0, 0)})
    rec = record.from_dict(late)
    assert fairness.duet_misaligned(rec.config, rec.evidence.windows) == [
        "fastapi@head repetition 1: no request before the window"
    ]
