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
    assert row.startswith("| django | extra queries, 3 per request | −10.0 % | 2/2 | 0/1 | ")
    assert "| 100 s / 170 s |" in row
    assert gate_power.lines(tmp_path / "none") == []
