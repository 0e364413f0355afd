"""Before a run starts anything: the machine surveyed (``provisioning.leftovers``), the
findings recorded in meta.json's ``preflight`` and said as warnings (the report lists them)."""

from __future__ import annotations

from chatbench.measuring.watch import Progress
from chatbench.provisioning import cpuplan, leftovers
from chatbench.storing import record as rec
from chatbench.storing.recording import Recorder


def look_before(plan: cpuplan.CpuPlan, recorder: Recorder, progress: Progress) -> None:
    """Leftovers of earlier runs and busy processes on the planned CPUs, before anything starts:
    recorded (``preflight``) and warned about; what is provably ours and dead is cleaned."""
    progress.phase("looking for leftovers of earlier runs and busy CPUs")
    found = leftovers.survey({*plan.server, *plan.loadgen})
    cleaned = leftovers.clean(found)
    stale = [x for x in found.leftovers if x.kind == "directory"]
    for item in found.leftovers:
        if item.kind != "directory":  # running things one by one; stale directories in sum
            done = "cleaned up" if item in cleaned else "left alone"
            recorder.warn(f"Found before the run: {leftovers.describe(item)}; {done}.")
    if stale:
        removed = sum(x in cleaned for x in stale)
        recorder.warn(
            f"Found before the run: {len(stale)} scratch directories of earlier runs, none in "
            f"use; {removed} cleaned up (their run is gone), {len(stale) - removed} left alone "
            "(no owner recorded, or it still runs); meta.json's preflight lists them."
        )
    for busy in found.busy:
        recorder.warn(
            f"Busy before the run on planned CPUs: {busy.name} (pid {busy.pid}) used "
            f"{busy.cpu_percent:g} % of a CPU; its load competes with the measurement."
        )
    recorder.set(
        preflight=rec.PreflightRecord(
            cpus=list(found.cpus),
            leftovers=[
                rec.LeftoverRecord(
                    kind=x.kind,
                    what=x.what,
                    owner_pid=x.owner_pid,
                    owner_alive=x.owner_alive,
                    live=x.live,
                    cleaned=x in cleaned,
                )
                for x in found.leftovers
            ],
            busy=[
                rec.BusyRecord(pid=b.pid, name=b.name, cpu_percent=b.cpu_percent, cpus=list(b.cpus))
                for b in found.busy
            ],
        )
    )
