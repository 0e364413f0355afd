"""`chatbench history`: the trend of recorded checks, drawn against the baseline's band.

The history file is synthetic (written with ``chatbench.history`` like `check` writes it), so
every expected number is known: the plotted series must be the medians in the file, the band the
baseline's per-repetition min–max, failed checks and flagged regressions must be where the file
says. Pixels are not compared; the CLI test only proves that PNG + SVG are written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from chatbench import cli
from chatbench.cli import baselines as baselines_cli
from chatbench.errors import UsageError
from chatbench.presenting import history_chart
from chatbench.presenting.history_chart import BAND_KIND, build_trend, to_rich_table
from chatbench.storing import baselines as baseline_mod
from chatbench.storing import history

POST = "POST /api/chat/messages"
SHAS = ["a" * 40, "b" * 40, "c" * 40, "d" * 40, "e" * 40, "f" * 40]
FAILED_AT = 3  # the fourth check flagged fastapi ALL p95


def _metrics(i: int, suffix: str = "") -> dict:
    return {
        f"django{suffix}": {
            "ALL": {"rps": 600.0 + i, "p95": 40.0 + i, "p99": 60.0 + i, "p50": 20.0},
            POST: {"rps": 400.0 + i, "p95": 35.0 + i, "p99": 50.0},
        },
        f"fastapi{suffix}": {
            "ALL": {"rps": 1000.0 - i, "p95": 20.0 + 10 * (i == FAILED_AT), "p99": 50.0},
            POST: {"rps": 700.0, "p95": 18.0, "p99": 45.0},
        },
    }


@pytest.fixture(autouse=True)
def _no_default_baseline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The repository's committed ci.json must not leak into these tests."""
    monkeypatch.setattr(baselines_cli, "DEFAULT_BASELINE", tmp_path / "absent" / "ci.json")


@pytest.fixture
def hist(tmp_path: Path) -> Path:
    """Six baseline-mode checks (the fourth failed) and two A/B checks in between."""
    path = tmp_path / "history.jsonl"
    for i, sha in enumerate(SHAS):
        failed = i == FAILED_AT
        history.append(path, history.record(
            run_id=f"run-{i}", git_sha=sha, machine_class="m", mode="baseline",
            reference="baseline ci.json", passed=not failed,
            regressions=["fastapi ALL p95"] if failed else [], metrics=_metrics(i),
        ))  # fmt: skip
        if i in (1, 4):
            history.append(path, history.record(
                run_id=f"ab-{i}", git_sha=sha, machine_class="m", mode="ab", reference="main",
                passed=True, regressions=[], metrics=_metrics(i, "@head"),
            ))  # fmt: skip
    return path


BASE_VALUES = {
    "django": {"ALL": {"rps": [590.0, 610.0, 605.0, 598.0], "p95": [38.0, 45.0, 41.0, 39.0]}},
    "fastapi": {"ALL": {"rps": [990.0, 1010.0, 1003.0, 1001.0]}},  # no p95: no band there
}


@pytest.fixture
def base(tmp_path: Path) -> Path:
    summary = baseline_mod.Summary(values=BASE_VALUES, settings={"profile": "ci"}, run_id="b")
    return baseline_mod.save(summary, tmp_path / "ci.json")


def test_series_are_the_medians_in_the_file_and_the_band_the_baseline(hist: Path, base: Path):
    trend = build_trend(
        history.read(hist), source=hist, baseline=baseline_mod.load(base), baseline_label="ci"
    )
    lines = [e for e in history.read(hist) if e["mode"] == "baseline"]
    assert len(trend.checks) == len(lines) == 6
    assert [c.sha for c in trend.checks] == [s[:7] for s in SHAS]
    assert trend.metrics == ("rps", "p95", "p99") and trend.variants == ("django", "fastapi")
    for (variant, metric), ys in trend.series.items():
        assert ys == [e["metrics"][variant]["ALL"][metric] for e in lines]
    assert trend.series[("fastapi", "p95")][FAILED_AT] == 30.0
    assert trend.bands == {
        ("django", "rps"): (590.0, 610.0),
        ("django", "p95"): (38.0, 45.0),
        ("fastapi", "rps"): (990.0, 1010.0),
    }
    assert trend.baseline_medians[("django", "p95")] == pytest.approx(40.0)
    assert trend.failed == [FAILED_AT]
    assert trend.regressed == {("fastapi", "p95"): [FAILED_AT]}
    assert BAND_KIND in trend.band_note() and "n = 4" in trend.band_note()


