#!/usr/bin/env python3
"""What the services' garbage-collection hook costs (impl_*/gcpauses.py, ``CHATBENCH_GC_LOG``).

Three figures, the first two without services:

1. the callback itself: ``gcpauses._on_collection`` called as the collector calls it (``start``
   then ``stop``), per young collection, timed with ``timeit``;
2. per collection, end to end: a fresh interpreter makes cyclic garbage so that only young
   collections run (each one frees what the previous ones left), in segments of ~90
   collections with the hook on and off alternating (ABBA), timed in thread CPU time; the
   difference per collection, median over ``--segments`` pairs (this includes what CPython
   does for any callback: build the info dict, call it twice);
3. per request, on the services (with ``--pairs`` above 0): each variant started twice on the
   same CPUs and clone data, with and without ``CHATBENCH_GC_LOG``, wrk (the chat request mix,
   one thread) driving them in ABBA windows so drift hits both alike; the throughput ratio
   on/off (geometric mean, paired t interval on the log ratios), and how many collections a
   request runs, read from the "on" service's own pause log over its windows.

    .venv/bin/python scripts/gc_hook_overhead.py --pairs 3 --seconds 3   # ~50 s of load
    .venv/bin/python scripts/gc_hook_overhead.py --pairs 0               # 1 and 2 only

Check that the machine is quiet first (``cat /proc/loadavg``): other load moves the windows
more than the hook does.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import timeit
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
from chatbench.serving import pauses, servers  # noqa: E402

SEED = SeedSpec(1000, 20, 42)  # the quick profile's seed

# Cyclic garbage only: every young collection frees the cycles made since the previous one, so
# nothing is promoted and full collections stay out of the figure. Segments of ~90 collections
# with the hook on and off alternate in one process (ABBA), timed in thread CPU time, so that
# neither drift nor other processes on the machine fall on one side only.
CHURN = """
import gc, statistics, sys, time
from impl_fastapi import gcpauses
gcpauses.install("default", sys.argv[1])
hook = gc.callbacks[-1]
def churn(n):
    for _ in range(n):
        a = []
        a.append(a)
def young():
    return sum(s["collections"] for s in gc.get_stats()[:2])
def segment(on):
    if on and hook not in gc.callbacks:
        gc.callbacks.append(hook)
    if not on and hook in gc.callbacks:
        gc.callbacks.remove(hook)
    full, before, t0 = gc.get_stats()[2]["collections"], young(), time.thread_time()
    churn(70_000)
    elapsed, count = time.thread_time() - t0, young() - before
    return elapsed / count * 1e6, gc.get_stats()[2]["collections"] - full, count
segment(False)
diffs, offs, fulls, counted = [], [], 0, 0
for k in range(int(sys.argv[2])):
    got = {}
    for on in (False, True) if k % 2 == 0 else (True, False):
        got[on], full, count = segment(on)
        fulls, counted = fulls + full, counted + count
    diffs.append(got[True] - got[False])
    offs.append(got[False])
