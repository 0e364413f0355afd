"""``--cpu-profile``: one extra window per variant, sampled by py-spy, in no other figure.

After the measured windows, each variant's long-lived service (``measuring.live``: settled,
measured in every window before) is loaded once more exactly as in its capacity windows, with
py-spy (``serving.profiler``) sampling its whole process tree from the end of the warm-up to
the end of the load; a service with no long-lived instance (a duet's) is started afresh on its
own clone for it. That window's files go to ``profiles/<variant>/`` (py-spy's collapsed stacks
in ``stacks.txt``; Locust's in ``load/``), never to ``raw/``, so no throughput, latency or CPU
figure of the run includes it; the layer table takes its *shares* from the profile and its
milliseconds from the measured repetitions' CPU per request.

Why a separate repetition rather than the measured ones: py-spy pauses every process it
samples (its default, blocking mode, for consistent stacks) and its own CPU competes on a small
machine; ``scripts/profile_overhead.py`` measures what that costs in throughput
(docs/cpu-profile.md has the figure). A figure the profiler slowed would not be comparable
with a run without it.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from pathlib import Path

from chatbench.configuration.variants import VariantSpec
from chatbench.measuring import repetition
from chatbench.measuring.live import LiveService
from chatbench.measuring.repetition import Stage
from chatbench.serving import profiler
from chatbench.serving.profiler import Profile

PROFILE_DIR = "profiles"
STACKS = "stacks.txt"
# The clone and the hooks see this repetition number; no measured repetition has it.
PROFILED_REPETITION = 0
# Locust's clock starts with its process; its users start about this much later (1.4 s on the
# 2-core reference machine, see measuring.schedule.DUET_LEAD_S), so py-spy starts at the
# warm-up's end by that clock plus this.
LOCUST_START_S = 1.5
WHICH = (
    "one extra window per variant on its long-lived service after the measured ones, same "
    "load, sampled from the end of the warm-up to the end of the load; excluded from every "
    "other figure"
)


@dataclass(frozen=True)
class Profiled:
    """A variant's profiled repetition: its profile, and the requests its load counted."""

    variant: str
    profile: Profile
    stacks: str  # relative to the run directory
    requests: int


def variant_dir(run_dir: Path, variant: str) -> Path:
    return run_dir / PROFILE_DIR / variant


class _Delayed:
    """Starts py-spy in a thread of its own once Locust's clock passes ``at_s`` (the tick
    loop must not wait for py-spy to attach); ``finish`` stops it, whatever happened."""

    def __init__(self, pid: int, output: Path, at_s: float, rate_hz: int,
                 cpus: tuple[int, ...] | None) -> None:  # fmt: skip
        self.pid, self.output, self.at_s, self.rate_hz, self.cpus = pid, output, at_s, rate_hz, cpus
        self.thread: threading.Thread | None = None
        self.spy: profiler.Profiler | None = None
        self.error: BaseException | None = None
        self.cancelled = threading.Event()

    def on_elapsed(self, elapsed_s: float) -> None:
        if self.thread is None and elapsed_s >= self.at_s:
            self.thread = threading.Thread(target=self._start, name="py-spy-start", daemon=True)
            self.thread.start()

    def _start(self) -> None:
        try:
            spy = profiler.start(self.pid, self.output, rate_hz=self.rate_hz, cpus=self.cpus)
        except BaseException as exc:  # re-raised by finish, in the run's own thread
            self.error = exc
            return
        self.spy = spy
        if self.cancelled.is_set():
            spy.stop()

    def finish(self) -> Profile | None:
        """Stop py-spy if it started (never raises: it runs on the way out of a failed or
        interrupted load too); None when it did not start or wrote nothing (``error`` may say
        why)."""
        self.cancelled.set()
        if self.thread is not None:
            self.thread.join(timeout=profiler.ATTACH_TIMEOUT_S + 5)
        return self.spy.finish() if self.spy is not None else None


def profile_variant(
    stage: Stage, spec: VariantSpec, *, live: LiveService | None = None,
    rate_hz: int = profiler.RATE_HZ,
) -> Profiled:  # fmt: skip
    """Run ``spec``'s profiled window, on ``live`` when given (see the module docstring).
    Raises ``profiler.ProfilerUnavailable`` when py-spy cannot sample it (nothing left
    running)."""
    out = variant_dir(stage.run_dir, spec.name)
    tag = f"{spec.name} (profiled window)"
    cpus = stage.plan.loadgen if stage.plan.pinned else None
    with contextlib.ExitStack() as stack:
        if live is not None:
            side = repetition.side_for(stage, spec, live.clone, live.server, None,
                                       PROFILED_REPETITION, rep_dir=out / "load", tag=tag)  # fmt: skip
        else:
            made = repetition.clone(stage, spec, PROFILED_REPETITION)
            side = repetition.start(stage, stack, spec, made, first=False, rep_dir=out / "load",
                                    tag=tag)  # fmt: skip
        profiler.check_attach(side.server.pid)
        stage.progress.phase(f"{tag}: py-spy samples {rate_hz}/s per process after the warm-up")
        spy = _Delayed(side.server.pid, out / STACKS, stage.cfg.warmup_s + LOCUST_START_S,
                       rate_hz, cpus)  # fmt: skip
        try:
            result = repetition.load(stage, side, advance=True, announce=True,
                                     on_elapsed=spy.on_elapsed)  # fmt: skip
        finally:
            profile = spy.finish()
    if profile is None:
        if spy.error is not None:  # unavailable: the run goes on; anything else is a bug
            raise spy.error
        raise profiler.ProfilerUnavailable(
            f"py-spy left no profile of the {spec.name} service (its log: {out / STACKS}.log)"
        )
    requests = result.measured.completed
    return Profiled(spec.name, profile, str(profile.path.relative_to(stage.run_dir)), requests)
