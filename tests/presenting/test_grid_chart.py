"""A suite over several scenarios, and the grid chart of a suite's report — without load.

The data comes from the committed quick-profile suite results (results/sample/<suite>/), copied
into a temporary directory: the grid chart must redraw from them (``chatbench report`` on an
existing run), and draw exactly the summary's figures. A two-scenario run is made from the
caching sample by relabelling its raw data per scenario (the chat copy with its measured
window doubled, so its throughput is exactly half and a mix-up between scenarios would show).
The same suite run for real, under load, is tests/workflows/test_suites.py's caching test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from markupsafe import escape

from chatbench import cli
from chatbench.analysing import tables as results
from chatbench.analysing.suite_answer import grid_cells
from chatbench.configuration import settings as config
from chatbench.configuration import suites
from chatbench.errors import UsageError
from chatbench.presenting import charts, grid_chart
from chatbench.storing import record
from chatbench.storing.rundir import Run, load_run
from chatbench.workflows import report as report_wf
from chatbench.workflows.suites import suite_record

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "results" / "sample"
SUITE_SAMPLES = ("caching", "concurrency", "pooling", "async-vs-sync")


# -- labels that carry their scenario ---------------------------------------------------------


def test_scenario_rides_in_the_label_and_comes_back_out() -> None:
    label = config.with_scenario("django[cache=off]", "read")
    assert label == "django[cache=off,scenario=read]"
    assert config.split_scenario(label) == ("django[cache=off]", "read")
    assert config.split_scenario(config.with_scenario("fastapi", "chat")) == ("fastapi", "chat")
    assert config.split_scenario("django[pool=none]") == ("django[pool=none]", None)
    spec = config.RunConfig().variant(
        label
    )  # the service is the plain variant, the name stays whole
    assert spec.name == label and spec.axes == {"cache": "off"} and spec.framework == "django"
    config.RunConfig(variants=(label, "fastapi[scenario=chat]")).validate()
    with pytest.raises(UsageError, match="unknown scenario 'chatty'"):
        config.RunConfig(variants=("django[scenario=chatty]",)).validate()


def test_caching_suite_runs_its_grid_under_read_and_chat_in_one_run() -> None:
    suite = suites.load("caching")
    assert suite.scenarios == ("read", "chat")
    cfg = suites.build_config(suite, "smoke")
    assert cfg.scenario == "read"  # the run's own; every label names its scenario
    split = [config.split_scenario(label) for label in cfg.variants]
    plain = ["django[cache=off]", "django[cache=valkey]", "fastapi[cache=off]",
             "fastapi[cache=valkey]"]  # fmt: skip
    assert split == [(p, s) for s in ("read", "chat") for p in plain]
    # --scenario on the command line runs the grid for that one scenario, labels plain.
    one = suites.build_config(suite, "smoke", scenario="write")
    assert one.scenario == "write" and one.variants == tuple(plain)


# -- a two-scenario run, from the committed caching sample -------------------------------------


def _two_scenario_run(dest: Path) -> Path:
    """results/sample/caching's read half relabelled as a read + chat suite run, chat's window
    doubled: the two scenarios' figures then differ by exactly 2× wherever they are kept apart."""
    src = SAMPLES / "caching"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("raw", "charts", "report.html"))
    meta = json.loads((src / "meta.json").read_text())
    source = {  # plain label → the sample's read-scenario label
        config.split_scenario(label)[0]: label
        for label in meta["config"]["variants"]
        if config.split_scenario(label)[1] == "read"
    }
    assert len(source) == 4, meta["config"]["variants"]
    old_stats = meta["cache"]["stats"]
    variants, stats, labels = {}, {}, []
    for scenario in ("read", "chat"):
        for plain, original in source.items():
            qualified = config.with_scenario(plain, scenario)
            labels.append(qualified)
            shutil.copytree(src / "raw" / original, dest / "raw" / qualified)
            variants[qualified] = meta["variants"][original]
            for key in [k for k in old_stats if k.split("#")[0] == original]:
                stats[f"{qualified}#{key.split('#')[1]}"] = old_stats[key]
            if scenario == "chat":
                for path in (dest / "raw" / qualified).glob("rep-*/requests.json"):
                    doc = json.loads(path.read_text())
                    doc["duration_s"] *= 2
                    path.write_text(json.dumps(doc))
    meta["variants"], meta["cache"]["stats"], meta["config"]["variants"] = variants, stats, labels
    (dest / "meta.json").write_text(json.dumps(meta))
    return dest


