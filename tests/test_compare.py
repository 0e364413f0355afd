"""`compare`: a run against itself shows no significant change; against a deliberately slowed
run (TEST-ONLY CHATBENCH_BURN_US=10000 on both variants) the slowdown is significant."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from chatbench import compare
from chatbench.cli import main
from chatbench.results import ALL, load_run
from chatbench.stats import Verdict
from tests.fixtures.runs import RUN_SLOW, RUN_SMALL, copy_run

HEADLINE = ("rps", "p50", "p95", "req_per_cpu_s")


@pytest.fixture(scope="module")
def small():
    return load_run(RUN_SMALL)


@pytest.fixture(scope="module")
def slow():
    return load_run(RUN_SLOW)


def by_key(result: compare.Comparison) -> dict[tuple[str, str, str], compare.Change]:
    return {(c.variant, c.endpoint, c.metric): c for c in result.changes}


def test_run_against_itself_is_no_significant_change(small) -> None:
    result = compare.compare_loaded(small, small)
    # 2 variants × (2 endpoints + ALL) × (rps, p50, p95, p99) + req_per_cpu_s per variant
    assert len(result.changes) == 2 * 3 * 4 + 2
    for c in result.changes:
        assert c.verdict == Verdict.NO_CHANGE, c
        assert c.change == 0.0 and c.ci_low <= 0.0 <= c.ci_high
        assert c.source == compare.SOURCE_REPETITIONS and c.n_base == c.n_new == 2
    assert not result.regressions and not result.improvements and not result.notes


def test_slowed_run_is_significantly_slower(small, slow) -> None:
    result = compare.compare_loaded(small, slow)
    rows = by_key(result)
    for variant in ("django", "fastapi"):
        for metric in HEADLINE:
            c = rows[(variant, ALL, metric)]
            assert c.verdict == Verdict.SLOWER, c
            assert c.ci_high < 0 if metric in ("rps", "req_per_cpu_s") else c.ci_low > 0
    assert not result.improvements
    # And the reverse direction reads as an improvement.
    back = by_key(compare.compare_loaded(slow, small))
    assert back[("fastapi", ALL, "p50")].verdict == Verdict.FASTER


def single_repetition(name: str, dest: Path) -> Path:
    run_dir = copy_run(name, dest)
    for rep in run_dir.glob("raw/*/rep-2"):
        shutil.rmtree(rep)
    return run_dir


def test_one_repetition_falls_back_to_per_second_samples(tmp_path: Path, slow) -> None:
    one = load_run(single_repetition("run_small", tmp_path / "one"))
    itself = compare.compare_loaded(one, one)
    assert all(c.verdict == Verdict.NO_CHANGE for c in itself.changes)
    rows = by_key(compare.compare_loaded(one, slow))
    rps = rows[("fastapi", ALL, "rps")]
    assert rps.source == compare.SOURCE_SECONDS and rps.n_base == 5 and rps.n_new == 10
    assert rps.verdict == Verdict.SLOWER and rows[("django", ALL, "p50")].verdict == Verdict.SLOWER
    # No per-second series of CPU efficiency: 1 repetition is not enough to call it.
    eff = rows[("fastapi", ALL, "req_per_cpu_s")]
    assert eff.source == compare.SOURCE_NONE and eff.verdict == Verdict.NO_CHANGE


def test_small_changes_below_the_threshold_are_not_significant() -> None:
    base = np.array([100.0, 101, 99, 100.5, 99.5, 100.2])
    kwargs = {"metric": "p95", "source": compare.SOURCE_SECONDS}
    *_, verdict = compare.compare_samples(base, base * 1.02, **kwargs)
    assert verdict == Verdict.NO_CHANGE  # CI excludes 0, but 2 % < 5 %
    *_, low, high, _p, verdict = compare.compare_samples(base, base * 1.2, **kwargs)
    assert verdict == Verdict.SLOWER and low > 0.05
    *_, verdict = compare.compare_samples(base, base * 1.02, threshold=0.01, **kwargs)
    assert verdict == Verdict.SLOWER


def test_cli_writes_table_markdown_json_and_chart(tmp_path: Path, capsys) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(RUN_SMALL), str(RUN_SLOW), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "slower" in printed and "significantly slower" in printed
    doc = json.loads((out / "compare.json").read_text())
    assert doc["summary"]["slower"] >= 8 and doc["summary"]["faster"] == 0
    assert {c["verdict"] for c in doc["changes"]} <= {"slower", "no significant change"}
    md = (out / "compare.md").read_text()
    assert md.count("\n| django |") + md.count("\n| fastapi |") == len(doc["changes"])
    png = out / f"{compare.CHART_STEM}.png"
    assert png.stat().st_size > 20_000 and (out / f"{compare.CHART_STEM}.svg").is_file()
    with Image.open(png) as img:
        assert img.width > 600
    assert main(["compare", str(RUN_SMALL), str(tmp_path / "missing")]) == 2
    assert main(["compare", str(RUN_SMALL), str(RUN_SMALL), "--threshold", "2"]) == 2


def _with_invalid(run, *invalid: tuple[str, int]):
    """``run`` (loaded) whose meta.json lists ``invalid`` as invalid repetitions."""
    import dataclasses

    bad = [{"variant": v, "repetition": k, "reason": "loadgen saturated"} for v, k in invalid]
    return dataclasses.replace(run, meta={**run.meta, "invalid_repetitions": bad})


def test_invalid_repetitions_are_excluded_and_named_in_the_notes(small, slow) -> None:
    a = _with_invalid(small, ("fastapi", 2))
    b = _with_invalid(slow, ("django", 1), ("django", 2))
    result = compare.compare_loaded(a, b)
    rows = by_key(result)
    # fastapi in A keeps 1 repetition: per-second samples of that repetition only.
    rps = rows[("fastapi", ALL, "rps")]
    assert rps.source == compare.SOURCE_SECONDS and rps.n_base == 5
    # django has no valid repetition left in B: not compared, and the notes say why.
    assert not any(c.variant == "django" for c in result.changes)
    notes = " ".join(result.notes)
    assert "fastapi repetition 2 excluded (loadgen saturated)" in notes
    assert "every repetition of django was excluded as invalid" in notes
    assert "excluded (loadgen saturated)" in compare.to_markdown(result)


def test_table_values_use_the_report_format_with_two_decimals_below_one() -> None:
    from chatbench.report import fmt_number

    common = dict(variant="fastapi", endpoint=ALL, metric="p50", change=0.0, ci_low=-0.1)
    common |= dict(ci_high=0.1, n_base=3, n_new=3, p_value=1.0, source=compare.SOURCE_REPETITIONS)
    rows = tuple(
        compare.Change(base=base, new=new, verdict=Verdict.NO_CHANGE, **common)
        for base, new in ((1302.4, 884.2), (20.64, 9.159), (0.0, 0.5321))
    )
    markdown = compare.to_markdown(compare.Comparison("a", "b", "a", "b", 0.05, rows))
    assert "| 1,302 | 884 |" in markdown and "| 20.6 | 9.16 |" in markdown
    # compare keeps its columns aligned below 1; the report writes 0 and three decimals there.
    assert "| 0.00 | 0.53 |" in markdown
    assert (fmt_number(0.0), fmt_number(0.5321), fmt_number(float("nan"))) == ("0", "0.532", "—")
