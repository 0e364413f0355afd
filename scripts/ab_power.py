#!/usr/bin/env python3
"""How good is the same-runner A/B gate? Detection rate, false alarms and time per check.

Runs ``chatbench check --base HEAD`` N times with no change and N times with a known slowdown
injected into the candidate side of one variant (the test-only ``CHATBENCH_BURN_US`` CPU burn),
alternating the two kinds so machine drift hits both alike. Both sides run HEAD's services
from clean worktrees, so the only difference between base and head is the injection.

The burn that costs ~``--slowdown`` of throughput is estimated from the variant's measured
CPU per request (``1e6 / req_per_cpu_s`` µs) unless ``--burn-us`` is given: a CPU-bound service
loses ``b / (c + b)`` of its throughput to a burn ``b`` on top of cost ``c``. A service that is
not quite CPU-bound absorbs part of a small burn in its idle time, so the estimate can fall
short (on the 2-core reference machine, fastapi under the ci profile: 100 µs cost 4.6 %,
230 µs about 20 %). The effective throughput change of every injected trial is printed and
summarised, so the figure is checked, not assumed: when it misses, rerun with ``--burn-us``.

    scripts/ab_power.py --trials 10                        # the real measurement (long!)
    scripts/ab_power.py --trials 1 --burn-us 3000 -- --profile smoke --repeat 2 --duration 1 \
        --min-repetitions 2                                # a plumbing check (seconds)

Arguments after ``--`` go to every ``chatbench check`` (profile, durations, variants, …).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench import ab  # noqa: E402

CHATBENCH = [sys.executable, "-m", "chatbench.cli"]


def run_check(extra: list[str], out: Path, repo: Path, env_args: list[str]) -> dict:
    """One A/B check as a subprocess; its exit code, duration and parsed check.json."""
    cmd = [
        *CHATBENCH, "check", "--base", "HEAD", "--repo", str(repo), "--out", str(out),
        "--history", str(out / "history.jsonl"), *env_args, *extra,
    ]  # fmt: skip
    start = time.monotonic()
    proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - start
    runs = [p for p in out.iterdir() if p.is_dir()] if out.is_dir() else []
    check = {}
    if runs and (runs[0] / "check.json").is_file():
        check = json.loads((runs[0] / "check.json").read_text())
    if proc.returncode not in (0, 1) or not check:
        sys.stderr.write(proc.stderr[-2000:])
    return {"code": proc.returncode, "seconds": seconds, "check": check}


def run_options(extra: list[str]) -> list[str]:
    """The load-shaping options of ``extra`` that `chatbench run` also takes."""
    keep = {"--profile", "--users", "--duration", "--warmup", "--server-cpus", "--loadgen-cpus"}
    out, it = [], iter(extra)
    for arg in it:
        name, eq, _ = arg.partition("=")
        if name in keep:
            out += [arg] if eq else [arg, next(it, "")]
    return out


def calibrate(variant: str, slowdown: float, extra: list[str], work: Path) -> int:
    """Burn µs per request that costs ``slowdown`` of throughput, from one short run."""
    out = work / "calibration"
    cmd = [*CHATBENCH, "run", "--variants", variant, "--repeat", "1", "--out", str(out)]
    cmd += run_options(extra)
    subprocess.run(cmd, cwd=REPO_ROOT, check=True, capture_output=True)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    rows = json.loads((run_dir / "summary.json").read_text())["rows"]
    per_cpu_s = next(
        r["value"] for r in rows if r["endpoint"] == "ALL" and r["metric"] == "req_per_cpu_s"
    )
    cost_us = 1e6 / per_cpu_s
    return max(1, round(cost_us * slowdown / (1 - slowdown)))


def rps_change(check: dict, variant: str) -> float | None:
    for f in check.get("findings", []):
        if f["variant"] == variant and f["endpoint"] == "ALL" and f["metric"] == "rps":
            return f["ratio"] - 1.0
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials of each kind")
    parser.add_argument("--variant", default="fastapi", help="variant that gets the slowdown")
    parser.add_argument("--slowdown", type=float, default=0.10, help="throughput loss to inject")
    parser.add_argument("--burn-us", type=int, help="µs of CPU per request (skip calibration)")
    parser.add_argument("extra", nargs="*", help="after --: arguments for chatbench check")
    args = parser.parse_args()
    if args.trials < 1 or not 0 < args.slowdown < 1:
        parser.error("--trials must be at least 1 and --slowdown between 0 and 1")

    with tempfile.TemporaryDirectory(prefix="chatbench-power-") as tmp:
        work = Path(tmp)
        with ab.worktree(REPO_ROOT, ab.resolve(REPO_ROOT, "HEAD")) as head_tree:
            burn = args.burn_us or calibrate(args.variant, args.slowdown, args.extra, work)
            print(f"injecting {burn} µs of CPU per request into {args.variant}@head", flush=True)
            results: dict[str, list[dict]] = {"none": [], "injected": []}
            for trial in range(1, args.trials + 1):
                for kind in ("none", "injected") if trial % 2 else ("injected", "none"):
                    env = (
                        ["--service-env", f"{args.variant}@head:CHATBENCH_BURN_US={burn}"]
                        if kind == "injected"
                        else []
                    )
                    out = work / f"{kind}-{trial}"
                    r = run_check(args.extra, out, head_tree, env)
                    results[kind].append(r)
                    change = rps_change(r["check"], args.variant)
                    print(
                        f"trial {trial} {kind:8s} exit {r['code']} in {r['seconds']:.0f} s; "
                        f"{args.variant} rps change "
                        f"{'–' if change is None else f'{change:+.1%}'}",
                        flush=True,
                    )

    def regressed(r: dict, variant: str | None = None) -> bool:
        found = [f for f in r["check"].get("findings", []) if f["outcome"] == "regression"]
        return any(variant is None or f["variant"] == variant for f in found)

    n = args.trials
    detected = sum(regressed(r, args.variant) for r in results["injected"])
    false_alarms = sum(r["code"] == 1 for r in results["none"])
    errors = sum(r["code"] not in (0, 1) for rs in results.values() for r in rs)
    times = [r["seconds"] for rs in results.values() for r in rs]
    changes = [c for r in results["injected"] if (c := rps_change(r["check"], args.variant))]
    print()
    print(f"detection rate : {detected}/{n} injected trials flagged {args.variant}")
    print(f"false alarms   : {false_alarms}/{n} trials without a change failed")
    print(f"failed checks  : {errors} (exit code other than 0/1)")
    print(
        f"time per check : mean {statistics.mean(times):.0f} s, max {max(times):.0f} s"
        if times
        else "time per check : –"
    )
    if changes:
        print(f"injected effect: median rps change {statistics.median(changes):+.1%}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
