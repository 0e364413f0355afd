#!/usr/bin/env python3
"""Do windows start from a service in steady state? Long windows, their first and last thirds.

Runs ``chatbench run`` in rate mode with long windows on the long-lived services a run starts
and settles (chatbench/measuring/live.py), then compares each window's first and last third
(``chatbench.analysing.steadiness``): p50 and p99 per third over the repetitions, each with its
95 % interval, and the paired last/first ratio. Saves the figures, the command and the machine
as ``results/steady/steady-<date>.json``, which docs/methodology.md's generated block renders
(``chatbench findings --write README.md``). The run itself is kept under ``--keep``
(``results/steady-runs/<time>``, not committed), whether it finished or not.

    .venv/bin/python scripts/steady_state.py --rate 350 --seconds 45 --repeat 3

Check that the machine is quiet first (``cat /proc/loadavg``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import steadiness  # noqa: E402
from chatbench.errors import UsageError  # noqa: E402
from chatbench.load.openloop import users_for  # noqa: E402
from chatbench.storing import record as rec  # noqa: E402
from chatbench.storing.atomic import write_json_atomic  # noqa: E402
from chatbench.storing.kept_runs import keep_directory  # noqa: E402

STEADY_DIR = REPO_ROOT / "results" / "steady"
RUNS_DIR = REPO_ROOT / "results" / "steady-runs"  # git-ignored (results/*): every run kept
BUDGET_S = 0.25  # the equal-load phase's latency budget (users = rate x budget)


def _estimate(est) -> list[float | None]:
    return [None if not math.isfinite(x) else round(x, 3) for x in (est.value, est.low, est.high)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--rate", type=float, default=350.0, help="open-model req/s, every variant")
    parser.add_argument("--seconds", type=float, default=45.0, help="each measured window")
    parser.add_argument("--repeat", type=int, default=3, help="windows per variant (n >= 3)")
    parser.add_argument("--out", type=Path, default=STEADY_DIR)
    parser.add_argument("--keep", type=Path, help="where the run is kept "
                        "(default results/steady-runs/<time>)")  # fmt: skip
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.UTC)
    try:
        keep = keep_directory(args.keep, RUNS_DIR, now)
    except UsageError as e:
        parser.error(str(e))
    users = users_for(args.rate, BUDGET_S)
    command = [
        "chatbench", "run", "--variants", args.variants, "--mode", "rate",
        "--rate", f"{args.rate:g}", "--users", str(users), "--warmup", "2",
        "--duration", f"{args.seconds:g}", "--repeat", str(args.repeat),
        "--equal-load", "off", "--out", str(keep),
    ]  # fmt: skip
    done = subprocess.run([str(REPO_ROOT / ".venv" / "bin" / "chatbench"), *command[1:]],
                          capture_output=True, text=True, check=False)  # fmt: skip
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
        sys.stderr.write(f"exit {done.returncode}; the run is kept in {keep}\n")
        return done.returncode
    (run_dir,) = [d for d in keep.iterdir() if d.is_dir()]
    record = rec.load(run_dir)
    found = steadiness.thirds(run_dir)
    compared = steadiness.agreements(found)
    doc = {
        "kind": "chatbench-steady-state",
        "format_version": 1,
        "date": now.date().isoformat(),
        "command": " ".join(command[:-2]),
        "git_sha": record.git.sha,
        "machine": f"{record.machine.cpu_model}, {record.machine.cpu_count} CPUs",
        "rate": args.rate,
        "seconds": args.seconds,
        "services": {k: v.dump() for k, v in (record.services or {}).items()},
        "windows": [
            {"variant": t.variant, "repetition": t.repetition, "first": t.first, "last": t.last,
             "first_requests": t.first_requests, "last_requests": t.last_requests,
             "pauses": (record.evidence.pauses[f"{t.variant}#{t.repetition}"].dump()
                        if f"{t.variant}#{t.repetition}" in record.evidence.pauses else None)}
            for t in found
        ],
        "thirds": [
            {"variant": a.variant, "metric": a.metric, "first": _estimate(a.first),
             "last": _estimate(a.last), "ratio": _estimate(a.ratio), "n": a.first.n,
             "agree": a.agree}
            for a in compared
        ],
    }  # fmt: skip
    path = args.out / f"steady-{doc['date']}.json"
    write_json_atomic(path, doc)
    for a in compared:
        verdict = "agree" if a.agree else "DO NOT agree"
        print(
            f"{a.variant} {a.metric}: first third {a.first.value:.1f} ms "
            f"[{a.first.low:.1f}–{a.first.high:.1f}], last {a.last.value:.1f} ms "
            f"[{a.last.low:.1f}–{a.last.high:.1f}], last/first {a.ratio.value:.2f}: {verdict}"
        )
    print(f"saved {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
