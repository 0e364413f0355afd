"""Warnings only for what needs the reader's action; everything the answers account for is a
note (``presenting.notices``), and the report shows them apart."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd
import pytest

from chatbench.analysing import tables as results
from chatbench.configuration.endpoints import ALL
from chatbench.load import health as loadhealth
from chatbench.presenting import notices, report
from chatbench.storing.record import InvalidRepetition
from chatbench.storing.rundir import load_run
from tests.fixtures.runs import rebuilt


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rebuilt("run_small", tmp_path_factory.getbasetemp())


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


def test_errors_and_saturated_loadgen_are_warnings_intervals_are_notes(run_dir: Path) -> None:
    run = load_run(run_dir)
    reps = results.repetition_metrics(run)
    summary = results.summarise(reps)
    found = notices.collect(run, reps, summary)
    assert not any(w.needs_action for w in found)  # a clean run: nothing to act on
    bad = reps.copy()
    first = (bad["variant"] == "django") & (bad["repetition"] == 1)
    bad.loc[first & (bad["metric"] == "error_rate"), "value"] = 0.05
    # The run's own verdict on its load generator (the runner writes both the list and, for
    # the terminal, the same sentence among the warnings): shown once, as an error.
    reason = "loadgen saturated: load-generator CPU set {0} was 97 % busy over the busiest 5 s"
    saturated = loadhealth.invalid_message("django", 1, reason)
    invalid = [InvalidRepetition(variant="django", repetition=1, reason=reason)]
    leftover = "Found before the run: 1 scratch directories of earlier runs, none in use."
    busy = "Busy before the run on planned CPUs: python (pid 1) used 76.5 % of a CPU."
    record = run.record.but(
        invalid_repetitions=invalid, warnings=[*run.record.warnings, saturated, leftover, busy]
    )
    run = dataclasses.replace(run, record=record)
    found = notices.collect(run, bad, results.summarise(bad), violated=["cpu_separation"])
    messages = [(w.severity, w.message) for w in found]
    assert [(s, m) for s, m in messages if "CPU set" in m] == [("error", saturated)]
    assert ("error", "Fairness rules violated: cpu_separation.") in messages
    assert any(s == "warning" and "error rate 5.0 %" in m for s, m in messages)
    assert ("warning", busy) in messages and ("note", leftover) in messages
    # 2 repetitions: a range of 2, so no "95 % CI" line, but a note saying there is none.
    assert "95 % CI is" not in "\n".join(m for _, m in messages)
    few = [w for w in found if "fewer than 3 repetitions" in w.message]
    assert [w.severity for w in few] == ["note"]
    # Warnings first, then notes.
    flags = [w.needs_action for w in found]
    assert flags == sorted(flags, reverse=True)


def test_wide_intervals_are_notes_only_where_the_bounds_are_a_ci() -> None:
    summary = _summary_rows(5, (100.0, 160.0, 70.0))
    (wide,) = notices.interval_notes(summary)
    width = (summary.iloc[0]["ci_high"] - summary.iloc[0]["ci_low"]) / summary.iloc[0]["value"]
    assert width > notices.CI_WIDTH_LIMIT and wide.severity == notices.NOTE
    assert wide.message.startswith(
        f"django all endpoints rps: 95 % CI is {width * 100:.0f} % of the value (n=5)"
    )
    assert not notices.interval_notes(_summary_rows(5, (100.0, 101.0, 99.0)))
    (few,) = notices.interval_notes(_summary_rows(2, (100.0, 160.0)))
    assert "95 % CI is" not in few.message and "fewer than 3 repetitions" in few.message


def test_the_report_shows_warnings_up_front_and_notes_in_the_evidence(run_dir: Path) -> None:
    html = report.render_report(run_dir)
    assert 'id="warnings"' not in html  # nothing to act on in the fixture
    notes = html.index('id="notes"')
    assert html.index('id="evidence"') < notes
    assert "fewer than 3 repetitions" in html[notes:]