@pytest.fixture(scope="module")
def two_scenarios(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = _two_scenario_run(tmp_path_factory.mktemp("suite") / "caching")
    suite = suites.load("caching")
    rec = record.load(run_dir).but(question=suite.question, suite=suite_record(suite))
    record.save(run_dir, rec)
    report_wf.rebuild(run_dir)  # summary, the answer, charts and report
    return run_dir


def test_summary_rows_carry_each_scenario(two_scenarios: Path) -> None:
    summary = pd.read_csv(two_scenarios / "summary.csv")
    assert json.loads((two_scenarios / "summary.json").read_text())["scenario"] == "read+chat"
    rps = summary[(summary["endpoint"] == "ALL") & (summary["metric"] == "rps")]
    assert len(rps) == 8
    for scenario in ("read", "chat"):
        rows = rps[rps["scenario"] == scenario]
        assert rows["variant"].str.endswith(f",scenario={scenario}]").all()
        for framework in ("django", "fastapi"):
            mine = rows[rows["variant"].str.startswith(f"{framework}[")]
            assert sorted(mine["cache"]) == ["off", "valkey"]
    read = rps[rps["scenario"] == "read"].set_index("cache")["value"]
    chat = rps[rps["scenario"] == "chat"].set_index("cache")["value"]
    assert chat.to_numpy() == pytest.approx(read.to_numpy() / 2, rel=1e-5)


def test_the_answer_is_given_per_scenario(two_scenarios: Path) -> None:
    answer = json.loads((two_scenarios / "answer.json").read_text())
    assert set(answer["scenarios"]) == {"read", "chat"}  # (JSON keys are written sorted)
    sentences = answer["sentences"]
    assert [s.split(": highest")[0] for s in sentences] == [
        "read scenario, django", "read scenario, fastapi",
        "chat scenario, django", "chat scenario, fastapi",
    ]  # fmt: skip
    for sentence in sentences:
        assert "cache=valkey vs cache=off" in sentence and "Valkey hit ratio" in sentence
    _assert_names_its_intervals(sentences, load_run(two_scenarios))
    # Same ratios (chat is read at half speed throughout), each scenario's own throughput.
    read = answer["scenarios"]["read"]["django"]
    chat = answer["scenarios"]["chat"]["django"]
    assert chat["ratio"] == pytest.approx(read["ratio"])
    assert chat["settings"][0]["rps"] == pytest.approx(read["settings"][0]["rps"] / 2)
    meta = json.loads((two_scenarios / "meta.json").read_text())
    assert meta["suite"]["scenarios"] == ["read", "chat"]
    html = (two_scenarios / "report.html").read_text()
    assert all(escape(s) in html for s in sentences)


def _assert_names_its_intervals(sentences: list[str], run: Run) -> None:
    """A "95 % CI" only from 3 repetitions; "range of 2" and "not judged (n = 2)" with 2."""
    n = min(sum(1 for r in run.repetitions if r.variant == v) for v in run.variants)
    for sentence in sentences:
        assert ("95 % CI" in sentence) == (n >= 3), sentence
        assert ("range of 2" in sentence and "not judged (n = 2)" in sentence) == (n == 2)


def test_grid_chart_draws_every_scenario(two_scenarios: Path) -> None:
    run = load_run(two_scenarios)
    table = grid_chart.grid_table(results.summary_table(run), grid_cells(run))
    assert list(dict.fromkeys(table["scenario"])) == ["read", "chat"]
    assert set(table["setting"]) == {"cache=off", "cache=valkey"}
    assert len(table) == 2 * 2 * 2 * 2  # scenario × framework × setting × metric
    _assert_matches_summary(table, pd.read_csv(two_scenarios / "summary.csv"))
    assert (two_scenarios / "charts" / "grid.png").stat().st_size > 20_000
    assert 'id="chart-grid"' in (two_scenarios / "report.html").read_text()


# -- the grid chart of the committed suite results ---------------------------------------------


def _assert_matches_summary(table: pd.DataFrame, summary: pd.DataFrame) -> None:
    """Every drawn value and bound is the summary row's (summary.csv keeps 6 significant
    digits), and so is the kind of bound (its ``interval`` column)."""
    index = summary[summary["endpoint"] == "ALL"].set_index(["variant", "metric"])
    for r in table.itertuples():
        row = index.loc[(r.variant, r.metric)]
        for col in ("value", "ci_low", "ci_high"):
            expected, drawn = float(row[col]), float(getattr(r, col))
            if math.isnan(expected):  # one repetition: no bounds, drawn without whiskers
                assert math.isnan(drawn), (r.variant, r.metric, col)
                continue
            assert math.isclose(drawn, expected, rel_tol=1e-5), (r.variant, r.metric, col)
        assert r.n == int(row["n"]) and r.interval == row["interval"]


@pytest.mark.parametrize("name", SUITE_SAMPLES)
def test_grid_chart_redraws_from_each_committed_suite_result(tmp_path: Path, name: str) -> None:
    run_dir = tmp_path / name
    shutil.copytree(SAMPLES / name, run_dir)
    run = load_run(run_dir)
    results.write_summary(run_dir, run)  # summary.csv as `chatbench report` writes it today
    table = grid_chart.grid_table(results.summary_table(run), grid_cells(run))
    _assert_matches_summary(table, pd.read_csv(run_dir / "summary.csv"))
    assert set(table["framework"]) == {"django", "fastapi"}
    assert set(table["metric"]) == {"rps", "p95"}
    assert set(table["variant"]) == set(run.variants)
    if name == "concurrency":  # a ramp: the summary's whole-ramp figures per axis value
        grid = {label.split("[", 1)[1].rstrip("]") for label in suites.load(name).labels()}
        assert set(table["setting"]) == grid  # every grid setting, named as in the suite file
    charts.draw_chart(run, grid_chart.GRID_CHART)
    for fmt in ("png", "svg"):
        assert (run_dir / "charts" / f"grid.{fmt}").stat().st_size > 20_000


def test_chatbench_report_regenerates_a_suite_run(tmp_path: Path) -> None:
    run_dir = tmp_path / "caching"
    shutil.copytree(SAMPLES / "caching", run_dir)
    shutil.rmtree(run_dir / "charts")
    (run_dir / "report.html").unlink()
    assert cli.main(["report", str(run_dir)]) == 0
    assert {"grid.png", "grid.svg"} <= {p.name for p in (run_dir / "charts").iterdir()}
    html = (run_dir / "report.html").read_text()
    assert 'id="chart-grid"' in html and "The suite&#39;s grid" in html
    # The chart follows the question and answer, before the other charts.
    answer = json.loads((run_dir / "meta.json").read_text())["suite"]["answer"]
    assert html.index(escape(answer[0])) < html.index('id="chart-grid"')
    # The answer is stated again with today's interval methods, named by n.
    assert json.loads((run_dir / "answer.json").read_text())["sentences"] == answer
    _assert_names_its_intervals(answer, load_run(run_dir))
    assert html.index('id="chart-grid"') < html.index('id="chart-throughput"')


def test_a_run_that_is_not_a_suite_gets_no_grid_chart(tmp_path: Path) -> None:
    run_dir = tmp_path / "pooling"
    shutil.copytree(SAMPLES / "pooling", run_dir)
    meta = json.loads((run_dir / "meta.json").read_text())
    del meta["suite"]
    (run_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(charts.ChartSkipped, match="not a suite run"):
        charts.draw_chart(load_run(run_dir), grid_chart.GRID_CHART)
