#!/usr/bin/env python3
"""What py-spy costs a service's throughput: windows with and without it, interleaved.

``chatbench run --cpu-profile`` profiles a dedicated extra repetition rather than the measured
ones; this is the measurement behind that choice (docs/cpu-profile.md). For each variant: one
service on the service CPUs of the run's CPU plan, its own clone of a seeded template, and wrk
(one thread, the chat request mix, pinned like the load generator) driving it for ``--pairs``
pairs of ``--seconds`` windows, in ABBA order (off on, on off, …) so drift hits both alike.
In an "on" window py-spy samples the service exactly as a profiled repetition does
(``chatbench.serving.profiler``: same command, pinned to the load generator's CPUs). Each
pair's ratio on/off is one value; the result is their geometric mean with the paired t
interval on the log ratios (``stats.paired_ratio``).

    .venv/bin/python scripts/profile_overhead.py --variants django,fastapi --pairs 6
    .venv/bin/python scripts/profile_overhead.py --variants fastapi --pairs 2 --seconds 2  # plumbing

Check that the machine is quiet first (``cat /proc/loadavg``; ``ps``): other load moves the
windows more than py-spy does.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import stats  # noqa: E402
from chatbench.configuration import variants  # noqa: E402
from chatbench.measuring.wrk import run_wrk, wrk_script  # noqa: E402
from chatbench.provisioning import cpuplan  # noqa: E402
from chatbench.provisioning.ports import free_port  # noqa: E402
from chatbench.provisioning.provision import database_name, provision  # noqa: E402
from chatbench.provisioning.seed import SeedSpec  # noqa: E402
from chatbench.serving import profiler, servers  # noqa: E402

SEED = SeedSpec(1000, 20, 42)  # the quick profile's seed


def measure(name: str, ready, plan: cpuplan.CpuPlan, work: Path, args: argparse.Namespace) -> list[tuple[float, float]]:  # fmt: skip
    """(rps off, rps on) per pair, for one variant."""
    spec = variants.get(name)
    url = ready.clone(database_name(name, "overhead"))
    server_cpus = plan.server if plan.pinned else None
    load_cpus = plan.loadgen if plan.pinned else None
    script = work / f"{name}.lua"
    script.write_text(wrk_script("chat", prefix=f"ov-{name}", users=args.connections,
                                 seed_sessions=SEED.sessions, seed_messages=SEED.messages))  # fmt: skip
    pairs: list[tuple[float, float]] = []
    with servers.start_server(spec, database_url=url, port=free_port(), log_path=work / f"{name}.log",
                              cpus=server_cpus) as server:  # fmt: skip

        def window(profiled: bool, k: int) -> float:
            with contextlib.ExitStack() as stack:
                if profiled:
                    stack.enter_context(profiler.start(
                        server.pid, work / f"{name}-{k}.txt", cpus=load_cpus))  # fmt: skip
                result = run_wrk(server.base_url, connections=args.connections,
                                 seconds=args.seconds, script=script, cpus=load_cpus,
                                 yield_cpu=plan.loadgen_yields)  # fmt: skip
            return result.rps

        window(False, 0)  # warm-up, not counted
        for k in range(args.pairs):
            order = (False, True) if k % 2 == 0 else (True, False)
            got = {profiled: window(profiled, k) for profiled in order}
            pairs.append((got[False], got[True]))
            print(f"  {name} pair {k + 1}: off {got[False]:.1f} req/s, on {got[True]:.1f} req/s, "
                  f"on/off {got[True] / got[False]:.4f}", flush=True)  # fmt: skip
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    plan = cpuplan.make_plan(None, None)
    with open("/proc/loadavg") as fh:
        print(f"load average before: {fh.read().split()[:3]}; {plan.note}")
    print(f"py-spy: {' '.join(profiler.command('PID', Path('FILE')))}")
    with tempfile.TemporaryDirectory(prefix="chatbench-overhead-") as tmp, provision(
        SEED, database_url=args.database_url, postgres_cpus=plan.loadgen if plan.pinned else None,
        drop_clones=True,
    ) as ready:  # fmt: skip
        for name in args.variants.split(","):
            pairs = measure(name, ready, plan, Path(tmp), args)
            est, p = stats.paired_ratio([a for a, _ in pairs], [b for _, b in pairs])
            print(f"{name}: throughput with py-spy / without = {est.value:.4f} "
                  f"[{est.low:.4f}–{est.high:.4f}] ({stats.METHOD_TEXT[est.method]}; "
                  f"n = {est.n} pairs of {args.seconds:g} s, p = {p:.3g}); "
                  f"overhead {100 * (1 - est.value):.1f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
