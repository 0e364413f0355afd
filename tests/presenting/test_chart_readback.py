"""Every chart the harness draws, read back from its SVG and compared with the data it came from.

Each test draws one chart from real run data (the committed fixtures and samples), saves it as
the harness does (``chartkit.save``), parses the SVG's texts by role (``chartread.read``) and
checks the title, axis labels, legend entries and annotated numbers against the analysis
objects the chart was drawn from; and that no two of its text boxes overlap (matplotlib's
rendered extents, ``chartread.overlaps``). A chart whose title named the pair the wrong way
round ("django / fastapi" on a fastapi/django chart), whose value label said another number,
or whose label ran into a panel title fails here.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest
from matplotlib.figure import Figure

from chatbench.analysing import compare, openload, tails, timesplit
from chatbench.analysing import slo as slo_answer
from chatbench.analysing.cpu_profile import differences, layer_table
from chatbench.analysing.layers import LABELS, LAYER_KEYS, parse_collapsed
from chatbench.analysing.suite_answer import grid_cells
from chatbench.analysing.tables import ramp_steps
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.endpoints import short as endpoint_short
from chatbench.configuration.windows import samples_needed
from chatbench.presenting import (
    chartkit,
    chartread,
    charts,
    compare_chart,
    cpu_chart,
    flamegraph,
    grid_chart,
    history_chart,
    knee_chart,
    openload_chart,
    overtime_chart,
    ratio_chart,
)
from chatbench.presenting.chartkit import ChartData, ChartSkipped
from chatbench.presenting.equal_load_answer import not_measured
from chatbench.presenting.formatting import fmt_value
from chatbench.storing import history
from chatbench.storing.rundir import Run, load_run
from tests.conftest import REPO_ROOT
from tests.fixtures.runs import RUN_SLOW, RUN_SMALL, copy_run

SAMPLE = REPO_ROOT / "results" / "sample"


def flat(text: str) -> str:
    """A text as read, its wrapped lines joined."""
    return " ".join(text.split())


def read_back(fig: Figure, tmp_path: Path, name: str) -> chartread.ChartText:
    """Save ``fig`` as the harness does, read its SVG back, and check no texts overlap."""
    chartkit.save(fig, tmp_path, name)
    assert chartread.overlaps(fig) == [], name
    return chartread.read(tmp_path / f"{name}.svg")


@pytest.fixture(scope="module")
def small() -> Run:
    return load_run(RUN_SMALL)


@pytest.fixture(scope="module")
def sample() -> Run:
    """The committed default comparison: capacity, equal load, an SLO search, CPU profiles."""
    return load_run(SAMPLE)


# -- the instrument itself ---------------------------------------------------------------------


def test_readback_finds_each_role_and_overlaps_are_found(tmp_path: Path, small: Run) -> None:
    fig = chartkit.figure(6.0, 3.0)
    ax = fig.subplots()
    ax.plot([1, 2], [1, 2], label="a line")
    ax.set_title("panel title")
    ax.set_xlabel("x label")
    ax.set_ylabel("y label")
    ax.legend()
    ax.annotate("1.86×", (1.5, 1.5))
    chartkit.finish(fig, small, "the title", notes=["a note"])
    chartkit.save(fig, tmp_path, "probe")
    text = chartread.read(tmp_path / "probe.svg")
    assert text.suptitle == "the title" and text.titles == ("panel title",)
    assert text.xlabels == ("x label",) and text.ylabels == ("y label",)
    assert text.legend == ("a line",) and text.annotations == ("1.86×",)
    assert "a note" in text.notes and any(small.run_id in n for n in text.notes)
    assert chartread.overlaps(fig) == []
    # A value label drawn over the panel title is found.
    ax.annotate(
        "over the title",
        (0.5, 1.0),
        xycoords="axes fraction",
        ha="center",
        va="bottom",
        xytext=(0, 4),
        textcoords="offset points",
        fontsize=12,
    )
    assert {frozenset(pair) for pair in chartread.overlaps(fig)} == {
        frozenset({"panel title", "over the title"})
    }


def test_rotated_labels_are_judged_by_their_rotated_box() -> None:
    fig = chartkit.figure(6.0, 3.0)
    ax = fig.subplots()
    names = ["django[pool=none]", "django[pool=persistent]", "fastapi[pool=none]", "fastapi"]
    chartkit.variant_ticks(ax, [0, 1, 2, 3], names)  # crowded: slanted by 30°
    assert {t.get_rotation() for t in ax.get_xticklabels()} == {30.0}
    assert chartread.overlaps(fig) == []  # their axis-aligned boxes would overlap
    ax.set_xticks([0, 0.05, 0.1, 0.15], names, rotation=0)  # upright, on top of each other
    assert chartread.overlaps(fig)


# -- the charts of a plain run -----------------------------------------------------------------


def test_ratio_chart_names_its_pairs_and_values(tmp_path: Path, sample: Run) -> None:
    data = ChartData(sample)
    drawn = ratio_chart.panels(data)
    text = read_back(charts.build(sample, "ratio", data), tmp_path, "ratio")
    pairs = ratio_chart.ratio_pairs(sample.variants, lambda v: chartkit.framework_of(sample, v))
    assert pairs == [("fastapi", "django")]
    assert flat(text.suptitle).startswith("Ratio fastapi / django, log axis centred on 1")
    # The case: a title naming the pair the other way round does not pass.
    assert not flat(text.suptitle).startswith("Ratio django / fastapi")
    assert text.titles == tuple(p.title for p in drawn)
    # Capacity, then latency at equal load where the answer compares it (never a closed-loop
    # latency ratio); the committed sample's django was overloaded there: not compared, no panel.
    from chatbench.analysing.answers import run_answer

    said = [s for s in run_answer(sample).sentences if "offered to each" in s]  # equal load's
    latency = bool(said) and "not compared" not in said[0]
    assert text.titles == ("Capacity (req/s), per endpoint",) + (
        ("Latency at equal offered load (open model)",) if latency else ()
    )
    assert text.xlabels == ("← django serves more     1 = equal     fastapi serves more →",) + (
        ("← fastapi faster     1 = equal     django faster →",) if latency else ()
    )
    shown = [
        ratio_chart.label(p.ratio)
        for panel in drawn
        for p in panel.points
        if math.isfinite(p.ratio.value)
    ]
    assert list(text.annotations) == shown
    # The all-endpoints capacity ratio is the answer's, over the kept repetitions.
    (answer,) = run_answer(sample).ratios
    (everything,) = [p for p in drawn[0].points if p.row == endpoint_short(ALL)]
    assert ratio_chart.label(answer.ratio) == ratio_chart.label(everything.ratio)
    assert (everything.widened is not None) == (answer.widened is not None)
    # Ticks are ratios on a log axis symmetric around 1.
    assert "1×" in text.xticks and all(t.endswith("×") for t in text.xticks)


def test_ratio_chart_of_a_suite_names_each_pair(tmp_path: Path) -> None:
    run = load_run(SAMPLE / "pooling")
    text = read_back(charts.build(run, "ratio"), tmp_path, "ratio")
    pairs = ratio_chart.ratio_pairs(run.variants, lambda v: chartkit.framework_of(run, v))
    assert len(pairs) > 1 and all(d.startswith("fastapi") for d, _ in pairs)
    names = ", ".join(f"{d} / {f}" for d, f in pairs)
    assert flat(text.suptitle).startswith(f"Ratio {names}")
    assert list(text.legend) == [f"{d} / {f}" for d, f in pairs]
    spec = {s.name: s for s in charts.CHARTS}["ratio"]
    assert "Django / FastAPI" not in spec.title  # the report's heading names no direction


def test_throughput_chart_figures_and_its_third_panel(tmp_path: Path, small: Run, sample: Run):
    for run in (small, sample):
        data = ChartData(run)
        text = read_back(charts.build(run, "throughput", data), tmp_path, "throughput")
        assert flat(text.suptitle) == (
            f"Throughput — geometric mean of repetitions ({chartkit.bounds_label(data)})"
        )
        assert list(text.legend) == list(run.variants)
        rps = [data.row(v, ALL, "rps") for v in run.variants]
        per_cpu = [data.row(v, ALL, "req_per_cpu_s") for v in run.variants]
        if charts.cpu_saturated(data):
            assert text.titles[2] == "Service CPU per request"
            third = [f"{1000 / r[0]:.2f}" for r in per_cpu]
            assert any("at least 90% busy" in n for n in text.notes)
        else:
            assert text.titles[2] == "Efficiency"
            third = [f"{r[0]:,.0f}" for r in per_cpu]
        assert list(text.annotations) == [f"{r[0]:,.0f}" for r in rps] + third
    # The sample's single service core was saturated in both variants; the fixture's was not.
    assert charts.cpu_saturated(ChartData(sample)) and not charts.cpu_saturated(ChartData(small))


def test_equal_load_chart_marks_an_overloaded_variant_by_its_lower_bounds(
    tmp_path: Path, sample: Run
) -> None:
    """The committed sample: a variant that did not keep the rate in some window is drawn as
    lower bounds, named so in the legend and in a note."""
    data = ChartData(sample)
    text = read_back(charts.build(sample, "equal_load", data), tmp_path, "equal_load")
    notes = flat(" ".join(text.notes))
    for r in openload_chart.equal_load_rates(data):
        for v in r.variants:
            overloaded = f"{v.variant} ({openload_chart.OVERLOADED})"
            assert (overloaded in text.legend) == (not v.kept_up), (v.variant, text.legend)
            if not v.kept_up:
                assert flat(f"{r.rate:,.0f} req/s: {v.variant} did not keep the rate") in notes
            else:
                assert v.variant in text.legend


def test_equal_load_chart_draws_only_what_the_windows_hold(tmp_path: Path) -> None:
    # A run whose every variant kept the rate at two rates (tests/fixtures/README.md).
    sample = load_run(REPO_ROOT / "tests" / "fixtures" / "sample_2026_11_30")
    data = ChartData(sample)
    rates = openload_chart.equal_load_rates(data)
    text = read_back(charts.build(sample, "equal_load", data), tmp_path, "equal_load")
    slowest = sample.record.equal_load.slowest
    assert text.titles == tuple(
        f"{r.rate:,.0f} req/s offered to each\n({100 * r.fraction:g} % of {slowest}'s capacity)"
        for r in rates
    )
    assert text.ylabels == ("Latency from the intended send time (ms)",)
    assert list(text.legend) == list(sample.variants)
    # Exactly the percentiles VariantLatency.percentiles holds, each with its own value.
    expected = [
        openload_chart.point_label(v.percentiles[m].value)
        for r in rates
        for v in r.variants
        for m in openload.SHOWN
        if m in v.percentiles
    ]
    assert list(text.annotations) == expected
    notes = flat(" ".join(text.notes))
    left_out = 0
    for r in rates:
        for m in openload.SHOWN:
            said = not_measured(r.variants, m)
            if said:
                left_out += 1
                assert flat(f"{r.rate:,.0f} req/s: {said}.") in notes
    assert left_out >= 2  # the sample's p99.9 at both rates, p99 at the lower one
    assert "99.9 %" in text.xticks and "50 %" in text.xticks  # the percentile spectrum


def test_slo_chart_states_each_answer_in_its_legend(tmp_path: Path, sample: Run) -> None:
    answer = slo_answer.slo_answer(sample.path, sample.record)
    assert answer is not None
    text = read_back(charts.build(sample, "slo"), tmp_path, "slo")
    section = sample.record.slo
    assert flat(text.suptitle).startswith(
        f"Capacity within p{section.percentile:g} ≤ {section.bound_ms:g} ms"
    )
    legend = list(text.legend)
    for v in answer.variants:
        assert openload_chart.answer_label(v) in legend
        for outcome in {w.outcome for w in v.windows if w.value_ms is not None}:
            assert f"{v.variant}: {outcome}" in legend
    assert f"objective p{section.percentile:g} ≤ {section.bound_ms:g} ms" in legend
    assert text.xlabels == ("Offered rate (requests/s, open model)",)


def test_db_time_chart_says_the_split(tmp_path: Path, small: Run) -> None:
    text = read_back(charts.build(small, "db_time"), tmp_path, "db_time")
    splits = [x for x in timesplit.split(small, keep_invalid=True) if math.isfinite(x.latency_ms)]
    assert list(text.annotations) == [
        f"CPU {x.cpu_ms:.2f} + DB {x.db_ms:.2f} + waiting {x.waiting_ms:.2f} ms "
        f"({100 * x.waiting_share:.0f} % waiting) = {x.latency_ms:.2f} ms mean"
        for x in splits
    ]


def test_latency_spectrum_leaves_out_what_the_windows_cannot_hold(tmp_path: Path, small: Run):
    data = ChartData(small)
    text = read_back(charts.build(small, "latency_percentiles", data), tmp_path, "spectrum")
    assert text.titles == tuple(endpoint_short(e) for e in [*small.endpoints, ALL])
    assert list(text.legend) == list(small.variants)
    assert text.ylabels == ("Latency (ms), closed loop",)
    assert {"50 %", "90 %", "99 %", "99.9 %"} <= set(text.xticks)
    notes = flat(" ".join(text.notes))
    panels = [(v, e) for e in [*small.endpoints, ALL] for v in small.variants]  # drawing order
    for q in charts.SPECTRUM.values():
        short = {
            (v, e): int(data.values(v, e, "requests").min())
            for v, e in panels
            if data.values(v, e, "requests").min() < samples_needed(q)
        }
        if short:
            assert flat(charts.not_drawn(q, short, len(panels))) in notes
        else:
            assert f"{tails.label(q)} not drawn" not in notes
    # p99: some panels have the requests, some not; each one without is named.
    p99 = charts.not_drawn(99.0, {("django", ALL): 838}, len(panels))
    assert p99.startswith("p99 not drawn for django (all endpoints): at most 838 requests")


def _stretched(name: str, dest: Path, factor: int = 5) -> Path:
    """A copy of fixture ``name`` whose windows last ``factor`` times longer, each second's
    figures repeated: enough points per window for the over-time charts."""
    run_dir = copy_run(name, dest)
    for path in run_dir.glob("raw/*/rep-*/requests.json"):
        doc = json.loads(path.read_text())
        start = doc["measure_start"]
        doc["duration_s"] = doc["duration_s"] * factor
        doc["measure_end"] = start + doc["duration_s"]
        doc["series"] = [
            dict(s, second=s["second"] * factor + k) for s in doc["series"] for k in range(factor)
        ]
        path.write_text(json.dumps(doc))
    samples = pd.read_csv(run_dir / "samples.csv")
    starts = {}
    for path in run_dir.glob("raw/*/rep-*/requests.json"):
        doc = json.loads(path.read_text())
        starts[(path.parts[-3], int(path.parts[-2].split("-")[1]))] = doc["measure_start"]
    copies = []
    for k in range(factor):
        shifted = samples.copy()
        start = shifted.apply(lambda r: starts[(r["variant"], int(r["repetition"]))], axis=1)
        shifted["wall"] = start + (shifted["wall"] - start) * factor + k * 0.5
        copies.append(shifted)
    pd.concat(copies).to_csv(run_dir / "samples.csv", index=False)
    return run_dir


def test_over_time_charts_need_twenty_points_a_window(tmp_path: Path, small: Run) -> None:
    for name in ("throughput_over_time", "latency_over_time", "server_resources"):
        with pytest.raises(ChartSkipped, match="per window, 20 needed"):
            charts.build(small, name)
    run = load_run(_stretched("run_small", tmp_path / "long"))
    data = ChartData(run)
    assert overtime_chart.points_per_window(data.series) >= overtime_chart.MIN_POINTS
    text = read_back(charts.build(run, "throughput_over_time", data), tmp_path, "tot")
    assert list(text.legend) == [f"{v} (median)" for v in run.variants]
    assert text.xlabels == (overtime_chart.TIME_AXIS,)
    text = read_back(charts.build(run, "latency_over_time", data), tmp_path, "lot")
    assert list(text.legend) == [f"{v} {p}" for v in run.variants for p in ("p50", "p95")]
    text = read_back(charts.build(run, "server_resources", data), tmp_path, "res")
    assert text.titles == ("CPU", "Server RSS")
    assert [e for e in text.legend if e.endswith(" server")] == [
        f"{v} server" for v in run.variants
    ]


# -- suite charts --------------------------------------------------------------------------------


def test_grid_chart_shows_the_summary_figures(tmp_path: Path) -> None:
    run = load_run(SAMPLE / "pooling")
    data = ChartData(run)
    table = grid_chart.grid_table(data.summary, grid_cells(run))
    text = read_back(charts.build(run, "grid", data), tmp_path, "grid")
    assert flat(text.suptitle).startswith(f"{run.record.suite.name}: by setting")
    scenarios = list(dict.fromkeys(table["scenario"]))
    assert text.titles == tuple(
        f"{title} — {s} scenario" for s in scenarios for _, title, _ in grid_chart.GRID_METRICS
    )
    assert list(text.legend) == list(dict.fromkeys(table["framework"]))
    expected = []
    for scenario in scenarios:
        for metric, _, _ in grid_chart.GRID_METRICS:
            rows = table[(table["scenario"] == scenario) & (table["metric"] == metric)]
            for setting in dict.fromkeys(rows["setting"]):
                for _, r in rows[rows["setting"] == setting].iterrows():
                    expected.append(fmt_value(r["value"]))
    assert list(text.annotations) == expected


def test_ramp_chart_is_small_multiples_with_the_knee_named(tmp_path: Path) -> None:
    run = load_run(SAMPLE / "concurrency")
    steps = ramp_steps(run)
    text = read_back(charts.build(run, "latency_vs_throughput"), tmp_path, "knee")
    variants = [v for v in run.variants if not steps[steps["variant"] == v].empty]
    assert len(text.titles) == len(variants) > 4  # one panel each
    for title, v in zip(text.titles, variants, strict=True):
        found = knee_chart.knee(knee_chart.steps_of(steps, v))
        assert found is not None
        assert title == f"{v}\nknee: {found.users} users, {found.rps:,.0f} req/s"
    assert list(text.legend) == ["p95", "p50", "knee: highest throughput / p50"]


# -- the other commands' charts ----------------------------------------------------------------


def test_cpu_layers_chart_totals_and_gaps(tmp_path: Path, sample: Run) -> None:
    table = layer_table(sample)
    assert table
    text = read_back(cpu_chart.chart(sample, table), tmp_path, "cpu_layers")
    totals = [sum(row.ms[k] for k in LAYER_KEYS if math.isfinite(row.ms[k])) for row in table]
    gaps = differences(table)
    assert list(text.annotations) == [f"{t:.2f} ms" for t in totals] + [
        f"{(g[k] if math.isfinite(g[k]) else 0.0):+.2f}" for g in gaps.values() for k in LAYER_KEYS
    ]
    assert list(text.legend) == list(LAYER_KEYS)
    assert text.titles == (" ; ".join(f"{v} − {table[0].variant}" for v in gaps),)


def test_flame_graph_title_and_layers(tmp_path: Path) -> None:
    stacks_file = SAMPLE / "profiles" / "fastapi" / "stacks.txt"
    stacks = parse_collapsed(stacks_file.read_text(encoding="utf-8", errors="replace"))
    fig, boxes, total = flamegraph.flame_figure(stacks, "fastapi: CPU samples (py-spy --gil)")
    path = flamegraph.draw_flamegraph(stacks, tmp_path / "flame.svg", "fastapi: CPU samples")
    text = chartread.read(path)
    assert text.titles == (flamegraph.flame_title("fastapi: CPU samples", total),)
    assert list(text.legend) == [*LABELS.values(), "no layer (standard library …)"]
    assert boxes and all(a.split("…")[0] for a in text.annotations)
    assert chartread.overlaps(fig) == []  # frame names are clipped to their boxes: not counted


def test_compare_chart_labels_every_change(tmp_path: Path) -> None:
    result = compare.compare_runs(RUN_SMALL, RUN_SLOW)
    fig = compare_chart.compare_figure(result)
    text = read_back(fig, tmp_path, "compare")
    metrics = [
        m for m in ("rps", "p50", "p95", "p99") if any(c.metric == m for c in result.changes)
    ]
    rows = list(dict.fromkeys((c.variant, c.endpoint) for c in result.changes))
    by_key = {(c.variant, c.endpoint, c.metric): c for c in result.changes}
    expected = [
        compare_chart.change_label(c.change)
        for m in metrics
        for v, e in rows
        if (c := by_key.get((v, e, m))) is not None and math.isfinite(c.change)
    ]
    assert list(text.annotations) == expected
    assert result.run_a in text.suptitle and result.run_b in text.suptitle
    assert text.xlabels == ("Change B vs A (%)",) * len(metrics)


def test_history_chart_names_its_shifts(tmp_path: Path) -> None:
    path = tmp_path / "history.jsonl"
    for i in range(14):  # fastapi's throughput drops by a fifth at the eighth check
        rps = 1000.0 if i < 7 else 800.0
        metrics = {"fastapi": {"ALL": {"rps": rps + (i % 3), "p95": 20.0 + (i % 2)}}}
        history.append(
            path,
            history.record(
                run_id=f"run-{i}",
                git_sha=f"{i:02d}" + "a" * 38,
                machine_class="m",
                mode="baseline",
                reference="ci.json",
                passed=True,
                regressions=[],
                metrics=metrics,
            ),
        )
    trend = history_chart.build_trend(history.read(path), source=path)
    text = read_back(history_chart.history_figure(trend), tmp_path, "history")
    shifts = trend.all_shifts
    assert shifts, "the step should be found"
    assert list(text.annotations) == [history_chart.shift_label(s) for s in shifts]
    assert text.titles == tuple(history_chart._TITLES[m] for m in trend.metrics)
    assert list(text.legend) == list(trend.variants)
    assert "14 check(s)" in text.suptitle


@pytest.mark.parametrize(
    "source",
    [
        RUN_SMALL,
        RUN_SLOW,
        SAMPLE,
        *(SAMPLE / s for s in ("contenders", "pooling", "caching", "async-vs-sync", "concurrency")),
    ],
    ids=lambda p: p.name,
)
def test_no_chart_of_a_committed_run_has_text_running_into_text(source: Path) -> None:
    """Every chart every committed run draws (a suite's eight long variant names included)."""
    run = load_run(source)
    data = ChartData(run)
    drawn = 0
    for spec in charts.CHARTS:
        try:
            fig = spec.draw(data)
        except ChartSkipped:
            continue
        drawn += 1
        assert chartread.overlaps(fig) == [], (source.name, spec.name)
    assert drawn >= 3


def test_an_overloaded_variant_is_a_lower_bound_never_a_figure(tmp_path: Path) -> None:
    """The sample with fastapi's windows at the higher rate marked as not keeping the rate (sends
    dropped): drawn as ▲ lower bounds, named in the legend and a note, and never as a
    figure or a ratio."""
    run_dir = tmp_path / "sample"
    shutil.copytree(
        SAMPLE,
        run_dir,
        ignore=shutil.ignore_patterns(
            "pooling",
            "caching",
            "async-vs-sync",
            "concurrency",
            "contenders",
            "charts",
            "report.html",
            "profiles",
        ),
    )
    section = load_run(run_dir).record.equal_load
    high = max(section.phases, key=lambda p: float(p.rate))
    for path in (run_dir / high.directory).glob("raw/fastapi/rep-*/requests.json"):
        doc = json.loads(path.read_text())
        doc["dropped"] = 500  # sends the schedule could not make: the rate not kept
        path.write_text(json.dumps(doc))
    run = load_run(run_dir)
    data = ChartData(run)
    (found,) = [r for r in openload_chart.equal_load_rates(data) if r.rate == float(high.rate)]
    fastapi = next(v for v in found.variants if v.variant == "fastapi")
    assert not fastapi.kept_up and fastapi.overloaded == fastapi.n
    text = read_back(charts.build(run, "equal_load", data), tmp_path, "equal_load")
    assert f"fastapi ({openload_chart.OVERLOADED})" in text.legend
    assert any(f"{found.rate:,.0f} req/s: fastapi did not keep the rate" in n for n in text.notes)
    bounds = openload_chart.lower_bounds(fastapi)
    assert bounds and all(
        openload_chart.point_label(b) in text.annotations for b in bounds.values()
    )
    # Not a figure anywhere: no ratio at that rate.
    ratio = read_back(charts.build(run, "ratio", data), tmp_path, "ratio")
    assert not any(f"at {found.rate:,.0f} req/s" in t for t in ratio.yticks)
