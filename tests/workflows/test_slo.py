"""Capacity under a latency objective (``chatbench run --slo``): the objective's parsing, its
refusal before load, and a short real search on a service of known capacity. The search's
steps and the answer's bracket are tested without load (tests/workflows/phases/test_slo.py,
tests/analysing/test_slo.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbench import cli
from chatbench.analysing import slo as slo_answer
from chatbench.analysing.answers import run_answer
from chatbench.configuration import settings as config
from chatbench.configuration import variants
from chatbench.configuration.profiles import parse_slo, slo_parts
from chatbench.configuration.settings import spawn_rate_for
from chatbench.errors import UsageError
from chatbench.load import latency, openloop
from chatbench.load import locust as loadgen
from chatbench.load.openloop import users_for
from chatbench.presenting import charts
from chatbench.provisioning import cpuplan, ports
from chatbench.serving import servers
from chatbench.storing import record as rec
from chatbench.storing.rundir import load_run
from chatbench.workflows import bench
from chatbench.workflows.phases.equal_load import LATENCY_BUDGET_S


def test_objectives_parse_to_one_canonical_form() -> None:
    assert parse_slo("p99=50ms") == "p99=50ms"
    assert parse_slo(" P99.9 = 20.5ms ") == "p99.9=20.5ms"
    assert slo_parts("p95=8ms") == (95.0, 8.0)


@pytest.mark.parametrize("text", ["p99=50", "p99<50ms", "p100=5ms", "p40=5ms", "p99=0ms", "x"])
def test_a_bad_objective_is_one_sentence_and_exit_2(text: str) -> None:
    with pytest.raises(UsageError, match="latency objective"):
        parse_slo(text)
    assert cli.main(["run", "--slo", text]) == 2


def test_an_objective_needs_a_closed_loop_capacity_to_start_from() -> None:
    with pytest.raises(UsageError, match="--slo"):
        config.build("smoke", mode="rate", rate=100, slo="p99=50ms")


def test_an_objective_no_window_can_hold_is_refused_before_any_load(tmp_path: Path) -> None:
    """p99.9 needs 10,000 requests in a window; windows of at most 1 s at the load generator's
    5,000 req/s hold half that: refused in one sentence, exit 2, nothing started."""
    with pytest.raises(UsageError, match=r"p99\.9 needs 10,000 requests per window"):
        config.build("smoke", slo="p99.9=50ms", window_max_s=1.0, equal_load_duration_s=1.0)
    profile = tmp_path / "short.toml"
    profile.write_text("equal_load_duration = 1\nwindow_max = 1\nwarmup = 1\nduration = 2\n")
    assert cli.main(["run", "--profile", str(profile), "--slo", "p99.9=50ms",
                     "--out", str(tmp_path / "out")]) == 2  # fmt: skip
    assert not (tmp_path / "out").exists()


PROFILE = """\
scenario = "chat"
mode = "closed"
users = 4
warmup = 1
duration = 2
repeat = 1
processes = 1
settle = 0
equal_load_warmup = 0.5
equal_load_duration = 1.5
window_max = 2
"""
BURN_US = 5000
OBJECTIVE_MS = 30.0


def test_the_search_brackets_an_independently_swept_slo_capacity(
    pg_server_url: str, clone_db, tmp_path: Path
) -> None:
    """fastapi slowed by 5 ms of CPU per request: its p50 ≤ 30 ms capacity (the median: a
    window need not hold a pause cycle for it, so 1½–2 s windows do), bracketed by one search
    and its confirmations, lies within 10 % of the bracket a fixed sweep of rates (Locust
    rate-mode windows on a service of its own) measures; every recorded step's outcome is the
    one its value and the objective give."""
    profile = tmp_path / "tiny.toml"
    profile.write_text(PROFILE)
    burn = {"CHATBENCH_BURN_US": str(BURN_US)}
    cfg = config.build(str(profile), out_dir=tmp_path / "search", slo=f"p50={OBJECTIVE_MS:g}ms",
                       variants=("fastapi",), database_url=pg_server_url, allow_unfair=True,
                       service_env={"fastapi": burn})  # fmt: skip
    outcome = bench.run(cfg, report=False)
    record = rec.load(outcome.run_dir)
    section = record.slo
    assert section is not None and section.objective == "p50=30ms"
    capacity = section.capacities["fastapi"]
    steps = [s for s in section.steps if s.variant == "fastapi"]
    assert {s.phase for s in steps} <= {"search", "confirm"} and steps[0].phase == "search"
    for s in steps:
        if s.overloaded:
            assert s.outcome == slo_answer.MISSED
        elif s.outcome != slo_answer.NOT_MEASURED:
            assert s.outcome == (
                slo_answer.KEPT if s.value_ms <= OBJECTIVE_MS else slo_answer.MISSED
            )
    answer = slo_answer.slo_answer(outcome.run_dir, record)
    assert answer is not None
    (found,) = answer.variants
    b = found.bracket
    assert b.low is not None and 0 < b.low <= capacity, (b, steps)

    # The independent answer: a fixed sweep of rates, each a Locust rate-mode window of its own
    # (½ s warm-up, 1½ s measured) on a service of its own, pinned as a run pins both. (The same
    # generator as the search: the open-model generator measures a lower p50 than Locust on
    # this service, a disagreement the run's --open-crosscheck reports.)
    plan = cpuplan.make_plan()

    def pinned(cpus: tuple[int, ...]) -> tuple[int, ...] | None:
        return cpus if plan.pinned else None

    server = servers.start_server(
        variants.get("fastapi"), database_url=clone_db("t_slo_sweep"), port=ports.free_port(),
        log_path=tmp_path / "sweep-service.log", cpus=pinned(plan.server), extra_env=burn,
    )  # fmt: skip
    sweep = {}
    try:
        for fraction in (0.4, 0.6, 0.75, 0.9, 1.0):
            rate = round(fraction * capacity)
            users = users_for(rate, LATENCY_BUDGET_S)
            spec = loadgen.LoadSpec(
                server.base_url, mode="rate", rate=rate, users=users,
                spawn_rate=spawn_rate_for(users, users, 0.5, "rate"),  # all started in warm-up
                warmup_s=0.5, duration_s=1.5, cpus=pinned(plan.loadgen),
                yield_cpu=plan.loadgen_yields,
            )  # fmt: skip
            doc = loadgen.run_load(spec, tmp_path / f"sweep-{rate}").measured
            p50 = latency.percentiles(doc.all_endpoints_histogram(), [50])[50]
            kept = openloop.verdict(doc)
            sweep[rate] = kept is not None and not kept.overloaded and p50 <= OBJECTIVE_MS
        server.check_alive()
    finally:
        server.stop()
    # The sweep brackets the SLO capacity: the last rate that held before the first that did
    # not, and the lowest failed rate above which nothing held (a busy test machine makes a
    # single sweep window swing too), or the closed-loop capacity when every rate held.
    rates = sorted(sweep)
    first_fail = next((r for r in rates if not sweep[r]), None)
    lower = max(
        (r for r in rates if sweep[r] and (first_fail is None or r < first_fail)), default=0
    )
    upper = min(
        (r for r in rates if not sweep[r] and not any(sweep[q] for q in rates if q > r)),
        default=capacity,
    )
    print(f"SLO bracket {b}; sweep {sweep}; closed-loop capacity {capacity:g}")
    assert lower > 0, sweep
    said = " ".join(run_answer(outcome.run_dir).sentences)
    assert "Capacity at p50 ≤ 30 ms" in said
    if b.swing is None:
        assert 0.9 * lower <= b.low <= 1.1 * upper, (b, sweep)
        assert "fastapi holds" in said
    else:  # missed below a kept rate at the knee: the answer says so and its range holds the sweep's
        assert b.high is not None and 0.9 * lower <= b.high and b.low <= 1.1 * upper, (b, sweep)
        assert "no stable answer" in said and "fastapi holds" not in said
    assert charts.draw_chart(load_run(outcome.run_dir), "slo")[0].name == "slo.png"
