"""Baseline files (``chatbench.storing.baselines``): what they keep, and what they refuse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbench.analysing import figures
from chatbench.analysing import gate as check_mod
from chatbench.analysing.gate import Rule
from chatbench.errors import NotComparableError, UsageError
from chatbench.presenting import verdict
from chatbench.storing import baselines as baseline_mod
from tests.analysing.test_gate import CONTROL, REF, _slower_machine, _summary


def test_baseline_round_trip_and_settings_refusal(tmp_path: Path) -> None:
    s = _summary({"fastapi": {"ALL": {"rps": REF}}}, profile="ci", users=20, variants=["fastapi"])
    path = baseline_mod.save(s, tmp_path / "b.json")
    loaded = baseline_mod.load(path)
    assert loaded.values == s.values and loaded.settings == s.settings
    other = _summary({}, profile="ci", users=50, variants=["fastapi"])
    with pytest.raises(NotComparableError, match="users: baseline 20, this run 50"):
        figures.require_same_settings(loaded, other, baseline_path=path)


def test_a_baseline_without_control_loads_with_normalised_not_available(tmp_path: Path) -> None:
    ref, cand = _slower_machine()
    old = baseline_mod.Summary(ref.values, {}, run_id="old")  # made before the probe existed
    path = baseline_mod.save(old, tmp_path / "old.json")
    doc = json.loads(path.read_text())
    for key in ("control", "normalised"):  # a file written before these keys existed
        doc.pop(key)
    path.write_text(json.dumps(doc))
    loaded = baseline_mod.load(path)
    assert loaded.normalised is None and loaded.control == {}
    result = check_mod.compare(loaded, cand)
    assert result.normalised is None and "reference has no control values" in (
        result.normalised_note
    )
    assert "Normalised figures: not available" in verdict.to_markdown(result)
    assert verdict.to_json(result)["findings"][0]["normalised"] is None
    with pytest.raises(NotComparableError, match="--gate normalised needs normalised"):
        check_mod.compare(loaded, cand, rule=Rule(gate="normalised"))


def test_control_values_survive_a_baseline_round_trip(tmp_path: Path) -> None:
    ref, _ = _slower_machine()
    loaded = baseline_mod.load(baseline_mod.save(ref, tmp_path / "b.json"))
    assert loaded.control == CONTROL and loaded.normalised == ref.normalised
    doc = json.loads((tmp_path / "b.json").read_text())
    doc["control"] = {"repetitions": {"1": -3}}
    (tmp_path / "bad.json").write_text(json.dumps(doc))
    with pytest.raises(UsageError, match="control is not a map"):
        baseline_mod.load(tmp_path / "bad.json")
