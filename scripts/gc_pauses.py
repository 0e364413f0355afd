#!/usr/bin/env python3
"""When the services' full garbage collections run, and how long they pause: the evidence behind
the open-model windows' closed-loop warm-up (docs/reading-the-report.md, "Capacity under a
latency objective").

It runs ``chatbench run`` in rate mode with every service process importing a ``sitecustomize``
(through ``--service-env VARIANT:PYTHONPATH=…``) that records each generation-2 collection
(``gc.callbacks``): when it ended (wall clock) and how long it paused the process. Then it prints
them per process against the repetition's own window (``requests.json``): in the warm-up, in the
measured window, or after it. The harness itself is unchanged; only the measured services carry
the hook, so their figures are the services' own.

    .venv/bin/python scripts/gc_pauses.py --variants django,fastapi --rate 250 --seconds 20

Check that the machine is quiet first (``cat /proc/loadavg``): pauses stretch under other load.
A process's last collection can be the one Python runs as it exits; a gunicorn master runs none
while it serves.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from chatbench.load import latency

REPO_ROOT = Path(__file__).resolve().parent.parent
HOOK = """
import gc, os, time
_began = {}
def _chatbench_gc(phase, info):
    if phase == "start":
        _began[info["generation"]] = time.perf_counter()
    elif info["generation"] == 2:
        ms = (time.perf_counter() - _began.get(2, time.perf_counter())) * 1000
        with open(os.path.join(%(out)r, "gc-%%d.log" %% os.getpid()), "a") as fh:
            fh.write("%%.6f %%.1f %%d\\n" %% (time.time(), ms, info["collected"]))
gc.callbacks.append(_chatbench_gc)
"""


def where(t: float, window: tuple[float, float]) -> str:
    """``+1.2 s (window)``: a moment against the measured window."""
    start, end = window
    if t < start:
        return f"{t - start:+.1f} s (before it)"
    return f"{t - start:+.1f} s (window)" if t < end else f"{t - end:+.1f} s after the window"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--rate", type=float, default=250.0, help="open-model req/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured window")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up (closed-loop from 1 s)")
    args = parser.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    with tempfile.TemporaryDirectory(prefix="chatbench-gc-") as tmp:
        work = Path(tmp)
        for name in variants:
            hook_dir = work / name
            hook_dir.mkdir()
            (hook_dir / "sitecustomize.py").write_text(HOOK % {"out": str(hook_dir)})
        command = [
            str(REPO_ROOT / ".venv" / "bin" / "chatbench"), "run", "--variants", ",".join(variants),
            "--mode", "rate", "--rate", f"{args.rate:g}", "--users", str(max(2, int(args.rate / 4))),
            "--warmup", f"{args.warmup:g}", "--duration", f"{args.seconds:g}", "--repeat", "1",
            "--equal-load", "off", "--allow-unfair", "--out", str(work / "results"),
        ]  # fmt: skip
        for name in variants:
            command += ["--service-env", f"{name}:PYTHONPATH={work / name}"]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 3):  # 3: finished with a rule violated (allowed here)
            sys.stderr.write(done.stderr[-2000:])
            return done.returncode
        for name in variants:
            (doc_path,) = (work / "results").glob(f"*/raw/{name}/rep-1/requests.json")
            doc = latency.read_requests(doc_path)
            window = (doc.measure_start, doc.measure_end)
            logs = sorted((work / name).glob("gc-*.log"))
            print(f"{name}: {len(logs)} process(es) ran the hook; times from the window's start")
            for log in logs:
                rows = [line.split() for line in log.read_text().splitlines()]
                inside = [r for r in rows if window[0] <= float(r[0]) < window[1]]
                shown = "; ".join(
                    f"{where(float(t), window)}: {float(ms):.0f} ms" for t, ms, _ in rows
                )
                print(f"  pid {log.stem[3:]}: {len(inside)} of {len(rows)} in the window — {shown}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
