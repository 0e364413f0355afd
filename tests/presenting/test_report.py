"""Charts and report.html of a real run: every chart present and non-trivial, the report
self-contained and carrying what the issue asks for (the answer first, then charts, summary
and evidence; configuration, fairness facts, summary with CIs and n, integrity; warnings only
for what needs action, the rest as notes), and much smaller than base64 PNGs made it."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape
from PIL import Image

from chatbench.analysing import tables as results
from chatbench.cli import main
from chatbench.configuration.endpoints import ALL
from chatbench.presenting import chartkit, charts, headline, report
from chatbench.presenting.formatting import fmt_ci
from chatbench.storing.rundir import load_run
from tests.fixtures.runs import copy_run, rebuilt

RAMP_ONLY = {"latency_vs_throughput"}
# Over-time charts need 20 points per window; the fixture's windows are 5 s.
LONG_WINDOWS_ONLY = {"throughput_over_time", "latency_over_time", "server_resources"}
SUITE_ONLY = {charts.GRID_CHART}  # tests/presenting/test_grid_chart.py draws it
# Runs with an equal-load phase or an SLO search (tests/workflows/test_equal_load.py, test_slo.py).
PHASE_ONLY = {charts.EQUAL_LOAD_CHART, charts.SLO_CHART}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rebuilt("run_small", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def html(run_dir: Path) -> str:
    return (run_dir / "report.html").read_text(encoding="utf-8")


def assert_chart_files(chart_dir: Path, name: str) -> None:
    png, svg = chart_dir / f"{name}.png", chart_dir / f"{name}.svg"
    assert png.stat().st_size > 20_000, name
    # Text stays text in the SVG (svg.fonttype = none): the chart tests read it back.
    assert "<text" in svg.read_text(encoding="utf-8"), name
    with Image.open(png) as img:
        img.load()
        assert img.width > 600 and img.height > 300, name
        # Not a blank canvas: many distinct colours.
        assert len(img.convert("RGB").getcolors(maxcolors=1_000_000) or []) > 50, name
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg"), name
    assert svg.stat().st_size > 10_000, name


def test_every_applicable_chart_is_drawn(run_dir: Path) -> None:
    chart_dir = run_dir / "charts"
    # The fixture is a closed-mode run of two variants, not a suite.
    absent = RAMP_ONLY | SUITE_ONLY | PHASE_ONLY | LONG_WINDOWS_ONLY
    expected = set(charts.CHART_NAMES) - absent
    drawn = {p.stem for p in chart_dir.glob("*.png")}
    assert expected <= drawn
    assert not drawn & absent
    for name in expected:
        assert_chart_files(chart_dir, name)


def test_chart_registry_is_one_list(run_dir: Path) -> None:
    assert tuple(spec.name for spec in charts.CHARTS) == charts.CHART_NAMES
    assert len(set(charts.CHART_NAMES)) == len(charts.CHARTS)
    for spec in charts.CHARTS:
        assert spec.title and spec.caption and callable(spec.draw)
    assert chartkit.variant_colour("django") != chartkit.variant_colour("fastapi")
    assert chartkit.variant_colour("my-variant") == chartkit.variant_colour("my-variant")


def test_ramp_run_draws_the_knee_chart(tmp_path: Path) -> None:
    """A copy of the fixture relabelled as a ramp (users 2 then 4) gets latency-vs-throughput."""
    run_dir = copy_run("run_small", tmp_path / "ramp")
    meta = json.loads((run_dir / "meta.json").read_text())
    meta["config"]["mode"] = "ramp"
    (run_dir / "meta.json").write_text(json.dumps(meta))
    for path in run_dir.glob("raw/*/rep-*/requests.json"):
        doc = json.loads(path.read_text())
        doc["users_series"] = [{"second": s, "users": 2 if s < 2 else 4} for s in range(5)]
        path.write_text(json.dumps(doc))
    run = load_run(run_dir)
    steps = results.ramp_steps(run, settle_s=0)
    assert sorted(steps["users"].unique()) == [2, 4]
    charts.draw_chart(run, "latency_vs_throughput")
    assert_chart_files(run_dir / "charts", "latency_vs_throughput")


def test_report_references_no_external_resource(run_dir: Path, html: str) -> None:
    assert "<link" not in html.lower()
    assert not re.search(r"<script[^>]*\bsrc=", html, re.I)
    for attr, value in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", html, re.I):
        assert value.startswith(("data:", "#")), (attr, value[:80])
    assert not re.search(r"url\((?!['\"]?(data:|#))", html)
    assert "@import" not in html
    # Every chart inline as SVG (no base64 PNG), its ids its own.
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg"') == len(
        list((run_dir / "charts").glob("*.svg"))
    )
    assert "data:image/png;base64," not in html
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids)), "an id appears twice on the page"
    for ref in re.findall(r"url\(#([^)]+)\)", html):
        assert ref in ids, ref


def test_report_is_small(run_dir: Path, html: str) -> None:
    """Inline SVG instead of base64 PNG: the fixture's report stays far below the 893 KB the
    PNGs made a report weigh."""
    pngs = sum(p.stat().st_size for p in (run_dir / "charts").glob("*.png"))
    assert len(html.encode("utf-8")) < 400_000
    assert len(html.encode("utf-8")) < pngs * 4 / 3  # smaller than base64 of the PNGs alone


def test_report_content(run_dir: Path, html: str) -> None:
    meta = json.loads((run_dir / "meta.json").read_text())
    run = load_run(run_dir)
    assert meta["question"] in html
    for section in (
        "Answer",
        "Fairness",
        "Summary",
        "Charts",
        "Evidence",
        "Configuration",
        "CPU plan",
        "Integrity",
        "Notes",
        "Versions",
        "Method",
    ):
        assert f">{section}<" in html, section
    # Versions, worker counts, Postgres settings, CPU plan recorded in meta appear.
    for key in list(meta["versions"])[:3]:
        assert key in html
    for name, info in meta["variants"].items():
        assert name in html and f">{info['workers']}<" in html
    assert "shared_buffers" in html
    assert meta["cpu_plan"]["note"] in html
    # Summary table: the ALL row of each variant with its CI and n.
    summary = results.summary_table(run)
    for variant in run.variants:
        row = summary[
            (summary["variant"] == variant)
            & (summary["endpoint"] == ALL)
            & (summary["metric"] == "rps")
        ].iloc[0]
        assert fmt_ci(row) in html
        assert fmt_ci(row).endswith("(2)") and "[range " in fmt_ci(row)
    # 2 repetitions: the header names a range, never a 95 % CI; the Method names every method.
    assert "[range low–high] the lowest and highest of 2 repetitions, not a CI" in html
    assert "[low–high] its 95 % CI" not in html
    for method in ("t95-log", "welch-t-log", "paired-t-log", "tests/analysing/test_coverage.py"):
        assert method in html, method
    # Integrity: one row per variant × repetition, all ok.
    assert html.count(">ok<") == len(meta["integrity"])
    for spec in charts.CHARTS:
        if spec.name not in RAMP_ONLY | SUITE_ONLY | PHASE_ONLY | LONG_WINDOWS_ONLY:
            assert spec.title in html
    # Why the over-time charts are absent is a note.
    assert "over time are not drawn: 5 s windows" in html


def _summary_rows(n: int, values: tuple[float, ...]) -> pd.DataFrame:
    reps = pd.DataFrame(
        [
            {
                "variant": "django",
                "scenario": "chat",
                "endpoint": ALL,
                "metric": "rps",
                "repetition": k,
                "value": values[k % len(values)],
            }
            for k in range(n)
        ]
    )
    return results.summarise(reps)


def test_cells_and_header_name_their_interval() -> None:
    for n, cell, legend in (
        (5, "[", "[low–high] its 95 % CI (t interval on the log values"),
        (2, "[range 100–160] (2)", "[range low–high] the lowest and highest of 2 repetitions"),
        (1, "100 (1)", "no brackets: one repetition"),
    ):
        summary = _summary_rows(n, (100.0, 160.0, 70.0))
        row = summary.iloc[0]
        assert cell in fmt_ci(row), (n, fmt_ci(row))
        header = report._summary_legend(summary)
        assert legend in header
        assert ("95 % CI" in header) == (n >= 3), header


def test_cli_report_redraws_and_rejects_non_runs(tmp_path: Path, capsys) -> None:
    run_dir = copy_run("run_small", tmp_path / "run")
    assert main(["report", str(run_dir)]) == 0
    assert (run_dir / "report.html").stat().st_size > 100_000
    assert (run_dir / "summary.csv").is_file()
    assert main(["report", str(tmp_path / "nope")]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "not a chatbench run directory" in err and "Traceback" not in err


def test_chart_titles_name_their_whiskers(run_dir: Path) -> None:
    data = chartkit.ChartData(load_run(run_dir))  # the 2-repetition fixture
    assert chartkit.bounds_label(data) == "whiskers: range of 2, not a CI; n = 2"
    for n, label in ((5, "whiskers: 95 % CI; n = 5"), (1, "no whiskers (one repetition); n = 1")):
        data.summary = _summary_rows(n, (100.0, 160.0, 70.0))
        assert chartkit.bounds_label(data) == label


def test_report_reads_answer_charts_summary_evidence(run_dir: Path, html: str) -> None:
    """The order of the issue: the answer (its sentences and table), then the charts, the
    summary table and the evidence, with a table of contents; fairness in one line, its rules
    behind a disclosure."""
    found = headline.headline(load_run(run_dir))
    order = [
        html.index(f'id="{s}"')
        for s in (
            "contents",
            "answer",
            "charts",
            "summary",
            "evidence",
            "fairness",
            "configuration",
        )
    ]
    assert order == sorted(order)
    answer = html[html.index('id="answer"') : html.index('id="charts"')]
    for sentence in found.sentences:
        assert str(escape(sentence)) in answer
    assert '<table class="verdict">' in answer
    for row in found.rows:
        assert str(escape(row.answer)) in answer
        for figure in row.figures:
            assert str(escape(figure)) in answer
    for target in re.findall(r'<nav class="toc".*?</nav>', html, re.S)[0].split('href="#')[1:]:
        assert f'id="{target.split(chr(34))[0]}"' in html
    rules = load_run(run_dir).record.fairness.rules
    held = sum(1 for r in rules if r.held is True)
    assert f"{held} of {len(rules)} rules held" in answer
    fairness = html[html.index('id="fairness"') :]
    assert fairness.index("<details") < fairness.index("<table")
