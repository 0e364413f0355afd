"""Summary numbers of a real run, checked against values computed here from the raw files.

The fixture (tests/fixtures/run_small) is real output of `chatbench run --profile smoke
--repeat 2`. Expectations are computed independently: HDR histograms decoded with hdrh
directly, counts read from requests.json, geometric means over repetitions with scipy. The
fixture has 2 repetitions, so every row's bounds are the range of the 2, never a 95 % CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hdrh.histogram import HdrHistogram
from scipy.stats import gmean

from chatbench.analysing import tables as results
from chatbench.configuration.endpoints import ALL
from chatbench.storing import record, rundir
from tests.fixtures.runs import rebuilt

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0, "p99_9": 99.9}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rebuilt("run_small", tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def summary(run_dir: Path) -> pd.DataFrame:
    return pd.read_csv(run_dir / "summary.csv")


def raw_reps(run_dir: Path) -> dict[str, list[dict]]:
    """variant → [requests.json of each repetition], read without chatbench."""
    out: dict[str, list[dict]] = {}
    for path in sorted(run_dir.glob("raw/*/rep-*/requests.json")):
        out.setdefault(path.parent.parent.name, []).append(json.loads(path.read_text()))
    return out


def cell(summary: pd.DataFrame, variant: str, endpoint: str, metric: str) -> pd.Series:
    hit = summary[
        (summary["variant"] == variant)
        & (summary["endpoint"] == endpoint)
        & (summary["metric"] == metric)
    ]
    assert len(hit) == 1, (variant, endpoint, metric)
    return hit.iloc[0]


def test_fixture_is_a_real_two_repetition_run(run_dir: Path) -> None:
    reps = raw_reps(run_dir)
    assert sorted(reps) == ["django", "fastapi"]
    for docs in reps.values():
        assert len(docs) == 2
        for doc in docs:
            assert doc["format_version"] == 1 and doc["duration_s"] > 0
            assert sum(e["count"] for e in doc["endpoints"].values()) > 100


def test_counts_and_throughput_match_requests_json(run_dir: Path, summary) -> None:
    for variant, docs in raw_reps(run_dir).items():
        for endpoint in docs[0]["endpoints"]:
            counts = [d["endpoints"][endpoint]["count"] for d in docs]
            good = [
                (d["endpoints"][endpoint]["count"] - d["endpoints"][endpoint]["failures"])
                / d["duration_s"]
                for d in docs
            ]
            requests = cell(summary, variant, endpoint, "requests")["value"]
            assert requests == pytest.approx(gmean(counts), rel=1e-5)
            row = cell(summary, variant, endpoint, "rps")
            assert row["value"] == pytest.approx(gmean(good), rel=1e-5)
            assert row["n"] == 2 and row["interval"] == "range"
            # 2 repetitions: the bounds are their range, not a confidence interval.
            assert row["ci_low"] == pytest.approx(min(good), rel=1e-5)
            assert row["ci_high"] == pytest.approx(max(good), rel=1e-5)
            # The per-second series adds up to the endpoint's count (whole-second window).
            for d in docs:
                in_series = sum(s["count"] for s in d["series"] if s["endpoint"] == endpoint)
                assert in_series == d["endpoints"][endpoint]["count"]
        totals = [sum(e["count"] for e in d["endpoints"].values()) for d in docs]
        requests = cell(summary, variant, ALL, "requests")["value"]
        assert requests == pytest.approx(gmean(totals), rel=1e-5)


def test_percentiles_match_decoded_histograms(run_dir: Path, summary) -> None:
    for variant, docs in raw_reps(run_dir).items():
        for endpoint in docs[0]["endpoints"]:
            hists = [HdrHistogram.decode(d["endpoints"][endpoint]["hdr"]) for d in docs]
            for name, pct in PERCENTILES.items():
                per_rep = [h.get_value_at_percentile(pct) / 1000.0 for h in hists]
                got = cell(summary, variant, endpoint, name)["value"]
                assert got == pytest.approx(gmean(per_rep), rel=1e-4), (variant, endpoint, name)
            max_ms = [h.get_max_value() / 1000.0 for h in hists]
            got = cell(summary, variant, endpoint, "max")["value"]
            assert got == pytest.approx(gmean(max_ms), rel=1e-3)
        # ALL: every endpoint's histogram merged, per repetition.
        merged = []
        for d in docs:
            hist = HdrHistogram(1, 60_000_000, 3)
            for e in d["endpoints"].values():
                hist.add(HdrHistogram.decode(e["hdr"]))
            merged.append(hist.get_value_at_percentile(95) / 1000.0)
        got = cell(summary, variant, ALL, "p95")["value"]
        assert got == pytest.approx(gmean(merged), rel=1e-4)


def test_peak_rss_from_samples(run_dir: Path, summary) -> None:
    samples = pd.read_csv(run_dir / "samples.csv")
    for variant, docs in raw_reps(run_dir).items():
        peaks = []
        for k, d in enumerate(docs, start=1):
            s = samples[
                (samples["variant"] == variant)
                & (samples["repetition"] == k)
                & (samples["role"] == "server")
            ]
            window = s[(s["wall"] >= d["measure_start"]) & (s["wall"] <= d["measure_end"])]
            peaks.append(window["rss_bytes"].max() / 2**20)
        got = cell(summary, variant, ALL, "peak_rss_mb")["value"]
        assert got == pytest.approx(gmean(peaks), rel=1e-4)
        eff = cell(summary, variant, ALL, "req_per_cpu_s")
        assert eff["value"] > 0 and eff["n"] == 2


def test_summary_json_equals_csv(run_dir: Path, summary) -> None:
    doc = json.loads((run_dir / "summary.json").read_text())
    assert doc["format_version"] == record.RUN_FORMAT_VERSION
    assert len(doc["rows"]) == len(summary)
    by_key = {(r["variant"], r["endpoint"], r["metric"]): r for r in doc["rows"]}
    for r in summary.itertuples():
        j = by_key[(r.variant, r.endpoint, r.metric)]
        if j["value"] is None:
            assert np.isnan(r.value)
        else:
            assert j["value"] == pytest.approx(r.value, rel=1e-5)


def test_time_series_has_p99_and_drops_no_whole_second(run_dir: Path) -> None:
    run = rundir.load_run(run_dir)
    ts = results.time_series(run)
    assert {"p50", "p95", "p99"} <= set(ts.columns)
    all_rows = ts[ts["endpoint"] == ALL]
    assert (all_rows.groupby(["variant", "repetition"]).size() == 5).all()
    assert (all_rows["p50"] <= all_rows["p99"]).all()


def test_not_a_run_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(rundir.RunDirectoryError):
        rundir.load_run(tmp_path)


def test_summary_names_each_rows_interval_by_its_repetitions() -> None:
    """3 or more repetitions: a 95 % t interval on the log values (``t95-log``), or on the raw
    values where one is 0 (``t95``); 2: their range; 1: no bounds."""
    rows = [
        ("a", 1, 100.0), ("a", 2, 110.0), ("a", 3, 121.0),  # t95-log
        ("b", 1, 0.0), ("b", 2, 2.0), ("b", 3, 4.0),  # a zero: t95 on the raw values
        ("c", 1, 50.0), ("c", 2, 60.0),  # range
        ("d", 1, 7.0),  # none
    ]  # fmt: skip
    reps = pd.DataFrame(
        [
            {"variant": v, "scenario": "chat", "endpoint": "ALL", "metric": "rps",
             "repetition": k, "value": x}
            for v, k, x in rows
        ]
    )  # fmt: skip
    table = results.summarise(reps).set_index("variant")
    assert list(table["interval"]) == ["t95-log", "t95", "range", "none"]
    assert table.loc["a", "value"] == pytest.approx(110.0)  # geometric mean of 100, 110, 121
    assert table.loc["a", "ci_low"] < 100.0 and table.loc["a", "ci_high"] > 121.0
    assert table.loc["b", "value"] == pytest.approx(2.0)  # the mean
    assert (table.loc["c", "ci_low"], table.loc["c", "ci_high"]) == (50.0, 60.0)
    assert table.loc["d", "value"] == 7.0 and np.isnan(table.loc["d", "ci_low"])
    assert list(table.columns[: len(results.SUMMARY_COLUMNS) - 1]) == [
        c for c in results.SUMMARY_COLUMNS if c != "variant"
    ]
