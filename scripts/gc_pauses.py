#!/usr/bin/env python3
"""When the services' full garbage collections run, and how long they pause: the evidence behind
the windows' lengths (chatbench/analysing/tails.py).

Every run records its services' pauses (each service's own hook, switched on by the harness:
``CHATBENCH_GC_LOG``, read by ``chatbench.serving.pauses``). This prints them for a run
directory, per serving process, against the run's measured windows: when each full collection
started (seconds from the service's start), how long it paused the process, and which window it
fell in. Without a run directory it first runs one: ``chatbench run`` in rate mode on the
long-lived, settled services.

    .venv/bin/python scripts/gc_pauses.py --variants django,fastapi --rate 450 --seconds 20
    .venv/bin/python scripts/gc_pauses.py results/<run-id>

Check that the machine is quiet first (``cat /proc/loadavg``): pauses stretch under other load.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.load.openloop import users_for  # noqa: E402
from chatbench.measuring.live import SERVICES_DIR  # noqa: E402
from chatbench.serving import pauses  # noqa: E402
from chatbench.storing import record as rec  # noqa: E402


def windows(run_dir: Path) -> dict[str, list[tuple[str, float, float]]]:
    """variant → (label, start, end) of every measured window of the run and its sub-runs."""
    out: dict[str, list[tuple[str, float, float]]] = {}
    for meta in sorted(run_dir.rglob("meta.json")):
        where = meta.parent.relative_to(run_dir).as_posix()
        for key, w in rec.load(meta.parent).evidence.windows.items():
            variant, _, rep = key.rpartition("#")
            label = f"{where + '/' if where != '.' else ''}#{rep}"
            out.setdefault(variant, []).append(
                (label, float(w.measure_start), float(w.measure_end))
            )
    return out


def report(run_dir: Path) -> str:
    lines = []
    spans = windows(run_dir)
    for service_dir in sorted((run_dir / SERVICES_DIR).iterdir()):
        log = pauses.read_pause_log(service_dir / "gc")
        name = service_dir.name
        lines.append(f"{name}: {len(log.pids)} serving process(es) recorded")
        for pid, proc in log.processes.items():
            t0 = proc.first_t
            shown = []
            for c in proc.full:
                inside = next((lb for lb, a, b in spans.get(name, []) if a <= c.t < b), "")
                shown.append(
                    f"+{c.t - t0:.1f} s {c.ms:.0f} ms" + (f" [{inside}]" if inside else "")
                )
            lines.append(f"  pid {pid}: {len(proc.full)} full — " + "; ".join(shown))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", nargs="?", type=Path, help="a run directory to read")
    parser.add_argument("--variants", default="django,fastapi")
    parser.add_argument("--rate", type=float, default=450.0, help="open-model req/s")
    parser.add_argument("--seconds", type=float, default=20.0, help="each measured window")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args(argv)
    if args.run_dir is not None:
        print(report(args.run_dir))
        return 0
    with tempfile.TemporaryDirectory(prefix="chatbench-gc-") as tmp:
        command = [
            str(REPO_ROOT / ".venv" / "bin" / "chatbench"), "run", "--variants", args.variants,
            "--mode", "rate", "--rate", f"{args.rate:g}",
            "--users", str(users_for(args.rate, 0.25)), "--warmup", "2",
            "--duration", f"{args.seconds:g}", "--repeat", str(args.repeat),
            "--equal-load", "off", "--allow-unfair", "--out", tmp,
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode not in (0, 3):  # 3: finished with a rule violated (allowed here)
            sys.stderr.write(done.stderr[-2000:])
            return done.returncode
        (run_dir,) = [d for d in Path(tmp).iterdir() if d.is_dir()]
        print(report(run_dir))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
