#!/usr/bin/env python3
"""Offer open-model load with the open-model generator (``chatbench.load.openmodel``) to one
long-lived service, at each rate in turn, and print its latency, the schedule it kept and the
generator's own CPU: how the generator's figures are taken by hand, and whether it has headroom
at a rate (its CPU well under one core, no sends behind schedule).

The service runs as a run starts it: embedded Postgres seeded like a run, the variant started
pinned to the service CPUs (``taskset``, so every thread it makes is), Postgres and the
generator on the others, the generator under SCHED_IDLE (``cpuplan``). After the last rate, the
rows the service wrote are compared with the generator's successful creates.

    .venv/bin/python scripts/openmodel_probe.py --variant fastapi --rates 500,1000 \\
        --warmup 3 --seconds 10

With ``--with-locust``, each rate is also offered by Locust's rate mode (the instrument of a
run's equal-load and SLO windows), right after the generator, on the same service: the two
generators' figures side by side; ``--arrivals`` (even, the default, or poisson) is both
generators' arrival process (``loadtests/arrivals.py``). ``--burn-us`` adds the test-only CPU
burn to every request.

Check that the machine is quiet first (``cat /proc/loadavg``): figures stretch under other load.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import tempfile
from pathlib import Path

from chatbench.configuration import variants
from chatbench.configuration.settings import ARRIVALS, DEFAULT_ARRIVALS, RunConfig, spawn_rate_for
from chatbench.errors import ChatbenchError
from chatbench.load import latency, openloop, openmodel
from chatbench.load import locust as loadgen
from chatbench.provisioning import cpuplan, postgres
from chatbench.provisioning.ports import free_port
from chatbench.provisioning.provision import database_name, provision
from chatbench.provisioning.seed import SeedSpec
from chatbench.serving import servers

HEADER = (
    f"{'rate':>6} {'achieved':>8} {'p50 ms':>7} {'p99 ms':>7} {'p99.9':>7} {'max ms':>7} "
    f"{'behind':>6} {'dropped':>7} {'lag p99':>7} {'gen CPU':>7} {'CPU set':>7}"
)


def _ms(x: float | None) -> str:
    return "-" if x is None or not math.isfinite(x) else f"{x:.2f}"


def line(result: openmodel.OpenModelResult) -> str:
    p = result.percentiles((50, 99, 99.9))
    return (
        f"{result.spec.rate:>6g} {result.achieved_rate:>8.1f} {_ms(p[50]):>7} {_ms(p[99]):>7} "
        f"{_ms(p[99.9]):>7} {result.histogram.get_max_value() / 1000:>7.1f} "
        f"{result.behind_schedule:>6} {result.dropped:>7} {_ms(result.send_lag.p99_ms):>7} "
        f"{result.cpu_percent:>6.0f}% {result.cpu_set.busiest_pct:>6.0f}%"
        + ("  OVERLOADED" if result.overloaded else "")
    )


def locust_line(spec: loadgen.LoadSpec, result: loadgen.LoadResult) -> str:
    """Locust's figures in the generator's columns (its own CPU is not sampled: "-")."""
    doc = result.measured
    histogram = doc.all_endpoints_histogram()
    p = latency.percentiles(histogram, [50, 99, 99.9])
    kept = openloop.verdict(doc)
    achieved = kept.achieved_rate if kept is not None else math.nan
    dropped = kept.dropped if kept is not None else 0
    return (
        f"{spec.rate:>6g} {achieved:>8.1f} {_ms(p[50]):>7} {_ms(p[99]):>7} {_ms(p[99.9]):>7} "
        f"{histogram.get_max_value() / 1000:>7.1f} "
        f"{doc.behind_schedule:>6} {dropped:>7} {'-':>7} {'-':>7} {'-':>7}  locust"
        + ("  OVERLOADED" if kept is not None and kept.overloaded else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="fastapi")
    parser.add_argument("--rates", default="500,1000", help="req/s, comma-separated")
    parser.add_argument("--scenario", default="chat", choices=openmodel.SCENARIOS)
    parser.add_argument("--arrivals", default=DEFAULT_ARRIVALS, choices=ARRIVALS,
                        help="both generators' arrival process (loadtests/arrivals.py)")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured window per rate")
    parser.add_argument("--connections", type=int, default=None, help="default: rate x 0.25 s")
    parser.add_argument("--server-cpus", default=None)
    parser.add_argument("--loadgen-cpus", default=None)
    parser.add_argument(
        "--normal-priority",
        action="store_true",
        help="the generator at normal priority, not SCHED_IDLE (on a machine others load, an "
        "idle-priority generator waits for their processes)",
    )
    parser.add_argument(
        "--with-locust",
        action="store_true",
        help="also offer each rate with Locust's rate mode, on the same service",
    )
    parser.add_argument(
        "--burn-us",
        type=int,
        default=0,
        help="CPU microseconds the service burns per request (test-only)",
    )
    args = parser.parse_args(argv)
    try:
        rates = [float(r) for r in args.rates.split(",") if r.strip()]
        plan = cpuplan.make_plan(args.server_cpus, args.loadgen_cpus)
        if args.normal_priority:
            plan = dataclasses.replace(plan, yield_loadgen=False)
        defaults = RunConfig()
        seed = SeedSpec(defaults.seed_sessions, defaults.seed_messages)
        spec = variants.get(args.variant)
        policy = "SCHED_IDLE" if plan.loadgen_yields else "normal priority"
        print(f"{args.variant}: {plan.note}; generator under {policy}")
        with (
            tempfile.TemporaryDirectory(prefix="chatbench-openmodel-") as tmp,
            provision(seed, postgres_cpus=plan.loadgen if plan.pinned else None) as ready,
        ):
            work = Path(tmp)
            db_url = ready.clone(database_name(args.variant, "om"))
            with servers.start_server(
                spec,
                database_url=db_url,
                port=free_port(),
                log_path=work / "service.log",
                cpus=plan.server if plan.pinned else None,
                extra_env={"CHATBENCH_BURN_US": str(args.burn_us)} if args.burn_us else None,
            ) as srv:
                before = postgres.row_count(db_url)
                creates = unfinished = 0  # Locust may stop with creates in flight
                print(HEADER)
                for i, rate in enumerate(rates):
                    result = openmodel.run_open_model(
                        openmodel.OpenModelSpec(
                            srv.base_url,
                            scenario=args.scenario,
                            rate=rate,
                            arrivals=args.arrivals,
                            connections=args.connections,
                            warmup_s=args.warmup,
                            duration_s=args.seconds,
                            seed=i + 1,
                            seed_sessions=seed.sessions,
                            seed_messages=seed.messages,
                            cpus=plan.loadgen if plan.pinned else None,
                            yield_cpu=plan.loadgen_yields,
                        ),
                        work / f"rate-{i}",
                    )
                    creates += result.successful_creates_total
                    print(line(result) + ("  open-model" if args.with_locust else ""), flush=True)
                    if args.with_locust:
                        users = args.connections or openloop.users_for(
                            rate, openmodel.CONNECTION_BUDGET_S
                        )
                        lspec = loadgen.LoadSpec(
                            srv.base_url, scenario=args.scenario, mode="rate", rate=rate,
                            arrivals=args.arrivals,
                            users=users, warmup_s=args.warmup, duration_s=args.seconds,
                            spawn_rate=spawn_rate_for(users, users, args.warmup, "rate"),
                            seed_sessions=seed.sessions, seed_messages=seed.messages,
                            cpus=plan.loadgen if plan.pinned else None,
                            yield_cpu=plan.loadgen_yields,
                        )  # fmt: skip
                        lresult = loadgen.run_load(lspec, work / f"locust-{i}")
                        creates += lresult.measured.successful_creates_total
                        unfinished += lresult.measured.unfinished_creates
                        print(locust_line(lspec, lresult), flush=True)
                    srv.check_alive()
                rows = postgres.row_count(db_url) - before
        verdict = "equal" if rows == creates else "NOT EQUAL"
        if rows != creates and creates <= rows <= creates + unfinished:
            verdict = f"equal but for {rows - creates} of {unfinished} creates in flight at a stop"
        print(f"rows written {rows}, successful creates {creates}: {verdict}")
    except ChatbenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
