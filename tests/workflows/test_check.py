"""`chatbench check` against a stored baseline, end to end (``chatbench.workflows.check``).

The rule itself is tested on numbers in ``tests/analysing/test_gate.py``; here two short real
runs (seconds each) prove the whole gate: a baseline made from a run, the same run passing
against it, and a run with a CPU burn injected into one variant failing with that variant,
endpoint and metric named; and every usage error stops before any load. Runs here write no
charts or report (``cli.main(..., report=False)``): the gate reads raw repetitions, the report
has its own tests, and drawing costs seconds per run on a busy 2-core box.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.analysing.gate import require_repetitions
from chatbench.configuration import settings as config_mod
from chatbench.errors import UsageError
from chatbench.storing import baselines as baseline_mod
from chatbench.storing import history
from chatbench.storing.record import InvalidRepetition
from chatbench.workflows import check as check_mod
from tests.analysing.test_gate import REF, SATURATED, _summary
from tests.fixtures.run_shape import GOLDEN, assert_same_shape


def test_fewer_than_two_repetitions_are_refused_before_any_load(tmp_path: Path, capsys) -> None:
    """One repetition has no spread to judge against, and its seconds are no substitute: a
    planned run, a baseline or a run with fewer than 2 of a variant is a usage error (exit 2)."""
    settings = check_mod.candidate_settings(config_mod.build("smoke"))  # smoke: repeat = 1
    path = baseline_mod.save(_summary({"fastapi": {"ALL": {"rps": REF}}}, **settings),
                             tmp_path / "b.json")  # fmt: skip
    assert cli.main(["check", "--baseline", str(path), "--profile", "smoke"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "needs at least 2 repetitions of each variant on both sides" in err
    assert "this run would make 1" in err and "Traceback" not in err
    assert cli.main(["check", "--base", "HEAD", "--profile", "smoke"]) == 2  # A/B: no build
    assert "this run would make 1" in " ".join(capsys.readouterr().err.split())
    one = baseline_mod.save(_summary({"fastapi": {"ALL": {"rps": [100.0]}}}), tmp_path / "1.json")
    with pytest.raises(UsageError, match=r"1.json has 1 repetition\(s\) of fastapi"):
        check_mod.preflight(one)
    # A repetition excluded as invalid was still measured: judged (and failed) as before.
    require_repetitions(
        baseline_mod.Summary({"fastapi": {"ALL": {"rps": [100.0]}}}, {},
                             excluded=[InvalidRepetition(variant="fastapi", repetition=2)]),
        "run r",
    )  # fmt: skip


# -- baseline files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        "[]",
        json.dumps({"format_version": 99, "settings": {}, "values": {"a": {}}}),
        json.dumps({"format_version": 1, "settings": {}, "values": {}}),
        json.dumps({"format_version": 1, "settings": {}, "values": {"a": {"ALL": {"rps": "x"}}}}),
    ],
)
def test_corrupt_baseline_is_a_usage_error(tmp_path: Path, content: str, capsys) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    assert cli.main(["check", "--baseline", str(path), "--profile", "smoke"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err.replace("\n", "") and "Traceback" not in err


def test_missing_baseline_is_a_usage_error(tmp_path: Path, capsys) -> None:
    assert cli.main(["check", "--baseline", str(tmp_path / "nope.json")]) == 2
    assert "does not exist" in " ".join(capsys.readouterr().err.split())


# -- end to end: two short real runs ----------------------------------------------------------

# 4 repetitions: the fewest at which the default rule can decide (Mann-Whitney p < 0.05).
TINY = ["--profile", "smoke", "--variants", "fastapi", "--repeat", "4", "--duration", "1.5",
        "--warmup", "1"]  # fmt: skip
BURN_US = 10_000  # 10 ms of CPU per request: several times the ~5 ms request time here


@pytest.fixture(scope="module")
def made_baseline(
    pg_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path, Path]:
    """(baseline file, its run directory, results dir) from one real tiny run."""
    root = tmp_path_factory.mktemp("check")
    out = root / "results"
    path = root / "baselines" / "tiny.json"
    code = cli.main(
        ["check", *TINY, "--update-baseline", "--baseline", str(path), "--out", str(out),
         "--database-url", pg_server_url],
        report=False,
    )  # fmt: skip
    assert code == 0
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    return path, run_dir, out


def test_run_checked_against_a_baseline_made_from_itself_passes(made_baseline, capsys) -> None:
    path, run_dir, out = made_baseline
    hist = out / "history.jsonl"
    code = cli.main(
        ["check", "--run", str(run_dir), "--baseline", str(path), "--history", str(hist)]
    )
    # Against itself no regression: a pass, or undecided (exit 4) when 4 short repetitions on
    # a busy machine are too noisy to rule a 10 % slowdown out.
    assert code in (0, 4), capsys.readouterr()
    assert ("PASS" if code == 0 else "UNDECIDED") in (run_dir / "verdict.md").read_text()
    (entry,) = list(history.read(hist))
    assert entry["passed"] and entry["run_id"] == run_dir.name
    assert entry["exit_code"] == code
    assert entry["metrics"]["fastapi"]["ALL"]["rps"] > 0
    saved = json.loads(path.read_text())
    assert len(saved["values"]["fastapi"]["ALL"]["rps"]) + len(saved["excluded"]) == 4


def test_a_run_records_its_control_and_the_gate_can_use_it(made_baseline, capsys) -> None:
    path, run_dir, out = made_baseline
    meta = json.loads((run_dir / "meta.json").read_text())
    reps = meta["control"]["repetitions"]
    assert [c["repetition"] for c in reps] == [1, 2, 3, 4]  # once per repetition round
    assert all(c["ops_per_s"] > 0 and c["p50_ms"] > 0 for c in reps), reps
    saved = json.loads(path.read_text())
    assert sorted(saved["control"]["repetitions"]) == ["1", "2", "3", "4"]
    assert saved["normalised"]["fastapi"]["ALL"]["rps"]
    code = cli.main([
        "check", "--run", str(run_dir), "--baseline", str(path), "--gate", "normalised",
        "--history", str(out / "history-normalised.jsonl"),
    ])  # fmt: skip
    assert code in (0, 4), capsys.readouterr()  # no regression (undecided when too noisy)
    check_json = json.loads((run_dir / "check.json").read_text())
    assert check_json["rule"]["gate"] == "normalised"
    assert all(f["normalised"] for f in check_json["findings"] if f["metric"] == "rps")
    from chatbench.presenting import report

    html = report.render_report(run_dir)
    assert 'id="control"' in html and "Control probe" in html


def test_a_saturated_repetition_fails_the_stored_baseline_check(
    made_baseline, tmp_path: Path, capsys
) -> None:
    import shutil

    path, run_dir, out = made_baseline
    copy = tmp_path / run_dir.name
    shutil.copytree(run_dir, copy)
    meta = json.loads((copy / "meta.json").read_text())
    meta["invalid_repetitions"] = [{"variant": "fastapi", "repetition": 2, **SATURATED}]
    (copy / "meta.json").write_text(json.dumps(meta))
    code = cli.main(
        ["check", "--run", str(copy), "--baseline", str(path), "--history", str(tmp_path / "h")]
    )
    captured = capsys.readouterr()
    assert code == 3, captured.out + captured.err  # not comparable: untrustworthy figures
    text = " ".join((captured.out + captured.err).split())
    assert "fastapi repetition 2 is invalid (loadgen saturated)" in text
    assert "not trustworthy" in text


def test_an_undecided_check_exits_4_and_says_so(made_baseline, tmp_path: Path, capsys) -> None:
    """A baseline of 3 repetitions, fewer than the gate's 4 a side (its noise term raises the
    threshold with a noisy baseline, so noise alone can still give "no change"): no regression
    is found and none can be ruled out, so the check exits 4, not 0 (a pass) nor 1 (a
    regression), and check.json, verdict.md and the history line say "undecided"."""
    path, run_dir, _ = made_baseline
    doc = json.loads(path.read_text())
    values = doc["values"]["fastapi"]["ALL"]["rps"]
    centre = sum(values) / len(values)
    few = [centre * f for f in (0.9, 1.0, 1.1)]
    doc["values"] = {"fastapi": {"ALL": {"rps": few}}}
    doc.pop("normalised", None)
    few_path = tmp_path / "few.json"
    few_path.write_text(json.dumps(doc))
    hist = tmp_path / "history.jsonl"
    code = cli.main(["check", "--run", str(run_dir), "--baseline", str(few_path),
                     "--history", str(hist)])  # fmt: skip
    out = " ".join(capsys.readouterr().out.split())
    assert code == 4, out
    assert "exit code 4 (undecided)" in out
    check_json = json.loads((run_dir / "check.json").read_text())
    assert (check_json["status"], check_json["exit_code"]) == ("undecided", 4)
    assert "UNDECIDED within the budget (exit 4)" in (run_dir / "verdict.md").read_text()
    (entry,) = list(history.read(hist))
    assert (entry["status"], entry["exit_code"], entry["passed"]) == ("undecided", 4, True)


def test_injected_slowdown_fails_naming_variant_endpoint_and_metric(
    made_baseline, pg_server_url: str, capsys
) -> None:
    path, _, out = made_baseline
    before = {p for p in out.iterdir() if p.is_dir()}
    # With its report: the golden list has the report's files.
    code = cli.main([
        "check", *TINY, "--baseline", str(path), "--out", str(out),
        "--history", str(out / "history.jsonl"), "--database-url", pg_server_url,
        "--service-env", f"fastapi:CHATBENCH_BURN_US={BURN_US}",
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 1, captured.out + captured.err
    err = " ".join(captured.err.split())
    assert "regression: fastapi ALL rps" in err
    # Closed loop: latency restates throughput (Little's law), shown but never a regression.
    assert "regression: fastapi POST /api/chat/messages p95" not in err
    # The files, summary.csv's columns and meta.json's keys are the golden list's.
    (checked,) = {p for p in out.iterdir() if p.is_dir()} - before
    meta = json.loads((checked / "meta.json").read_text())
    assert meta["config"]["service_env"] == {"fastapi": {"CHATBENCH_BURN_US": str(BURN_US)}}
    assert_same_shape(checked, GOLDEN / "smoke_check.json")


def test_baseline_from_other_settings_is_refused(made_baseline, tmp_path: Path, capsys) -> None:
    path, run_dir, _ = made_baseline
    doc = json.loads(path.read_text())
    doc["settings"]["users"] = 99
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc))
    assert cli.main(["check", "--run", str(run_dir), "--baseline", str(other)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "different settings (users: baseline 99, this run 4)" in err
    # Refused before any load runs: a planned run with other settings fails at once.
    assert cli.main(["check", *TINY, "--users", "7", "--baseline", str(path)]) == 3
    assert "users: baseline 4, this run 7" in " ".join(capsys.readouterr().err.split())


# -- usage errors of the normalised gate -------------------------------------------------------


def test_gating_normalised_on_a_baseline_without_control_exits_3(tmp_path: Path, capsys) -> None:
    """Not comparable (exit 3): the baseline lacks the figures asked for; a bad option is 2."""
    path = baseline_mod.save(_summary({"fastapi": {"ALL": {"rps": REF}}}), tmp_path / "old.json")
    code = cli.main(
        ["check", "--baseline", str(path), "--gate", "normalised", "--profile", "smoke"]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 3, err
    assert "--gate normalised needs a baseline with control values" in err
    assert "Traceback" not in err
    assert cli.main(["check", "--baseline", str(path), "--gate", "fastest"]) == 2
    assert "--gate must be one of raw, normalised" in " ".join(capsys.readouterr().err.split())


def test_gating_normalised_in_a_same_runner_ab_check_is_a_usage_error(capsys) -> None:
    assert cli.main(["check", "--base", "HEAD", "--gate", "normalised"]) == 2
    assert "both sides share the machine" in " ".join(capsys.readouterr().err.split())
