"""`compare`: a run against itself shows no significant change; against a deliberately slowed
run (TEST-ONLY CHATBENCH_BURN_US=10000 on both variants) the slowdown is significant from 3
repetitions a side, shown as a range and not judged with 2, and refused with 1.

The committed fixtures have 2 repetitions. ``three_repetitions`` adds a third to a copy, a
copy of repetition 1 (its requests.json and its resource samples): not an independent
measurement, so it tests the ≥ 3-repetition path through real run files, not the statistics,
whose coverage and false-alarm rate ``test_coverage.py`` measures by simulation.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from chatbench.analysing import compare
from chatbench.analysing.stats import Verdict
from chatbench.cli import main
from chatbench.configuration.endpoints import ALL
from chatbench.errors import UsageError
from chatbench.presenting import comparison
from chatbench.presenting.formatting import fmt_number
from chatbench.storing.record import InvalidRepetition
from chatbench.storing.rundir import load_run
from tests.fixtures.runs import RUN_SLOW, RUN_SMALL, copy_run

# Significant at 3 a side on both variants (django's p95 rose too, but too noisily for 3).
HEADLINE = ("rps", "p50", "req_per_cpu_s")


def three_repetitions(name: str, dest: Path) -> Path:
    """A copy of fixture ``name`` with repetition 3 = a copy of repetition 1 (see above)."""
    run_dir = copy_run(name, dest)
    for rep in run_dir.glob("raw/*/rep-1"):
        shutil.copytree(rep, rep.parent / "rep-3")
    samples = pd.read_csv(run_dir / "samples.csv")
    third = samples[samples["repetition"] == 1].assign(repetition=3)
    pd.concat([samples, third]).to_csv(run_dir / "samples.csv", index=False)
    return run_dir


@pytest.fixture(scope="module")
def small():
    return load_run(RUN_SMALL)


@pytest.fixture(scope="module")
def slow():
    return load_run(RUN_SLOW)


@pytest.fixture(scope="module")
def small3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return three_repetitions("run_small", tmp_path_factory.mktemp("small3") / "run_small")


@pytest.fixture(scope="module")
def slow3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return three_repetitions("run_slow", tmp_path_factory.mktemp("slow3") / "run_slow")


def by_key(result: compare.Comparison) -> dict[tuple[str, str, str], compare.Change]:
    return {(c.variant, c.endpoint, c.metric): c for c in result.changes}


def test_run_against_itself_is_no_significant_change(small3: Path) -> None:
    run = load_run(small3)
    result = compare.compare_loaded(run, run)
    # 2 variants × (2 endpoints + ALL) × (rps, p50, p95, p99) + req_per_cpu_s per variant
    assert len(result.changes) == 2 * 3 * 4 + 2
    for c in result.changes:
        assert c.verdict == Verdict.NO_CHANGE, c
        assert c.change == pytest.approx(0.0, abs=1e-12) and c.ci_low <= 0.0 <= c.ci_high
        assert c.interval == "welch-t-log" and c.n_base == c.n_new == 3
    assert not result.regressions and not result.improvements and not result.notes
    assert "change [95 % CI]" in comparison.to_markdown(result)


def test_slowed_run_is_significantly_slower(small3: Path, slow3: Path) -> None:
    result = compare.compare_runs(small3, slow3)
    rows = by_key(result)
    for variant in ("django", "fastapi"):
        for metric in HEADLINE:
            c = rows[(variant, ALL, metric)]
            assert c.verdict == Verdict.SLOWER, c
            assert c.ci_high < 0 if metric in ("rps", "req_per_cpu_s") else c.ci_low > 0
            assert c.p_value < 0.05
    assert rows[("fastapi", ALL, "p95")].verdict == Verdict.SLOWER
    assert not result.improvements
    # And the reverse direction reads as an improvement.
    back = by_key(compare.compare_runs(slow3, small3))
    assert back[("fastapi", ALL, "p50")].verdict == Verdict.FASTER


def test_two_repetitions_a_side_show_a_range_and_are_not_judged(small, slow) -> None:
    """The same 5× slowdown with the committed 2-repetition runs: never "significant"."""
    result = compare.compare_loaded(small, slow)
    assert result.changes and not result.regressions and not result.improvements
    for c in result.changes:
        assert c.verdict == Verdict.NOT_JUDGED and c.interval == "range", c
        assert comparison.verdict_text(c) == "not judged (n = 2)"
        assert "(range " in comparison.fmt_change(c) and "[" not in comparison.fmt_change(c)
    md = comparison.to_markdown(result)
    assert "Nothing judged: fewer than 3 repetitions a side" in md
    assert "| change (range) |" in md and "95 % CI" not in md.split("| variant |")[1]
    assert any("rerun with --repeat 3 or more" in n for n in result.notes)


def single_repetition(name: str, dest: Path) -> Path:
    run_dir = copy_run(name, dest)
    for rep in run_dir.glob("raw/*/rep-2"):
        shutil.rmtree(rep)
    return run_dir


def test_one_repetition_is_refused_not_judged_on_its_seconds(tmp_path: Path, capsys) -> None:
    one = single_repetition("run_small", tmp_path / "one")
    with pytest.raises(UsageError, match="has 1 repetition"):
        compare.compare_runs(one, RUN_SLOW)
    assert main(["compare", str(one), str(RUN_SLOW)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "compare needs at least 2 of each variant on both sides" in err
    assert "not independent samples" in err and "Traceback" not in err


def test_small_changes_below_the_threshold_are_not_significant() -> None:
    base = np.array([100.0, 101, 99, 100.5, 99.5, 100.2])
    *_, verdict = compare.compare_samples(base, base * 1.02, metric="p95")
    assert verdict == Verdict.NO_CHANGE  # real (p < 0.05), but 2 % < 5 %
    _, _, ratio, p, verdict = compare.compare_samples(base, base * 1.2, metric="p95")
    assert verdict == Verdict.SLOWER and ratio.low - 1 > 0.05 and p < 0.05
    *_, verdict = compare.compare_samples(base, base * 1.02, metric="p95", threshold=0.01)
    assert verdict == Verdict.SLOWER


def test_cli_writes_table_markdown_json_and_chart(
    small3: Path, slow3: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(small3), str(slow3), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "slower" in printed and "significantly slower" in printed
    assert "Welch's t-test on the log values" in " ".join(printed.split())
    doc = json.loads((out / "compare.json").read_text())
    assert doc["summary"]["slower"] >= 8 and doc["summary"]["faster"] == 0
    assert {c["verdict"] for c in doc["changes"]} <= {"slower", "no significant change"}
    assert {c["interval"] for c in doc["changes"]} == {"welch-t-log"}
    assert "Welch's t-test on the log values" in doc["method"]
    md = (out / "compare.md").read_text()
    assert md.count("\n| django |") + md.count("\n| fastapi |") == len(doc["changes"])
    png = out / f"{comparison.CHART_STEM}.png"
    assert png.stat().st_size > 20_000 and (out / f"{comparison.CHART_STEM}.svg").is_file()
    with Image.open(png) as img:
        assert img.width > 600
    assert main(["compare", str(RUN_SMALL), str(tmp_path / "missing")]) == 2
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL), "--threshold", "150%"]) == 2


def _with_invalid(run, *invalid: tuple[str, int]):
    """``run`` (loaded) whose meta.json lists ``invalid`` as invalid repetitions."""
    import dataclasses

    bad = [
        InvalidRepetition(variant=v, repetition=k, reason="loadgen saturated") for v, k in invalid
    ]
    return dataclasses.replace(run, record=run.record.but(invalid_repetitions=bad))


def test_invalid_repetitions_are_excluded_and_named_in_the_notes(small3, slow3, small) -> None:
    a = _with_invalid(load_run(small3), ("fastapi", 2))
    b = _with_invalid(load_run(slow3), ("django", 1), ("django", 2), ("django", 3))
    result = compare.compare_loaded(a, b)
    rows = by_key(result)
    # fastapi in A keeps 2 repetitions: a range, not judged.
    rps = rows[("fastapi", ALL, "rps")]
    assert rps.n_base == 2 and rps.n_new == 3 and rps.verdict == Verdict.NOT_JUDGED
    # django has no valid repetition left in B: not compared, and the notes say why.
    assert not any(c.variant == "django" for c in result.changes)
    notes = " ".join(result.notes)
    assert "fastapi repetition 2 excluded (loadgen saturated)" in notes
    assert "every repetition of django was excluded as invalid" in notes
    assert "excluded (loadgen saturated)" in comparison.to_markdown(result)
    # One valid repetition left is not compared either (never its seconds).
    one_left = compare.compare_loaded(_with_invalid(small, ("fastapi", 2)), small)
    assert not any(c.variant == "fastapi" for c in one_left.changes)
    assert "fastapi has 1 valid repetition(s) left, fewer than 2, so it is not compared" in (
        " ".join(one_left.notes)
    )


def test_table_values_use_the_report_format_with_two_decimals_below_one() -> None:
    common = dict(variant="fastapi", endpoint=ALL, metric="p50", change=0.0, ci_low=-0.1)
    common |= dict(ci_high=0.1, n_base=3, n_new=3, p_value=1.0, interval="welch-t-log")
    rows = tuple(
        compare.Change(base=base, new=new, verdict=Verdict.NO_CHANGE, **common)
        for base, new in ((1302.4, 884.2), (20.64, 9.159), (0.0, 0.5321))
    )
    markdown = comparison.to_markdown(compare.Comparison("a", "b", "a", "b", 0.05, rows))
    assert "| 1,302 | 884 |" in markdown and "| 20.6 | 9.16 |" in markdown
    # compare keeps its columns aligned below 1; the report writes 0 and three decimals there.
    assert "| 0.00 | 0.53 |" in markdown
    assert (fmt_number(0.0), fmt_number(0.5321), fmt_number(float("nan"))) == ("0", "0.532", "—")


def test_runs_whose_open_model_sends_differ_say_so(small, tmp_path: Path) -> None:
    """A run sent evenly spaced against one recorded before the choice (random phases): their
    open-model tails are not comparable, and the notes say so; closed-loop runs alone are not
    told."""
    even = copy_run("run_small", tmp_path / "even")
    meta = json.loads((even / "meta.json").read_text())
    meta["config"]["arrivals"] = "even"
    (even / "meta.json").write_text(json.dumps(meta))
    closed = compare.compare_loaded(small, load_run(even))
    assert not any("open-model sends" in n for n in closed.notes)
    meta["config"]["equal_load"] = [0.7]
    (even / "meta.json").write_text(json.dumps(meta))
    result = compare.compare_loaded(small, load_run(even))
    assert (
        "The runs' open-model sends differ (random-phase arrivals vs evenly spaced arrivals): "
        "their tails are not comparable." in result.notes
    )
