"""Latency at equal offered load (``workflows.phases.equal_load``) and the overloaded verdict
(``load.openloop``), on a short real run.

The variant is made slow by a known amount with the test-only CPU-burn injector, so its
capacity is small; the phase then offers it 30 % of that (it keeps up) and 300 % (it cannot,
even if the machine was twice as busy when its capacity was measured: the repetition must be
reported overloaded, its dropped sends counted, its latency a lower bound).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from markupsafe import escape as html_escape

from chatbench import cli
from chatbench.analysing import timesplit
from chatbench.analysing.answers import run_answer
from chatbench.analysing.tables import summary_table
from chatbench.configuration import settings as config
from chatbench.configuration.profiles import parse_fractions
from chatbench.errors import UsageError
from chatbench.presenting import findings
from chatbench.storing import record as rec
from chatbench.storing.rundir import load_run
from chatbench.workflows import bench
from chatbench.workflows.phases.equal_load import phase_config
from chatbench.workflows.report import analyse

PROFILE = """\
scenario = "chat"
mode = "closed"
users = 4
warmup = 1
duration = 2
repeat = 1
processes = 1
equal_load = [0.3, 3]
equal_load_warmup = 1
equal_load_duration = 2
equal_load_repeat = 1
window_max = 3
settle = 0
"""


def test_equal_load_below_capacity_keeps_up_and_above_is_overloaded(
    pg_server_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "tiny.toml"
    profile.write_text(PROFILE)
    cfg = config.build(
        str(profile), variants=("fastapi",), database_url=pg_server_url,
        out_dir=tmp_path / "out", service_env={"fastapi": {"CHATBENCH_BURN_US": "5000"}},
        allow_unfair=True,  # a busy test machine may saturate the load generator: not judged here
    )  # fmt: skip
    outcome = bench.run(cfg, report=False)
    record = rec.load(outcome.run_dir)
    section = record.equal_load
    assert section is not None and section.slowest == "fastapi"
    capacity = section.capacity_rps
    # 5 ms of CPU per request on one service CPU: at most ~200 req/s, whatever else runs.
    assert 0 < capacity < 250, capacity
    low, high = section.phases
    assert (low.fraction, high.fraction) == (0.3, 3.0)
    assert low.rate == pytest.approx(0.3 * capacity, abs=1)
    assert high.rate == pytest.approx(3 * capacity, abs=1)
    assert low.status == high.status == "complete"

    below = rec.load(outcome.run_dir / low.directory)
    above = rec.load(outcome.run_dir / high.directory)
    assert below.config.mode == above.config.mode == "rate"
    assert all(x.ok for x in [*below.integrity, *above.integrity])
    (kept,) = below.repetitions
    assert kept.overloaded is False and kept.dropped_sends == 0, kept
    (over,) = above.repetitions
    assert over.overloaded is True and over.dropped_sends > 0, over
    assert over.achieved_rate < 0.98 * over.target_rate
    assert high.overloaded == ["fastapi#1"] and low.overloaded == []
    assert any("overloaded" in w for w in above.warnings)

    # The summary counts it, the answer shows its latency as a lower bound, never compared.
    table = summary_table(load_run(outcome.run_dir / high.directory))
    assert set(table["overloaded"]) == {1}
    assert set(summary_table(load_run(outcome.run_dir / low.directory))["overloaded"]) == {0}
    copy = valid_copy(outcome.run_dir, tmp_path / "copy")
    answer = run_answer(copy)
    said = " ".join(answer.sentences)
    assert f"Latency at {low.rate:,.0f} req/s" in said
    assert "OVERLOADED in 1 of 1 repetitions" in said and "lower bounds" in said
    by_rate = {r.rate: r for r in answer.equal_load}
    assert by_rate[low.rate].variants[0].kept_up
    assert not by_rate[high.rate].variants[0].kept_up
    meta = json.loads((outcome.run_dir / "meta.json").read_text())
    assert meta["config"]["equal_load"] == [0.3, 3.0]
    # Where the time goes below capacity: CPU + DB + waiting add up to the mean latency.
    (below_split,) = timesplit.split(load_run(copy / low.directory))
    assert below_split.cpu_ms > 0 and below_split.db_ms > 0
    assert below_split.cpu_ms + below_split.db_ms + below_split.waiting_ms == pytest.approx(
        below_split.latency_ms
    )
    assert f"Where the time goes at {low.rate:,.0f} req/s" in said

    # The report opens with the answer (before the charts), the full sentences behind a
    # disclosure there; README's Findings renderer states the phase and its sentences.
    analyse(copy)
    html = (copy / "report.html").read_text()
    charts_at = html.index('id="charts"')
    assert html.index('id="answer"') < charts_at
    assert html.index(str(html_escape(answer.sentences[0]))) < charts_at
    assert "Latency at equal offered load" in html[:charts_at]
    assert (copy / "charts" / "equal_load.png").is_file()
    assert (copy / "charts" / "db_time.png").is_file()
    lines = "\n".join(findings._default_section(copy, "results/sample"))
    assert "then the same open-model rate for every variant at 30 %, 300 %" in lines
    assert f"Latency at {low.rate:,.0f} req/s" in lines
    assert "results/sample/charts/equal_load.png" in lines


def valid_copy(run_dir: Path, to: Path) -> Path:
    """The run with every repetition counted valid: on a busy test machine the load generator
    may be judged saturated, which leaves answers out (tested elsewhere), not what is tested
    here."""
    shutil.copytree(run_dir, to)
    for meta in to.rglob("meta.json"):
        rec.save(meta.parent, rec.load(meta.parent).but(invalid_repetitions=[]))
    return to


@pytest.mark.parametrize("text", ["0", "3.5", "half", "0.5,-1"])
def test_bad_equal_load_fractions_are_one_sentence(text: str) -> None:
    with pytest.raises(UsageError, match="Equal-load fractions"):
        parse_fractions(text)
    assert cli.main(["run", "--equal-load", text]) == 2


def test_equal_load_off_and_where_it_applies() -> None:
    assert parse_fractions("off") == () and parse_fractions("0.8, 0.5") == (0.5, 0.8)
    quick = config.build("quick")
    assert quick.has_equal_load and quick.equal_load == (0.7,)
    assert not config.build("quick", equal_load=()).has_equal_load
    assert not config.build("quick", mode="rate", rate=100).has_equal_load
    assert not config.build("smoke").has_equal_load


def test_open_model_users_are_an_equal_share_per_loadgen_process(tmp_path: Path) -> None:
    """97 req/s wants 25 users (250 ms each); on 2 Locust processes it gets 26, so the arrival
    grid interleaves two equal shares; a rate-mode run given 25 users on 2 is refused."""
    two = config.build("smoke", variants=("fastapi",), loadgen_processes=2, out_dir=tmp_path)
    assert phase_config(two, 97.0, tmp_path).users == 26
    one = config.build("smoke", variants=("fastapi",), out_dir=tmp_path)
    assert phase_config(one, 97.0, tmp_path).users == 25
    with pytest.raises(UsageError, match="needs --users that divide among them, not 25"):
        config.build("smoke", variants=("fastapi",), mode="rate", rate=97.0, users=25,
                     loadgen_processes=2, out_dir=tmp_path)  # fmt: skip