def test_filters_pick_variant_metric_endpoint_and_mode(hist: Path, base: Path) -> None:
    entries = list(history.read(hist))
    trend = build_trend(
        entries, source=hist, variants=["django"], metrics=["p99,rps"], endpoint=POST
    )
    assert trend.variants == ("django",) and trend.metrics == ("p99", "rps")
    assert trend.series[("django", "rps")] == [400.0 + i for i in range(6)]
    assert trend.regressed == {}  # the flagged regression was at ALL, not this endpoint
    ab = build_trend(entries, source=hist, mode="ab", baseline=baseline_mod.load(base))
    assert ab.variants == ("django@head", "fastapi@head")
    assert [c.run_id for c in ab.checks] == ["ab-1", "ab-4"]
    assert ab.series[("django@head", "rps")] == [601.0, 604.0]
    assert ab.bands == {} and "no stored-baseline band" in ab.band_note()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variants": ["flask"]}, "Unknown --variant flask; baseline-mode checks in"),
        ({"metrics": ["p42"]}, "Unknown --metric p42; ALL has p50, p95, p99, rps"),
        ({"endpoint": "GET /nope"}, "Unknown --endpoint 'GET /nope'; choose from ALL, POST"),
        ({"mode": "weekly"}, "--mode must be one of baseline, ab"),
        ({"variants": ["fastapi"], "mode": "ab"}, "have django@head, fastapi@head"),
    ],
)
def test_bad_filters_name_the_valid_choices(hist: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        build_trend(history.read(hist), source=hist, **kwargs)


def test_table_lists_the_last_checks(hist: Path) -> None:
    from rich.console import Console

    trend = build_trend(history.read(hist), source=hist, variants=["fastapi"], metrics=["p95"])
    console = Console(width=200, record=True)
    console.print(to_rich_table(trend, last=3))
    text = console.export_text()
    assert "Last 3 of 6 baseline-mode checks" in text
    assert [sha[:7] in text for sha in SHAS] == [False, False, False, True, True, True]
    assert "30" in text and "no" in text  # the failed check's value and verdict


def test_cli_draws_png_and_svg_and_prints_the_table(hist: Path, base: Path, tmp_path, capsys):
    out = tmp_path / "charts"
    code = cli.main(["history", "--file", str(hist), "--baseline", str(base), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    png, svg = out / "history-baseline.png", out / "history-baseline.svg"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in svg.read_text()
    assert f"Chart: {png}" in captured.out and f"Chart: {svg}" in captured.out
    assert "Last 6 of 6 baseline-mode checks" in captured.out and SHAS[-1][:7] in captured.out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--metric", "p42"], "Unknown --metric p42; ALL has p50, p95, p99, rps."),
        (["--variant", "flask"], "have django, fastapi."),
        (["--mode", "ab", "--baseline", "x.json"], "--baseline applies to --mode baseline only"),
        (["--baseline", "missing.json"], "missing.json does not exist"),
        (["--last", "-1"], "--last must be 0 or more"),
    ],
)
def test_cli_usage_errors_exit_2(hist: Path, args: list[str], message: str, capsys) -> None:
    assert cli.main(["history", "--file", str(hist), *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("content", [None, "", "torn {line\n" + json.dumps([1]) + "\n"])
def test_empty_or_missing_history_exits_2(tmp_path: Path, content: str | None, capsys) -> None:
    path = tmp_path / "history.jsonl"
    if content is not None:
        path.write_text(content)
    assert cli.main(["history", "--file", str(path)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"No checks recorded in {path}; run chatbench check first." in err
    assert not (tmp_path / "history").exists()


def test_cli_draws_the_default_baseline_band_when_there_is_one(
    hist: Path, base: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    drawn: list[history_chart.Trend] = []
    monkeypatch.setattr(history_chart, "draw", lambda trend, out: drawn.append(trend) or [])
    assert cli.main(["history", "--file", str(hist)]) == 0
    assert drawn[-1].bands == {}  # no baseline at the default path: no band
    monkeypatch.setattr(baselines_cli, "DEFAULT_BASELINE", base)
    assert cli.main(["history", "--file", str(hist), "--variant", "django"]) == 0
    assert drawn[-1].bands[("django", "p95")] == (38.0, 45.0)
    assert drawn[-1].baseline_label == "ci.json"
    assert cli.main(["history", "--file", str(hist), "--mode", "ab"]) == 0  # A/B: never a band
    assert drawn[-1].bands == {} and drawn[-1].mode == "ab"
