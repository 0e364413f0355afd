#!/usr/bin/env python3
"""Cross-check Locust's throughput against wrk on one endpoint of one running variant.

Why: a load generator that is itself the bottleneck reports the server as slower than it is.
DESIGN.md asks that Locust's closed-loop throughput be within 5 % of an independent tool's on
the same endpoint, same connection count, same duration. This script starts one variant on an
embedded Postgres (seeded like a run), drives ``GET /api/chat/messages/{id}`` (random ids over
the seed: Locust's ``detail`` scenario, a Lua script for wrk) first with Locust, then with wrk,
and prints both req/s and the difference. It is a measurement, not a test: run it on a quiet
machine.

    .venv/bin/python scripts/wrk_crosscheck.py --variant fastapi --users 20 --duration 30
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench import cpuplan, loadgen, postgres, servers  # noqa: E402
from chatbench import serve as serve_mod  # noqa: E402
from chatbench import variants as variants_mod  # noqa: E402

DETAIL = "GET /api/chat/messages/{id}"
TOLERANCE_PCT = 5.0
WRK_SCRIPT = """
math.randomseed(%(seed)d)
request = function()
  return wrk.format("GET", "/api/chat/messages/" .. math.random(1, %(rows)d))
end
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="fastapi", help="variant to start (default fastapi)")
    parser.add_argument("--users", type=int, default=20, help="Locust users = wrk connections")
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds, each tool")
    parser.add_argument("--warmup", type=float, default=5.0, help="warm-up seconds, each tool")
    parser.add_argument("--seed-sessions", type=int, default=1000)
    parser.add_argument("--seed-messages", type=int, default=20)
    args = parser.parse_args(argv)
    if args.users < 1 or args.duration < 1 or args.warmup < 0:
        parser.error("--users and --duration must be at least 1, --warmup at least 0")
    try:
        variants_mod.get(args.variant)
    except Exception as exc:
        parser.error(str(exc))
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (apt-get install wrk)")
    return args


def run_wrk(url: str, *, connections: int, seconds: float, script: Path, cpus) -> float:
    """wrk's Requests/sec for one run: one thread (like one Locust process), pinned alike."""
    cmd = [
        "wrk", "-t", "1", "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
        "--latency", "-s", str(script), url,
    ]  # fmt: skip
    done = subprocess.run(
        servers.pinned_command(cmd, cpus),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=False,
    )
    match = re.search(r"Requests/sec:\s*([\d.]+)", done.stdout)
    if done.returncode != 0 or not match:
        raise SystemExit(f"wrk failed (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", done.stdout)
    if non_2xx:
        raise SystemExit(f"wrk saw {non_2xx.group(1)} error responses: the comparison is void")
    return float(match.group(1))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = cpuplan.make_plan()
    load_cpus = plan.loadgen if plan.pinned else None
    seed = postgres.SeedSpec(args.seed_sessions, args.seed_messages)
    rows = seed.sessions * seed.messages
    work = Path(tempfile.mkdtemp(prefix="chatbench-wrk-"))
    script = work / "detail.lua"
    script.write_text(WRK_SCRIPT % {"seed": 1, "rows": rows})
    spec = variants_mod.get(args.variant)

    with serve_mod.provisioned_server(None, seed) as server_url:
        db_url = postgres.clone_database(server_url, "cb_wrk_" + spec.name.replace("-", "_"))
        with servers.start_server(
            spec,
            database_url=db_url,
            port=postgres.free_port(),
            log_path=work / "service.log",
            cpus=plan.server if plan.pinned else None,
        ) as srv:
            print(f"{spec.name} at {srv.base_url}; {plan.note}")
            load = loadgen.LoadSpec(
                target_url=srv.base_url,
                scenario="detail",
                mode="closed",
                users=args.users,
                duration_s=args.duration,
                warmup_s=args.warmup,
                seed_sessions=seed.sessions,
                seed_messages=seed.messages,
                cpus=load_cpus,
            )
            print(f"Locust: {args.users} users, {args.warmup:g} s warm-up + {args.duration:g} s")
            result = loadgen.run_load(load, work / "locust")
            detail = result.measured["endpoints"][DETAIL]
            if detail["failures"]:
                raise SystemExit(f"Locust saw {detail['failures']} failures: comparison is void")
            locust_rps = detail["count"] / result.measured["duration_s"]

            print(
                f"wrk:    {args.users} connections, {args.warmup:g} s warm-up + {args.duration:g} s"
            )
            url = srv.base_url + "/api/chat/messages/1"
            if args.warmup:
                run_wrk(
                    url, connections=args.users, seconds=args.warmup, script=script, cpus=load_cpus
                )
            wrk_rps = run_wrk(
                url, connections=args.users, seconds=args.duration, script=script, cpus=load_cpus
            )
            srv.check_alive()

    diff_pct = 100.0 * (locust_rps - wrk_rps) / wrk_rps
    print()
    print(f"endpoint        {DETAIL} (random ids over {rows} seeded rows)")
    print(
        f"Locust req/s    {locust_rps:10.1f}   (generator CPU saturation {result.cpu_saturation:.0%})"
    )
    print(f"wrk req/s       {wrk_rps:10.1f}")
    print(f"difference      {diff_pct:+10.1f} %   (Locust vs wrk)")
    if abs(diff_pct) <= TOLERANCE_PCT:
        print(f"verdict         within {TOLERANCE_PCT:g} %: Locust is not the bottleneck")
        return 0
    cause = (
        "Locust's CPU was saturated: it is the bottleneck"
        if result.saturated
        else "Locust was not CPU-bound: was the machine busy? repeat on a quiet one"
    )
    print(f"verdict         more than {TOLERANCE_PCT:g} % apart; {cause}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
