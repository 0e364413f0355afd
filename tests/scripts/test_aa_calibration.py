"""scripts/aa_calibration.py on a fake runner: what counts as a false alarm, the bias of the
sides with its interval and sign test, and the file it saves after every check.

(The calibration itself takes hours of a quiet machine; these check the arithmetic it reports.)"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
from scipy import stats as sps

from chatbench.configuration.paths import REPO_ROOT

_spec = importlib.util.spec_from_file_location(
    "aa_calibration", REPO_ROOT / "scripts" / "aa_calibration.py"
)
aa = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(aa)


def _fake(ratios: list[float], codes: list[int]):
    """A runner that returns a duet check's verdict per call, in order."""
    calls = iter(zip(ratios, codes, strict=True))

    def run(extra: list[str], out: Path, repo: Path) -> dict:
        ratio, code = next(calls)
        finding = {
            "variant": "fastapi", "endpoint": "ALL", "metric": "rps", "ratio": ratio,
            "ratio_ci": [ratio - 0.01, ratio + 0.01], "reference": [1.0] * 6,
            "outcome": "regression" if code == 1 else "no change", "gated": True,
        }  # fmt: skip
        return {"code": code, "seconds": 150.0 + len(extra), "check": {"findings": [finding]}}

    return run


def test_false_alarms_bias_and_time_are_summarised(tmp_path: Path) -> None:
    ratios = [1.004, 1.01, 0.998, 1.006, 1.002, 1.008, 0.97, 1.003]
    codes = [0, 0, 0, 0, 0, 0, 1, 0]
    save = tmp_path / "power" / "aa.json"
    doc = aa.calibrate(8, ["--variants", "fastapi"], tmp_path, tmp_path,
                       runner=_fake(ratios, codes), save=save)  # fmt: skip
    s = doc["summary"]
    assert (s["checks"], s["false_alarms"], s["errors"]) == (8, 1, 0)
    exact = sps.binomtest(1, 8).proportion_ci(0.90, method="exact").high
    assert s["false_alarm_rate_upper95"] == pytest.approx(exact)
    b = s["bias"]["fastapi"]
    assert b["mean_ratio"] == pytest.approx(math.exp(sum(map(math.log, ratios)) / 8))
    assert b["ci95"][0] < b["mean_ratio"] < b["ci95"][1]
    assert b["head_faster"] == 6 and b["sign_test_p"] == pytest.approx(sps.binomtest(6, 8).pvalue)
    assert s["seconds_median"] == 152.0
    assert json.loads(save.read_text()) == doc  # written after every check
    text = aa.report(s)
    assert "false alarms : 1/8" in text and "head faster in 6/8" in text


def test_a_consistent_head_advantage_is_significant(tmp_path: Path) -> None:
    ratios = [1.006, 1.007, 1.005, 1.008, 1.006, 1.007]
    doc = aa.calibrate(6, [], tmp_path, tmp_path, runner=_fake(ratios, [0] * 6))
    assert doc["summary"]["bias"]["fastapi"]["significant"] is True
    flat = [1.004, 0.996, 1.002, 0.998, 1.001, 0.999]
    doc = aa.calibrate(6, [], tmp_path, tmp_path, runner=_fake(flat, [0] * 6))
    assert doc["summary"]["bias"]["fastapi"]["significant"] is False


def test_frameworks_take_turns_one_per_check(tmp_path: Path) -> None:
    """``--frameworks django,fastapi``: check i runs the i-th in turn, as the workflow's
    one-framework jobs do, and each framework's false alarms are counted apart."""
    seen: list[list[str]] = []

    def run(extra: list[str], out: Path, repo: Path) -> dict:
        seen.append(extra)
        variant = extra[extra.index("--variants") + 1]
        code = 1 if variant == "django" and len(seen) == 3 else 0
        finding = {"variant": variant, "endpoint": "ALL", "metric": "rps", "ratio": 1.0,
                   "outcome": "no change", "gated": True}  # fmt: skip
        # A failed check may hold no throughput finding: it still counts against its framework.
        return {"code": code, "seconds": 100.0, "check": {"findings": [] if code else [finding]}}

    doc = aa.calibrate(4, ["--profile", "ci"], tmp_path, tmp_path, runner=run,
                       frameworks=["django", "fastapi"])  # fmt: skip
    assert seen == [["--profile", "ci", "--variants", v]
                    for v in ("django", "fastapi", "django", "fastapi")]  # fmt: skip
    assert doc["checks"][1]["check_arguments"] == ["--profile", "ci", "--variants", "fastapi"]
    bias = doc["summary"]["bias"]
    assert (bias["django"]["checks"], bias["django"]["false_alarms"]) == (1, 1)
    assert (bias["fastapi"]["checks"], bias["fastapi"]["false_alarms"]) == (2, 0)


def test_a_calibration_is_extended_where_it_stopped(tmp_path: Path) -> None:
    """``--extend FILE --checks N``: N more checks, numbered and taking turns after the
    file's own, with its arguments; an undecided check (exit 4) is judged, not an error."""
    save = tmp_path / "aa.json"
    seen: list[list[str]] = []

    def run(extra: list[str], out: Path, repo: Path) -> dict:
        seen.append(extra)
        variant = extra[extra.index("--variants") + 1]
        finding = {"variant": variant, "endpoint": "ALL", "metric": "rps", "ratio": 1.0,
                   "outcome": "no change", "gated": True}  # fmt: skip
        return {"code": 4 if len(seen) == 4 else 0, "seconds": 100.0,
                "check": {"findings": [finding]}}  # fmt: skip

    aa.calibrate(3, ["--profile", "ci"], tmp_path, tmp_path, runner=run, save=save,
                 frameworks=["django", "fastapi"])  # fmt: skip
    old = aa.extension(save, [], None)
    assert old["frameworks"] == ["django", "fastapi"] and len(old["checks"]) == 3
    doc = aa.calibrate(2, old["check_arguments"], tmp_path, tmp_path, runner=run, save=save,
                       frameworks=old["frameworks"], earlier=old["checks"])  # fmt: skip
    assert [c["check"] for c in doc["checks"]] == [1, 2, 3, 4, 5]
    assert [x[-1] for x in seen] == ["django", "fastapi", "django", "fastapi", "django"]
    s = doc["summary"]
    assert (s["checks"], s["errors"], s["false_alarms"]) == (5, 0, 0)
    assert doc["checks_planned"] == 5 and json.loads(save.read_text()) == doc
    with pytest.raises(ValueError, match="give the same or none"):
        aa.extension(save, ["--profile", "smoke"], None)
    (tmp_path / "bad.json").write_text("[]")
    with pytest.raises(ValueError, match="not a calibration"):
        aa.extension(tmp_path / "bad.json", [], None)