print(statistics.median(diffs), statistics.median(offs), counted, fulls)
"""


def callback_cost_us(loops: int = 200_000) -> float:
    """µs per young collection spent in the callback itself (start + stop), direct calls."""
    from impl_fastapi import gcpauses

    info = {"generation": 0, "collected": 0, "uncollectable": 0}
    with tempfile.TemporaryDirectory(prefix="chatbench-gc-") as tmp:
        gcpauses._out = open(Path(tmp) / "gc-0.jsonl", "a", buffering=1)  # noqa: SIM115

        def both() -> None:
            gcpauses._on_collection("start", info)
            gcpauses._on_collection("stop", info)

        best = min(timeit.repeat(both, number=loops, repeat=5))
        gcpauses._out.close()
        gcpauses._out = None
    return best / loops * 1e6


def end_to_end_us(pairs: int) -> tuple[float, float, int, int]:
    """(µs per young collection with the hook minus without, median over ``pairs`` ABBA pairs
    of segments; µs per young collection of the churn without it; young collections timed;
    full collections among them)."""
    with tempfile.TemporaryDirectory(prefix="chatbench-gc-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", CHURN, tmp, str(pairs)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    extra, base, young, full = done.stdout.split()
    return float(extra), float(base), int(young), int(full)


def services(name: str, ready, plan: cpuplan.CpuPlan, work: Path, args: argparse.Namespace):
    """(rps off, rps on) per pair, and (collections, requests) of the "on" service's windows."""
    spec = variants.get(name)
    server_cpus = plan.server if plan.pinned else None
    load_cpus = plan.loadgen if plan.pinned else None
    script = work / f"{name}.lua"
    script.write_text(
        wrk_script(
            "chat",
            prefix=f"gc-{name}",
            users=args.connections,
            seed_sessions=SEED.sessions,
            seed_messages=SEED.messages,
        )
    )
    log_dir = work / f"{name}-gc"
    started = {}
    try:
        for mode in ("off", "on"):
            extra = {"CHATBENCH_GC_LOG": str(log_dir)} if mode == "on" else None
            started[mode] = servers.start_server(
                spec,
                database_url=ready.clone(database_name(name, f"gc_{mode}")),
                port=free_port(),
                log_path=work / f"{name}-{mode}.log",
                cpus=server_cpus,
                extra_env=extra,
            )
        windows: list[tuple[float, float]] = []
        requests_on = 0

        def window(mode: str) -> float:
            nonlocal requests_on
            began = time.time()
            result = run_wrk(
                started[mode].base_url,
                connections=args.connections,
                seconds=args.seconds,
                script=script,
                cpus=load_cpus,
                yield_cpu=plan.loadgen_yields,
            )
            if mode == "on":
                windows.append((began, time.time()))
                requests_on += result.requests
            return result.rps

        window("off"), window("on")  # warm-up, not counted
        windows.clear()
        requests_on = 0
        pairs = []
        for k in range(args.pairs):
            order = ("off", "on") if k % 2 == 0 else ("on", "off")
            got = {mode: window(mode) for mode in order}
            pairs.append((got["off"], got["on"]))
            print(
                f"  {name} pair {k + 1}: off {got['off']:.1f} req/s, on {got['on']:.1f} req/s, "
                f"on/off {got['on'] / got['off']:.4f}",
                flush=True,
            )
        log = pauses.read_pause_log(log_dir)
        held = [pauses.summarise(log, a, b) for a, b in windows]
        young = sum(w.young_count for w in held)
        full = sum(w.full_count for w in held)
        return pairs, (young, full, requests_on)
    finally:
        for server in started.values():
            server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--pairs", type=int, default=3, help="ABBA pairs per variant; 0: none")
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--segments", type=int, default=100, help="end-to-end ABBA pairs")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args(argv)
    with open("/proc/loadavg") as fh:
        print(f"load average before: {fh.read().split()[:3]}")
    print(f"1. the callback, called directly: {callback_cost_us():.2f} µs per young collection")
    extra, base, young, full = end_to_end_us(args.segments)
    print(
        f"2. end to end: {extra:+.2f} µs per young collection (median of {args.segments} pairs "
        f"of segments, {young} young and {full} full collections; the churn costs {base:.1f} µs "
        "per young collection without the hook, its collection included)"
    )
    if args.pairs <= 0:
        return 0
    plan = cpuplan.make_plan(None, None)
    print(plan.note)
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-gc-") as tmp,
        provision(
            SEED,
            database_url=args.database_url,
            postgres_cpus=plan.loadgen if plan.pinned else None,
            drop_clones=True,
        ) as ready,
    ):
        for name in args.variants.split(","):
            pairs, (young, full, requests) = services(name, ready, plan, Path(tmp), args)
            est, p = stats.paired_ratio([a for a, _ in pairs], [b for _, b in pairs])
            print(
                f"3. {name}: throughput with the log / without = {est.value:.4f} "
                f"[{est.low:.4f}–{est.high:.4f}] ({stats.METHOD_TEXT[est.method]}; "
                f"n = {est.n} pairs of {args.seconds:g} s, p = {p:.3g}); "
                f"{young / max(1, requests):.2f} young collections per request over {requests} "
                f"requests ({full} full) → {extra * young / max(1, requests):.2f} µs of hook "
                "per request"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
