"""README's regression-tracking figures are read from the committed gate measurements."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from chatbench.configuration.paths import REPO_ROOT
from chatbench.presenting import gate_power

_spec = importlib.util.spec_from_file_location(
    "aa_calibration", REPO_ROOT / "scripts" / "aa_calibration.py"
)
aa = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aa)


def _check(i: int, code: int, ratio: float, seconds: float) -> dict:
    return {
        "check": i, "exit_code": code, "seconds": seconds, "regressions": [],
        "check_arguments": ["--variants", "fastapi"],
        "ratios": {"fastapi": {"ratio": ratio, "ratio_ci": None, "outcome": "no change",
                               "pairs": 4}},
    }  # fmt: skip


def test_calibration_and_power_files_become_one_line_and_one_row_each(tmp_path: Path) -> None:
    checks = [_check(i, int(i == 3), r, s) for i, (r, s) in
              enumerate([(1.01, 100), (0.99, 120), (1.03, 300), (0.99, 110)], 1)]  # fmt: skip
    doc = {"check_arguments": ["--variants", "fastapi"], "checks": checks,
           "summary": aa.summarise(checks)}  # fmt: skip
    (tmp_path / "aa-2026-11-30-fastapi.json").write_text(json.dumps(doc))
    trials = [{"kind": k, "trial": 1, "exit_code": int(k == "injected"), "seconds": s,
               "rps_change": c, "repetitions": 4, "regressions": []}
              for k, s, c in [("none", 170, 0.01), ("injected", 100, -0.11),
                              ("injected", 90, -0.09)]]  # fmt: skip
    power = {"injector": "query", "burn_us": None, "queries": 3, "variant": "django",
             "check_arguments": ["--variants", "django"], "trials": trials,
             "summary": {"trials": {"none": 1, "injected": 2}, "detected": 2,
                         "false_alarms": 0, "errors": 0,
                         "injected_rps_change_median": -0.10}}  # fmt: skip
    (tmp_path / "ab_power-2026-11-30-django-query.json").write_text(json.dumps(power))
    (tmp_path / "ab_power-2026-11-29.json").write_text("{}")  # the older layout: not quoted
    block = gate_power.lines(tmp_path, "results/power")
    (calibration,) = [x for x in block if x.startswith("- A/A calibration")]
    assert "4 no-change duet checks" in calibration and "1 false alarm (" in calibration
    bound = aa.summarise(checks)["false_alarm_rate_upper95"]
    assert f"(one-sided 95 % bound {100 * bound:.0f} %)" in calibration
    assert "`scripts/aa_calibration.py --checks 4 -- --variants fastapi`" in calibration
    assert (
        "fastapi: 1 false alarm, head/base +0.5 %" in calibration
        and "not significant" in calibration
    )
    assert "median 115 s, max 300 s" in calibration
    (row,) = [x for x in block if x.startswith("| django |")]
    low = gate_power.rate_bounds(2, 2)[0]
    assert row.startswith(
        f"| django | extra queries, 3 per request | −10.0 % | 2/2 (≥ {100 * low:.0f} %) | "
        "0/1 (≤ 95 %; this file's no-change trials) | "
    )
    assert "| 100 s / 170 s |" in row
    assert row.endswith(  # the command that reruns these trials, read back from the file
        "json), rerun: `scripts/ab_power.py --trials 1 --variant django --injector query "
        "--queries 3 --save-dir results/power` |"
    )
    power.update(queries=0.24, slowdown=0.15, calibration={"probes": [], "queries": 0.24})
    (tmp_path / "ab_power-2026-11-30-django-query.json").write_text(json.dumps(power))
    (row,) = [x for x in gate_power.lines(tmp_path) if x.startswith("| django |")]
    assert row.startswith("| django | extra queries, 0.24 per request |")
    assert row.endswith(  # a calibrated strength is given too, so the rerun runs the same
        "json), strength calibrated by probes; rerun: `scripts/ab_power.py --trials 1 --variant "
        "django --injector query --queries 0.24 --slowdown 0.15 --save-dir results/power` |"
    )
    assert gate_power.lines(tmp_path / "none") == []
    doc["checks_planned"] = 20  # a calibration stopped after 4 of its 20 checks says so
    (tmp_path / "aa-2026-11-30-fastapi.json").write_text(json.dumps(doc))
    (calibration,) = [x for x in gate_power.lines(tmp_path) if x.startswith("- A/A")]
    assert "(interrupted: 4 of 20 run) (`scripts/aa_calibration.py --checks 20 " in calibration


def test_injected_only_trials_take_their_false_alarms_from_the_calibration(tmp_path: Path) -> None:
    checks = [_check(i, int(i == 2), 1.0, 100) for i in range(1, 5)]
    doc = {"check_arguments": [], "frameworks": ["fastapi"], "checks": checks,
           "summary": aa.summarise(checks)}  # fmt: skip
    (tmp_path / "aa-2026-11-30.json").write_text(json.dumps(doc))
    trials = [{"kind": "injected", "trial": 1, "exit_code": 1, "seconds": 95, "rps_change": -0.1,
               "repetitions": 4, "regressions": ["fastapi ALL rps"]}]  # fmt: skip
    power = {"injector": "burn", "burn_us": 200, "queries": None, "variant": "fastapi",
             "injected_only": True, "check_arguments": ["--variants", "fastapi"],
             "trials": trials, "summary": {"trials": {"none": 0, "injected": 1}, "detected": 1,
             "false_alarms": 0, "errors": 0, "injected_rps_change_median": -0.1}}  # fmt: skip
    (tmp_path / "ab_power-2026-11-30-fastapi-burn.json").write_text(json.dumps(power))
    block = gate_power.lines(tmp_path, "results/power")
    (calibration,) = [x for x in block if x.startswith("- A/A calibration")]
    assert "`scripts/aa_calibration.py --checks 4 --frameworks fastapi`" in calibration
    (row,) = [x for x in block if x.startswith("| fastapi |")]
    high = gate_power.rate_bounds(1, 4)[1]
    assert (
        f"| 1/1 (≥ 5 %) | 1/4 (≤ {100 * high:.0f} %; A/A checks 1–4 of aa-2026-11-30.json) | "
        "95 s / 95 s |" in row
    )
    power["check_arguments"] = ["--profile", "smoke", "--variants", "fastapi"]  # not the A/A's
    (tmp_path / "ab_power-2026-11-30-fastapi-burn.json").write_text(json.dumps(power))
    (row,) = [x for x in gate_power.lines(tmp_path) if x.startswith("| fastapi |")]
    assert "| 1/1 (≥ 5 %) | not measured |" in row
    assert (
        "`scripts/ab_power.py --trials 1 --variant fastapi --injector burn --injected-only "
        "--burn-us 200 --save-dir results/power -- --profile smoke` |" in row
    )


def test_readme_gets_the_short_form_of_the_newest_calibration_and_power_measurements(
    tmp_path: Path,
) -> None:
    ratios = [1.01, 0.99, 1.02, 0.99, 1.0, 1.01]
    checks = [_check(i, 0, r, 120 + i) for i, r in enumerate(ratios, 1)]
    doc = {"check_arguments": [], "frameworks": ["fastapi"], "checks": checks,
           "summary": aa.summarise(checks)}  # fmt: skip
    (tmp_path / "aa-2026-11-30.json").write_text(json.dumps(doc))
    power = {"injector": "query", "queries": 2, "burn_us": None, "variant": "django",
             "check_arguments": [], "trials": [{"seconds": 90.0}],
             "summary": {"trials": {"none": 0, "injected": 10}, "detected": 9,
                         "false_alarms": 0, "injected_rps_change_median": -0.104}}  # fmt: skip
    (tmp_path / "ab_power-2026-11-30-django-query.json").write_text(json.dumps(power))
    older = {**power, "queries": 5, "summary": {**power["summary"], "detected": 10}}
    (tmp_path / "ab_power-2026-11-29-django-query.json").write_text(json.dumps(older))
    _, heading, _, sentence = gate_power.summary_lines(tmp_path)
    assert heading == "### Regression tracking in CI"
    assert (
        "6 no-change duet checks (A/A) (6 of the 40 needed): 0 false alarms (one-sided 95 % "
        "bound " in sentence
    )
    assert "bound 39 %); time per check median 124 s, max 126 s;" in sentence  # of 121…126 s
    assert sentence.endswith(
        "injected slowdowns detected: django extra queries 9/10 (≥ 61 %; median −10.4 %) "
        "([details]"
        "(docs/ci-gate.md#measured-with-todays-gate))."
    )  # the newest of the two django × query measurements only; docs/ci-gate.md lists both
    rows = [x for x in gate_power.lines(tmp_path) if x.startswith("| django | extra queries")]
    assert [r.split(" | ")[1] for r in rows] == [
        "extra queries, 5 per request",
        "extra queries, 2 per request",
    ]
    assert gate_power.summary_lines(tmp_path / "none") == []


def test_small_samples_say_so_and_name_what_they_borrowed(tmp_path: Path) -> None:
    """A calibration short of 40 checks says how many it has and the command that adds the
    rest; checks run before alpha spending are named; the bounds are explained once."""
    checks = [_check(i, 0, 1.0, 100) for i in range(1, 21)]
    doc = {"check_arguments": [], "frameworks": ["fastapi"], "checks": checks,
           "summary": aa.summarise(checks)}  # fmt: skip
    (tmp_path / "aa-2026-11-30.json").write_text(json.dumps(doc))
    block = gate_power.lines(tmp_path)
    (line,) = [x for x in block if x.startswith("- A/A calibration")]
    assert "(one-sided 95 % bound 14 %); 20 of the 40 no-change checks needed" in line
    assert (
        "the other 20 are added by `scripts/aa_calibration.py --extend "
        "results/power/aa-2026-11-30.json --checks 20`" in line
    )
    assert block[-1].startswith(
        "Measured before the adaptive rounds spent alpha: checks 1–20 of aa-2026-11-30.json."
    )
    more = [{**_check(i, 4 * (i == 30), 1.0, 100), "gate": aa.GATE} for i in range(21, 41)]
    doc["checks"] = checks + more
    doc["summary"] = aa.summarise(doc["checks"])
    (tmp_path / "aa-2026-11-30.json").write_text(json.dumps(doc))
    block = gate_power.lines(tmp_path)
    assert "40 no-change duet checks" in block[0] and "needed" not in block[0]
    assert "(one-sided 95 % bound 7 %)" in block[0]  # an undecided check (exit 4) judged
    assert block[-1].endswith("checks 1–20 of aa-2026-11-30.json. Each round was then tested "
                              "at the full 0.05; today each look is tested at its share of it "
                              "(family-wise at most 5 %, see the adaptive rounds above), which "
                              "may take more rounds to detect a slowdown.")  # fmt: skip
    # A newer calibration replaces it: the older one no longer asks to be extended.
    doc["checks"] = checks
    doc["summary"] = aa.summarise(checks)
    (tmp_path / "aa-2026-11-30.json").write_text(json.dumps(doc))
    newer = [{**_check(i, 0, 1.0, 100), "gate": aa.GATE} for i in range(1, 41)]
    (tmp_path / "aa-2026-12-07.json").write_text(json.dumps(
        {"check_arguments": [], "frameworks": ["fastapi"], "checks": newer,
         "summary": aa.summarise(newer)}))  # fmt: skip
    older, latest = [x for x in gate_power.lines(tmp_path) if x.startswith("- A/A calibration")]
    assert "20 no-change duet checks" in older and "needed" not in older
    assert "40 no-change duet checks" in latest and "needed" not in latest
    assert gate_power.detected_text(10, 10) == "10/10 (≥ 74 %)"
    assert gate_power.alarms_text(0, 20) == "0/20 (≤ 14 %)"
