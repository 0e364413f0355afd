"""scripts/ab_power.py's bookkeeping: what counts as a detection, a false alarm, an error.

(The measurement itself takes an hour of load; these check the arithmetic it reports.)"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

from chatbench.configuration.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location("ab_power", REPO_ROOT / "scripts" / "ab_power.py")
ab_power = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab_power)


def _check(code: int, ratio: float, regressions: list[tuple[str, str, str]]) -> dict:
    findings = [
        {"variant": "fastapi", "endpoint": "ALL", "metric": "rps", "ratio": ratio,
         "reference": [100.0] * 8, "candidate": [100.0 * ratio] * 8, "outcome": "no change"},
    ]  # fmt: skip
    findings += [
        {"variant": v, "endpoint": e, "metric": m, "ratio": 0.8, "outcome": "regression"}
        for v, e, m in regressions
    ]
    return {"code": code, "seconds": 290.0 + code, "check": {"findings": findings}}


def test_detections_false_alarms_and_errors_are_counted_apart() -> None:
    trials = [
        ("injected", _check(1, 0.88, [("fastapi", "ALL", "rps")])),  # detected
        ("injected", _check(1, 0.90, [("django", "ALL", "p99")])),  # failed, not for fastapi
        ("injected", _check(0, 0.93, [])),  # missed
        # passed: its latency "regressions" are information only (closed loop), not a detection
        ("injected", _check(0, 0.95, [("fastapi", "ALL", "p95"), ("fastapi", "ALL", "p99")])),
        ("none", _check(1, 1.01, [("fastapi", "GET /api/chat/messages", "p95")])),  # alarm
        ("none", _check(0, 0.99, [])),
        ("none", {"code": 2, "seconds": 3.0, "check": {}}),  # the check could not run
        ("none", _check(4, 0.97, [])),  # undecided within the budget: judged, no alarm
        ("injected", _check(4, 0.96, [])),  # undecided: not detected, not an error
    ]
    records = [ab_power.trial_record(k, i, r, "fastapi") for i, (k, r) in enumerate(trials)]
    assert records[0]["regressions"] == ["fastapi ALL rps"]
    assert records[0]["repetitions"] == 8 and records[6]["rps_change"] is None
    summary = ab_power.summarise(records, "fastapi")
    assert summary["trials"] == {"none": 4, "injected": 5}
    assert (summary["detected"], summary["false_alarms"], summary["errors"]) == (1, 1, 1)
    assert summary["seconds_max"] == 294.0
    assert abs(summary["injected_rps_change_median"] - (0.93 - 1)) < 1e-9
    text = ab_power.report(summary, "fastapi")
    assert "detection rate : 1/5" in text and "false alarms   : 1/4" in text


def test_save_writes_every_trial_and_the_summary(tmp_path: Path) -> None:
    records = [ab_power.trial_record("none", 1, _check(0, 1.0, []), "fastapi")]
    args = SimpleNamespace(variant="fastapi", extra=["--profile", "ci"])
    out = tmp_path / "power.json"
    ab_power.save(out, 150, args, records)
    data = json.loads(out.read_text())
    assert data["burn_us"] == 150 and data["check_arguments"] == ["--profile", "ci"]
    assert data["trials"] == records and data["summary"]["false_alarms"] == 0


def test_the_verdict_is_found_in_whichever_round_wrote_it(tmp_path: Path) -> None:
    """A check with extra rounds leaves a run directory per round; only the last has the
    verdict, and directory order says nothing about which that is."""
    for name in ("20261129T211237Z-b", "20261129T211008Z-a", "20261129T211500Z-c"):
        (tmp_path / name).mkdir()
    (tmp_path / "20261129T211008Z-a" / "check.json").write_text('{"passed": true}')
    assert ab_power.read_verdict(tmp_path) == {"passed": True}
    assert ab_power.read_verdict(tmp_path / "missing") == {}


def test_burn_is_scaled_by_what_the_guess_cost_in_the_check() -> None:
    # 267 µs cost 14.7 %: the cost per request it reveals is 267 · 0.853 / 0.147 ≈ 1549 µs,
    # and 10 % of throughput needs 1549 / 9 ≈ 172 µs.
    assert ab_power.burn_for(267, 0.853, 0.10) == 172
    assert ab_power.burn_for(100, 0.95, 0.10) == 211  # a guess that cost too little grows
    for useless in (None, 1.0, 1.02, 0.0):
        assert ab_power.burn_for(267, useless, 0.10) == 267


def test_the_query_count_is_scaled_by_what_one_query_cost_in_the_check() -> None:
    # One query cost 4 %: q/c = 1/0.96 − 1 ≈ 0.0417, and 10 % needs n·q/c = 1/9 ≈ 0.111:
    # n = 2.67 queries per request; one that cost 18.6 % (FastAPI's) overshoots: 0.49.
    assert ab_power.queries_for(0.96, 0.10) == 2.67
    assert ab_power.queries_for(0.98, 0.10) == 5.44
    assert ab_power.queries_for(0.8137, 0.10) == 0.49
    assert ab_power.queries_for(0.001, 0.10) == 0.01  # never zero: that injects nothing
    assert ab_power.queries_for(0.9999, 0.10) == ab_power.MAX_QUERIES
    for useless in (None, 1.0, 1.03, 0.0):
        assert ab_power.queries_for(useless, 0.10) == 1
        assert ab_power.queries_for(useless, 0.10, probed=0.39) == 0.39  # keeps what it probed


def test_the_query_rate_is_probed_until_a_probe_costs_the_target(
    tmp_path: Path, monkeypatch
) -> None:
    """FastAPI's shape on 2026-11-30: one query cost 18.6 %, the 0.49 the fixed-cost model asked
    for cost 18.7 %, 0.24 cost ~14 %: each next rate lies between zero and the smallest rate
    that cost too much, until a probe lands within 2 points of the 10 % target."""
    ratios = iter([0.814, 0.813, 0.86, 0.905])
    envs: list[str] = []

    def fake_check(extra: list[str], out: Path, repo: Path, env: list[str]) -> dict:
        envs.append(env[-1].rpartition("=")[2])
        return _check(0, next(ratios), [])

    monkeypatch.setattr(ab_power, "run_check", fake_check)
    rate, info = ab_power.calibrate_queries("fastapi", 0.10, [], tmp_path, tmp_path)
    # 1 → 0.49 (1/9 ÷ 0.228); 0.49 → 0.24 (not 1's 0.49 again); 0.24 → 0.16; 0.16 costs 9.5 %
    assert envs == ["1", "0.49", "0.24", "0.16"]
    assert rate == 0.16 and [p["queries"] for p in info["probes"]] == [1.0, 0.49, 0.24, 0.16]
    # a first probe that already costs the target is kept without another
    ratios, envs[:] = iter([0.91]), []
    assert ab_power.calibrate_queries("fastapi", 0.10, [], tmp_path, tmp_path)[0] == 1.0
    assert envs == ["1"]
    # never more than MAX_PROBES checks; when every probe misses, the probed rate nearest the
    # target is kept, never an untried one (1 → 0.11 → 0.18 between them → 0.12)
    ratios, envs[:] = iter([0.5, 0.97] * 5), []
    rate, info = ab_power.calibrate_queries("fastapi", 0.10, [], tmp_path, tmp_path)
    assert envs == ["1", "0.11", "0.18", "0.12"] and rate == 0.11


def test_the_next_rate_is_bracketed_by_the_probes_or_extrapolated_from_the_largest() -> None:
    probe = lambda q, r: {"queries": q, "rps_ratio": r}  # noqa: E731
    # django: one query cost 5.8 %, so about two
    assert ab_power.next_query_rate([probe(1.0, 0.9452)], 0.10) == 1.92
    # bracketed by 1.0 (too little) and 3.0 (too much): interpolated in cost between them
    nxt = ab_power.next_query_rate([probe(1.0, 0.9452), probe(3.0, 0.80)], 0.10)
    assert 1.0 < nxt < 3.0 and nxt == round(1 + (1 / 9 - 0.058) * 2 / (0.25 - 0.058), 2)
    # a probe without a ratio says nothing; one without effect costs zero
    assert ab_power.next_query_rate([probe(1.0, None)], 0.10) == 1.0
    assert ab_power.next_query_rate([probe(1.0, 1.02)], 0.10) == 1.0


def test_both_frameworks_and_both_kinds_of_regression_are_planned(tmp_path: Path) -> None:
    plan = ab_power.plan("django,fastapi", "burn,query", tmp_path, "2026-11-30")
    assert [(m["variant"], m["injector"]) for m in plan] == [
        ("django", "burn"), ("django", "query"), ("fastapi", "burn"), ("fastapi", "query"),
    ]  # fmt: skip
    assert plan[1]["save"] == tmp_path / "ab_power-2026-11-30-django-query.json"
    assert ab_power.injection_env("django", "query", 3) == [
        "--service-env", "django@head:CHATBENCH_EXTRA_QUERY=3",
    ]  # fmt: skip
    assert ab_power.injection_env("fastapi", "burn", 170)[-1] == (
        "fastapi@head:CHATBENCH_BURN_US=170"
    )
    assert ab_power.injection_env("fastapi", "query", 0.49)[-1] == (
        "fastapi@head:CHATBENCH_EXTRA_QUERY=0.49"
    )
    assert ab_power.injection_env("fastapi", "query", 2.0)[-1].endswith("QUERY=2")
    import pytest

    with pytest.raises(ValueError, match="--injector one of burn, query"):
        ab_power.plan("fastapi", "sleep", None, "x")
    (tmp_path / "ab_power-2026-11-30-fastapi-query.json").write_text("{}")  # an hour's work
    with pytest.raises(ValueError, match="fastapi-query.json already exists; rename it"):
        ab_power.plan("django,fastapi", "query", tmp_path, "2026-11-30")
    records = [ab_power.trial_record("none", 1, _check(0, 1.0, []), "django")]
    out = tmp_path / "q.json"
    ab_power.save(out, 0, SimpleNamespace(variant="django", extra=[], injector="query"), records)
    data = json.loads(out.read_text())
    assert data["injector"] == "query" and data["burn_us"] is None and data["queries"] == 0


def test_a_trial_checks_only_the_variant_it_injects_into() -> None:
    """Each check measures the variant under test (as the workflow's one-framework jobs do)
    unless the arguments name variants themselves."""
    assert ab_power.check_arguments(["--budget", "5m"], "django") == [
        "--budget", "5m", "--variants", "django",
    ]  # fmt: skip
    for named in (["--variants", "fastapi"], ["--variants=fastapi"]):
        assert ab_power.check_arguments(named, "django") == named


def test_injected_only_runs_no_no_change_trials(tmp_path: Path, monkeypatch) -> None:
    calls: list[tuple[list[str], list[str]]] = []

    def fake_check(extra: list[str], out: Path, repo: Path, env: list[str]) -> dict:
        calls.append((extra, env))
        return _check(1, 0.9, [("fastapi", "ALL", "rps")])

    monkeypatch.setattr(ab_power, "run_check", fake_check)
    args = SimpleNamespace(
        variant="fastapi", injector="query", queries=3, burn_us=None, injected_only=True,
        trials=2, extra=["--budget", "5m"], slowdown=0.1, save=tmp_path / "p.json",
    )  # fmt: skip
    assert ab_power.measure(args, tmp_path, tmp_path) == 0
    assert calls == [
        (["--budget", "5m", "--variants", "fastapi"],
         ["--service-env", "fastapi@head:CHATBENCH_EXTRA_QUERY=3"]),
    ] * 2  # fmt: skip
    data = json.loads((tmp_path / "p.json").read_text())
    assert data["injected_only"] is True and data["queries"] == 3
    assert [t["kind"] for t in data["trials"]] == ["injected", "injected"]
    assert data["summary"]["trials"] == {"none": 0, "injected": 2}


def test_an_existing_save_file_or_a_bad_rate_is_refused_before_any_check(tmp_path: Path) -> None:
    kept = tmp_path / "power.json"
    kept.write_text('{"trials": ["an hour of work"]}')
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "ab_power.py"), "--save", str(kept)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2 and "already exists" in done.stderr
    assert "Traceback" not in done.stderr and "an hour of work" in kept.read_text()
    for bad in ("0", "0.001", "21"):  # a rate the services could not take, or none at all
        done = subprocess.run(
            [sys.executable, str(REPO_ROOT / "scripts" / "ab_power.py"), "--queries", bad],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert done.returncode == 2 and "--queries must be from 0.01 to 20" in done.stderr
