"""Change points over the check history (``chatbench.analysing.changepoints``, Apache Otava).

Synthetic, seeded histories written the way `chatbench check` writes them: two known shifts
are found at the right commits, a flat noisy history has none, and a chain of five −2 % A/B
ratios (each within the 5 % threshold, so each check passed) is flagged as a drift. The
threshold is stricter than Otava's default p of 0.001: the flat-history test counts how many of
100 flat noisy histories raise any shift.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from chatbench import cli
from chatbench.analysing import changepoints
from chatbench.analysing.gate import AB_THRESHOLD, slowdown
from chatbench.presenting import history_chart
from chatbench.storing import history

SHAS = [f"{i:02d}" + "c" * 38 for i in range(60)]


def _baseline_history(path: Path, rps: np.ndarray) -> None:
    for i, value in enumerate(rps):
        history.append(path, history.record(
            run_id=f"r{i}", git_sha=SHAS[i], machine_class="m", mode="baseline",
            reference="baseline ci.json", passed=True, regressions=[],
            metrics={"fastapi": {"ALL": {"rps": float(value), "p95": 20.0}}},
        ))  # fmt: skip


def test_two_known_shifts_are_found_at_their_commits(tmp_path: Path) -> None:
    rng = np.random.default_rng(19)
    rps = np.concatenate(
        [rng.normal(1000, 12, 20), rng.normal(900, 12, 20), rng.normal(960, 12, 20)]
    )
    path = tmp_path / "history.jsonl"
    _baseline_history(path, rps)
    trend = history_chart.build_trend(history.read(path), source=path, metrics=["rps"])
    shifts = trend.shifts[("fastapi", "rps")]
    assert [s.sha for s in shifts] == [SHAS[20], SHAS[40]]
    down, up = shifts
    assert down.worse and not up.worse
    # Sizes near the true −10 % and +6.7 %, each with a real 95 % interval around it.
    assert down.ratio.value == pytest.approx(0.9, abs=0.01)
    assert up.ratio.value == pytest.approx(960 / 900, abs=0.01)
    for s in shifts:
        assert s.ratio.is_ci and s.ratio.low < s.ratio.value < s.ratio.high
    assert "shift at commit " + SHAS[20] in down.sentence()


def test_a_flat_noisy_history_has_no_shift() -> None:
    shas = SHAS[:50]
    raised = 0
    for seed in range(100):
        flat = np.random.default_rng(seed).normal(1000, 20, 50)
        raised += bool(changepoints.detect(list(flat), shas, series="flat", metric="rps"))
    assert raised <= 3  # the false-alarm rate per 50-check history stays a few per cent
    flat = np.random.default_rng(2026).normal(1000, 20, 50)
    assert changepoints.detect(list(flat), shas, series="flat", metric="rps") == []


def test_five_small_ab_steps_each_passing_are_flagged_as_a_drift(tmp_path: Path) -> None:
    """Ten steady merges, five at −2 % each (each well inside the A/B threshold, so each
    passed), then ten steady ones: the chained ratios shift, at one of the five."""
    rng = np.random.default_rng(5)
    steps = [1.0] * 10 + [0.98] * 5 + [1.0] * 10
    path = tmp_path / "history.jsonl"
    shas = SHAS[: len(steps)]
    for i, step in enumerate(steps):
        ratio = step * math.exp(rng.normal(0, 0.004))
        assert slowdown(ratio, "rps") < AB_THRESHOLD  # each check on its own passes
        history.append(path, history.record(
            run_id=f"ab{i}", git_sha=shas[i], machine_class="m", mode="ab",
            reference="base", passed=True, regressions=[],
            metrics={"fastapi@head": {"ALL": {"rps": 1000.0}}},
            base_sha=shas[i - 1] if i else None,
            ratios={"fastapi": {"ALL": {"rps": {"ratio": ratio, "low": ratio * 0.99,
                                                "high": ratio * 1.01}}}},
        ))  # fmt: skip
    # A pull request's check (its base is not the chain's last head) stays out of the chain.
    history.append(path, history.record(
        run_id="pr", git_sha="p" * 40, machine_class="m", mode="ab", reference="base",
        passed=True, regressions=[], metrics={"fastapi@head": {"ALL": {"rps": 1.0}}},
        base_sha=shas[3], ratios={"fastapi": {"ALL": {"rps": {"ratio": 0.5}}}},
    ))  # fmt: skip
    trend = history_chart.build_trend(history.read(path), source=path, mode="ab")
    shifts = trend.shifts[("fastapi@head", "rps")]
    assert shifts and all(s.worse for s in shifts)
    assert {s.sha for s in shifts} <= set(shas[10:15])
    total = math.prod(s.ratio.value for s in shifts)
    assert 0.85 < total < 0.95  # five −2 % steps: about −9.6 % in all


def test_chain_skips_checks_off_the_chain() -> None:
    chained = changepoints.chain([0.9, 0.5, 0.9], ["a", "x", "b"], [None, "zzz", "a"])
    assert [i for i, _ in chained] == [0, 2]
    assert chained[-1][1] == pytest.approx(0.81)


def test_cli_names_the_commit_and_draws_the_chart(tmp_path: Path, capsys) -> None:
    rng = np.random.default_rng(19)
    path = tmp_path / "history.jsonl"
    _baseline_history(path, np.concatenate([rng.normal(1000, 12, 20), rng.normal(900, 12, 20)]))
    assert cli.main(["history", "--file", str(path), "--metric", "rps", "--out",
                     str(tmp_path / "charts")]) == 0  # fmt: skip
    out = capsys.readouterr()
    text = " ".join((out.out + out.err).split())
    assert f"shift at commit {SHAS[20]}" in text and "worse" in text
    assert (tmp_path / "charts" / "history-baseline.png").is_file()


def test_a_slower_runner_shifts_the_raw_series_not_the_normalised_one(tmp_path: Path) -> None:
    """The runner got 10 % slower at check 20: the service and the control probe alike, so
    the raw medians shift and the normalised ones (recorded beside them) do not."""
    rng = np.random.default_rng(3)
    path = tmp_path / "history.jsonl"
    for i in range(40):
        speed = 1.0 if i < 20 else 0.9
        noise = rng.normal(1, 0.01)
        history.append(path, history.record(
            run_id=f"r{i}", git_sha=SHAS[i], machine_class="m", mode="baseline",
            reference="baseline", passed=True, regressions=[],
            metrics={"fastapi": {"ALL": {"rps": 1000.0 * speed * noise}}},
            normalised={"fastapi": {"ALL": {"rps": 0.2 * noise}}},
        ))  # fmt: skip
    trend = history_chart.build_trend(history.read(path), source=path, metrics=["rps"])
    (shift,) = trend.shifts[("fastapi", "rps")]
    assert shift.sha == SHAS[20] and shift.series == "fastapi ALL rps" and shift.worse
