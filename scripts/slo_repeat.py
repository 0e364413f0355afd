#!/usr/bin/env python3
"""Does the SLO answer hold run after run? The same command, run again, against the sample.

Runs ``chatbench run --slo OBJECTIVE`` ``--runs`` times (default 2) and reads each run's answer
(``chatbench.analysing.slo``): every variant's bracket (the highest rate kept in every window,
up to the lowest rate missed in every window above it), whether it is stable and confirmed.
Two answers **agree** when their brackets overlap (the same rate can lie in both); a variant
without a stable answer in either run agrees with nothing. Each run is also held against the
committed sample (``results/sample``, when it searched the same objective). Saves
``results/slo/slo-repeat-<date>.json``, which docs/reading-the-report.md's generated block
renders (``chatbench findings --write README.md``).

Every run is kept under ``--keep`` (``results/slo-runs/<time>``, not committed), whether it
answered or not (an existing, non-empty ``--keep`` is refused). A run that is not comparable
(exit 3: a fairness rule failed, on this 2-core machine mostly ``loadgen_headroom``, a load
generator that fell behind) is tried again up to ``--retries`` times; every attempt that did
not answer is listed in the saved file with its exit code and last words, so a repetition
that needed a second attempt says so.

    .venv/bin/python scripts/slo_repeat.py --runs 2 --slo p99=50ms --profile tails

Check that the machine is quiet first (``cat /proc/loadavg``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import slo  # noqa: E402
from chatbench.errors import EXIT_NOT_COMPARABLE, UsageError  # noqa: E402
from chatbench.storing import record as rec  # noqa: E402
from chatbench.storing.atomic import write_json_atomic  # noqa: E402
from chatbench.storing.kept_runs import keep_directory  # noqa: E402

SLO_DIR = REPO_ROOT / "results" / "slo"
RUNS_DIR = REPO_ROOT / "results" / "slo-runs"  # git-ignored (results/*): every run kept

# (chatbench arguments, output directory) → (exit code, its last words)
Runner = Callable[[list[str], Path], tuple[int, str]]
SAMPLE = REPO_ROOT / "results" / "sample"


def brackets(run_dir: Path) -> dict[str, dict]:
    """variant → its bracket as a run answered it."""
    record = rec.load(run_dir)
    answer = slo.slo_answer(run_dir, record)
    out = {}
    for v in answer.variants if answer is not None else ():
        b = v.bracket
        high = None if v.at_ceiling else b.high
        out[v.variant] = {"low": b.low, "high": high, "stable": v.stable,
                          "confirmed": v.confirmed, "at_ceiling": v.at_ceiling,
                          "why_not": v.why_not}  # fmt: skip
    return out


def overlap(a: dict, b: dict) -> bool:
    """Two stable brackets can hold the same rate: [low, high) intervals intersect."""
    if not (a["stable"] and b["stable"]) or a["low"] is None or b["low"] is None:
        return False
    a_high = a["high"] if a["high"] is not None else float("inf")
    b_high = b["high"] if b["high"] is not None else float("inf")
    return a["low"] < b_high and b["low"] < a_high or a["low"] == b["low"]


def run_chatbench(arguments: list[str], out: Path) -> tuple[int, str]:
    """One ``chatbench run`` into ``out``: its exit code and the end of what it said."""
    done = subprocess.run(
        [str(REPO_ROOT / ".venv" / "bin" / "chatbench"), *arguments, "--out", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    said = (done.stdout[-1500:] + done.stderr[-1500:]).strip()
    return done.returncode, said


def _last_words(said: str) -> str:
    lines = [line.strip() for line in said.splitlines() if line.strip()]
    return lines[-1][:300] if lines else ""


def repeat(arguments: list[str], runs: int, retries: int, keep: Path,
           runner: Runner = run_chatbench) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """``runs`` answered runs (fewer when one failed past its retries), and every attempt that
    did not answer: {"run", "attempt", "exit_code", "directory", "said"}."""
    answered, failed = [], []
    for i in range(1, runs + 1):
        for attempt in range(1, retries + 2):
            out = keep / (f"run-{i}" + ("" if attempt == 1 else f"-attempt-{attempt}"))
            code, said = runner(arguments, out)
            dirs = sorted(d for d in out.iterdir() if d.is_dir()) if out.is_dir() else []
            if code == 0 and len(dirs) == 1:
                answered.append({"run_id": rec.load(dirs[0]).run_id,
                                 "directory": str(dirs[0]), "variants": brackets(dirs[0])})  # fmt: skip
                break
            failed.append({"run": i, "attempt": attempt, "exit_code": code,
                           "directory": str(dirs[0] if dirs else out), "said": _last_words(said)})  # fmt: skip
            sys.stderr.write(f"run {i}, attempt {attempt}: exit {code}, kept in {out}\n{said}\n")
            if code != EXIT_NOT_COMPARABLE:
                return answered, failed  # a fault of the harness or the command: stop
        else:
            return answered, failed
    return answered, failed


def agreements(runs: list[dict], sample: dict | None) -> list[dict]:
    """Every pair of answered runs, and the sample against each, per variant (a variant one
    of the two has no answer for does not agree)."""
    names = list(dict.fromkeys(name for r in runs for name in r["variants"]))
    pairs = [(f"run {i} and run {j}", a, b)
             for (i, a), (j, b) in itertools.combinations(enumerate(runs, 1), 2)]  # fmt: skip
    if sample is not None:
        pairs += [(f"the sample and run {i}", sample, a) for i, a in enumerate(runs, 1)]
    out = []
    for between, a, b in pairs:
        for name in names:
            x, y = a["variants"].get(name), b["variants"].get(name)
            out.append({"between": between, "variant": name,
                        "agree": x is not None and y is not None and overlap(x, y)})  # fmt: skip
    return out


def main(argv: list[str] | None = None, runner: Runner = run_chatbench) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--slo", default="p99=50ms")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--retries", type=int, default=1,
                        help="attempts more for a run that is not comparable (exit 3)")  # fmt: skip
    parser.add_argument("--profile", default="tails", help="windows long enough for the tail")
    parser.add_argument("--out", type=Path, default=SLO_DIR)
    parser.add_argument("--keep", type=Path, help="where every run is kept "
                        "(default results/slo-runs/<time>)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.runs < 2 or args.retries < 0:
        parser.error("--runs must be at least 2 (a repetition) and --retries at least 0")
    now = dt.datetime.now(dt.UTC)
    try:
        keep = keep_directory(args.keep, RUNS_DIR, now)
    except UsageError as e:
        parser.error(str(e))
    command = ["chatbench", "run", "--profile", args.profile, "--variants", args.variants,
               "--slo", args.slo, "--equal-load", "off"]  # fmt: skip
    runs, failed = repeat(command[1:], args.runs, args.retries, keep, runner)
    sample = None
    if (SAMPLE / "meta.json").is_file():
        record = rec.load(SAMPLE)
        if record.slo is not None and record.slo.objective == args.slo:
            sample = {"run_id": record.run_id, "variants": brackets(SAMPLE)}
    agreement = agreements(runs, sample)
    doc = {
        "kind": "chatbench-slo-repeat",
        "format_version": 1,
        "date": now.date().isoformat(),
        "command": " ".join(command),
        "objective": args.slo,
        "runs": [{k: v for k, v in r.items() if k != "directory"} for r in runs],
        "failed_attempts": [{k: v for k, v in f.items() if k != "directory"} for f in failed],
        "sample": sample,
        "agreement": agreement,
    }
    if len(runs) < 2:
        print(f"only {len(runs)} of {args.runs} runs answered; nothing saved (runs kept in {keep})")
        return 1
    path = args.out / f"slo-repeat-{doc['date']}.json"
    write_json_atomic(path, doc)
    for row in agreement:
        print(f"{row['variant']}: {row['between']}: {'agree' if row['agree'] else 'DO NOT agree'}")
    for f in failed:
        print(f"run {f['run']}, attempt {f['attempt']}: exit {f['exit_code']} ({f['said']})")
    print(f"saved {path} (runs kept in {keep})")
    return 0 if len(runs) == args.runs else 1


if __name__ == "__main__":
    raise SystemExit(main())
