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

    .venv/bin/python scripts/slo_repeat.py --runs 2 --slo p99=50ms --profile tails

Check that the machine is quiet first (``cat /proc/loadavg``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import slo  # noqa: E402
from chatbench.storing import record as rec  # noqa: E402
from chatbench.storing.atomic import write_json_atomic  # noqa: E402

SLO_DIR = REPO_ROOT / "results" / "slo"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--slo", default="p99=50ms")
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--profile", default="tails", help="windows long enough for the tail")
    parser.add_argument("--out", type=Path, default=SLO_DIR)
    args = parser.parse_args(argv)
    command = ["chatbench", "run", "--profile", args.profile, "--variants", args.variants,
               "--slo", args.slo, "--equal-load", "off"]  # fmt: skip
    runs = []
    with tempfile.TemporaryDirectory(prefix="chatbench-slo-") as tmp:
        for i in range(args.runs):
            out = Path(tmp) / f"run-{i + 1}"
            done = subprocess.run(
                [str(REPO_ROOT / ".venv" / "bin" / "chatbench"), *command[1:], "--out", str(out)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                sys.stderr.write(done.stdout[-3000:] + done.stderr[-3000:])
                return done.returncode
            (run_dir,) = [d for d in out.iterdir() if d.is_dir()]
            runs.append({"run_id": rec.load(run_dir).run_id, "variants": brackets(run_dir)})
    sample = None
    if (SAMPLE / "meta.json").is_file():
        record = rec.load(SAMPLE)
        if record.slo is not None and record.slo.objective == args.slo:
            sample = {"run_id": record.run_id, "variants": brackets(SAMPLE)}
    names = list(runs[0]["variants"])
    agreement = []
    for (i, a), (j, b) in itertools.combinations(enumerate(runs, 1), 2):
        for name in names:
            agreement.append({"between": f"run {i} and run {j}", "variant": name,
                              "agree": overlap(a["variants"][name], b["variants"][name])})  # fmt: skip
    if sample is not None:
        for i, a in enumerate(runs, 1):
            for name in names:
                if name in sample["variants"]:
                    agreement.append({"between": f"the sample and run {i}", "variant": name,
                                      "agree": overlap(sample["variants"][name], a["variants"][name])})  # fmt: skip
    doc = {
        "kind": "chatbench-slo-repeat",
        "format_version": 1,
        "date": dt.datetime.now(dt.UTC).date().isoformat(),
        "command": " ".join(command),
        "objective": args.slo,
        "runs": runs,
        "sample": sample,
        "agreement": agreement,
    }
    path = args.out / f"slo-repeat-{doc['date']}.json"
    write_json_atomic(path, doc)
    for row in agreement:
        print(f"{row['variant']}: {row['between']}: {'agree' if row['agree'] else 'DO NOT agree'}")
    print(f"saved {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
