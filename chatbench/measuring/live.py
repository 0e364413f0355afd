"""Long-lived services: each variant started once, settled, then measured window after window.

A service in production is a long-lived process, and its tail is set by pauses that recur
all its life: full garbage collections every few seconds (``serving.pauses``). A service
started afresh for every short window is measured while it is still running its start-up
collections, and a window shorter than its pause cycle holds a pause or not by chance. So a
local run (``workflows.phases``) starts every variant's service once, on its own clone of the
template (checked against it before the service starts), **settles** it, and measures every
window of every phase on it, the variants' windows interleaved A B, B A … as before: drift of
the machine hits all alike, and every window starts from a warmed service.

**Settling** is measured, not a number of seconds: the service is loaded closed-loop (as fast
as it answers, so the start-up work is done soonest) until every one of its serving processes
has run ``settle_collections`` (profile ``settle``, 1: its first full collection while serving, the one that first traverses the heap its start-up built) full collections, as its own pause hook
records them, or until ``settle_max_s`` (the record then says it did not settle). A service
without the hook (one of your own) records nothing: it is loaded for ``NO_HOOK_SETTLE_S`` and
the record says its start-up could not be observed. ``settle = 0`` skips it (the smoke
profile).

Per window the service's database is where the previous window left it (the rows grow by the
creates of every window, alike for every variant); the integrity check counts rows before and
after each window, its SQL statistics are reset before each, a Valkey cache is flushed before
each. Nothing here writes the run record: a window's result is an ``Observation``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from chatbench.configuration.settings import split_scenario
from chatbench.configuration.variants import VariantSpec
from chatbench.configuration.windows import (
    PAUSE_INTERVALS,
    needs_pause_span,
    pauses_rarer_than_window,
    samples_needed,
)
from chatbench.errors import Interrupted
from chatbench.load import locust, openmodel
from chatbench.measuring import repetition
from chatbench.measuring.repetition import AnyEvent, Clone, Observation, ServiceFacts, Stage
from chatbench.provisioning import postgres
from chatbench.serving import pauses, servers

NO_HOOK_SETTLE_S = 5.0
# An adaptive window's clock starts this long after Locust is launched (its import and user
# start took 1.4 s on the 2-core reference machine, measuring.schedule.DUET_LEAD_S), so the
# window's start is known to the harness before it opens.
LOCUST_LEAD_S = 2.0
SETTLE_POLL_S = 0.25
SERVICES_DIR = "services"  # <run>/services/<variant>/: service.log, gc/ (the pause log)


@dataclass(frozen=True)
class Settled:
    """How a service was settled: how long it was loaded, whether every serving process got
    past its start-up collections (None: the service records no pauses), the full collections
    each process had run, and the interval between full collections over the settling load's
    last seconds."""

    seconds: float
    settled: bool | None
    collections: dict[int, int]
    interval_s: float | None


@dataclass(frozen=True)
class TailWindowEnd:
    """Whether an open-model window can end now, by the rule ``analysing.tails`` judges the
    finished window by: it has lasted ``shortest`` seconds, held the requests ``percentile``
    needs at ``rate``, and — where the service's pauses can set the percentile — held
    ``PAUSE_INTERVALS`` of its full collections (any process), and then half an interval (as
    the window measures it) past the last one, so that a window does not end on a pause and
    hold one more than its span's share; or, where its collections come rarer, once the window
    is long enough that that many could not set the percentile
    (``windows.pauses_rarer_than_window``). A service that never ran a full collection while
    serving, or one without the hook (no pause log, judged on requests alone), can end at once."""

    pause_dir: Path
    start: float  # the measured window's start, epoch s
    rate: float
    percentile: float
    shortest: float
    requests: int = 0  # at least this many requests too (an SLO verdict's window asks more)

    def __call__(self) -> bool:
        now = time.time()
        span = now - self.start
        wanted = max(samples_needed(self.percentile), self.requests)
        if span < self.shortest or self.rate * span < wanted:
            return False
        log = pauses.read_pause_log(self.pause_dir)
        if not log.pids:
            return True
        seen = pauses.summarise(log, self.start, now)
        if not needs_pause_span(self.percentile, seen.life_paused_share):
            return True
        if seen.quiet_s is not None:
            return True
        if seen.full_count < PAUSE_INTERVALS:
            return pauses_rarer_than_window(self.percentile, span, seen.life_longest_ms)
        last = max(c.t for c in log.full if self.start <= c.t < now)
        return now >= last + span / seen.full_count / 2


@dataclass(frozen=True)
class IndependentWindow:
    """A window of the independent open-model generator on a live service."""

    variant: str
    result: openmodel.OpenModelResult
    rows_before: int
    rows_after: int
    pauses: pauses.WindowPauses | None


@dataclass
class LiveService:
    """One variant's long-lived service: its clone, its server, what was read at its start."""

    spec: VariantSpec
    clone: Clone
    server: servers.RunningServer
    facts: ServiceFacts
    directory: Path
    started_at: float
    settled: Settled | None = None
    windows: int = 0
    reported_facts: bool = False

    @property
    def pause_dir(self) -> Path:
        return self.directory / "gc"

    def pause_log(self) -> pauses.PauseLog:
        return pauses.read_pause_log(self.pause_dir)


@dataclass
class LiveServices:
    """Every variant's long-lived service for one run; ``close`` stops them all (the run's
    exit stack calls it on success, failure and Ctrl-C alike)."""

    stage: Stage
    services: dict[str, LiveService] = field(default_factory=dict)
    _stack: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)

    def open(self, spec: VariantSpec, made: Clone) -> LiveService:
        """Start ``spec``'s service on its checked clone (stopped by ``close``)."""
        directory = self.stage.run_dir / SERVICES_DIR / spec.name
        directory.mkdir(parents=True, exist_ok=True)
        tag = f"{spec.name} (long-lived service)"
        server, facts = repetition.launch(
            self.stage, self._stack, spec, made, log_path=directory / "service.log",
            gc_dir=directory / "gc", tag=tag,
        )  # fmt: skip
        assert facts is not None
        live = LiveService(spec, made, server, facts, directory, time.time())
        self.services[spec.name] = live
        return live

    def settle(self, name: str) -> Settled:
        """Load ``name``'s service closed-loop until it is past its start-up collections (see
        the module docstring)."""
        live = self.services[name]
        stage = self.stage
        cfg = stage.cfg
        wanted = cfg.settle_collections
        if wanted == 0:
            live.settled = Settled(0.0, None, {}, None)
            return live.settled
        stage.progress.phase(
            f"{name}: settling the service (closed loop until each process has run "
            f"{wanted} full collections, at most {cfg.settle_max_s:g} s)"
        )
        spec = dataclasses.replace(
            repetition.load_spec(cfg, live.server.base_url, stage.plan),
            mode="closed", warmup_s=0.0, duration_s=cfg.settle_max_s, rate=None,
            spawn_rate=float(max(1, cfg.users)),
        )  # fmt: skip
        done = threading.Event()
        began = time.monotonic()
        hooked = [True]

        def watch() -> None:
            while not done.wait(SETTLE_POLL_S):
                log = live.pause_log()
                if not log.pids and time.monotonic() - began > NO_HOOK_SETTLE_S:
                    hooked[0] = False
                    done.set()
                elif log.pids and pauses.startup_passed(log, min_full=wanted):
                    done.set()

        watcher = threading.Thread(target=watch, name=f"settle-{name}", daemon=True)
        watcher.start()
        try:
            locust.run_load(spec, live.directory / "settle", stop_event=AnyEvent(done, stage.stop))
        except locust.LoadgenInterrupted:
            pass  # settled (or Ctrl-C, below): the load is stopped either way
        finally:
            done.set()
            watcher.join(timeout=5)
        if stage.stop.is_set():
            raise KeyboardInterrupt
        live.server.check_alive()
        seconds = time.monotonic() - began
        log = live.pause_log()
        counts = pauses.serving_full_collections(log)
        settled = None
        if hooked[0] and log.pids:
            settled = pauses.startup_passed(log, min_full=wanted)
        end = time.time()
        recent = pauses.summarise(log, end - min(seconds, 10.0), end)
        live.settled = Settled(round(seconds, 2), settled, counts, recent.full_interval_s)
        return live.settled

    def window(self, stage: Stage, name: str, rep: int, *, requests: int = 0) -> Observation:
        """One measured window of ``stage``'s load on ``name``'s live service; an adaptive
        one (``RunConfig.adaptive_window``, the open-model phases) ends as soon as it can hold
        its tail (``TailWindowEnd``) and holds at least ``requests``."""
        live = self.services[name]
        live.server.check_alive()
        first = not live.reported_facts
        side = repetition.side_for(stage, live.spec, live.clone, live.server,
                                   live.facts if first else None, rep,
                                   gc_dir=live.pause_dir)  # fmt: skip
        end_window = None
        cfg = stage.cfg
        if cfg.adaptive_window and cfg.rate:
            start_at = time.time() + LOCUST_LEAD_S
            side.load_spec = dataclasses.replace(side.load_spec, start_at=start_at)
            end_window = TailWindowEnd(live.pause_dir, start_at + cfg.warmup_s, float(cfg.rate),
                                       cfg.tail_percentile, cfg.equal_load_duration_s,
                                       requests)  # fmt: skip
        result = repetition.load(stage, side, advance=True, announce=True, end_window=end_window)
        observed = repetition.read_back(stage, side, result)
        live.windows += 1
        live.reported_facts = True
        return observed

    def independent_window(self, stage: Stage, name: str, *, rate: float, warmup_s: float,
                           duration_s: float, seed: int, out_dir: Path) -> IndependentWindow:  # fmt: skip
        """One window of the open-model generator that is not Locust (``load.openmodel``) on
        ``name``'s live service: the same scenario, rate and window as a Locust window, the
        generator pinned where Locust runs; its rows counted around it (nothing lost)."""
        live = self.services[name]
        live.server.check_alive()
        cfg = stage.cfg
        scenario = split_scenario(name)[1] or cfg.scenario
        spec = openmodel.OpenModelSpec(
            target_url=live.server.base_url, scenario=scenario, rate=rate, arrivals=cfg.arrivals,
            warmup_s=warmup_s,
            duration_s=duration_s, seed=seed, seed_sessions=cfg.seed_sessions,
            seed_messages=cfg.seed_messages, cpus=stage.plan.loadgen if stage.plan.pinned else None,
            yield_cpu=stage.plan.loadgen_yields,
        )  # fmt: skip
        stage.progress.phase(
            f"{name}: the independent open-model generator at {rate:g} req/s, warm-up "
            f"{warmup_s:g} s, then measuring {duration_s:g} s"
        )
        rows_before = postgres.row_count(live.clone.url)
        try:
            result = openmodel.run_open_model(spec, out_dir, stop_event=stage.stop)
        except Interrupted:
            raise KeyboardInterrupt from None
        live.server.check_alive()
        rows_after = postgres.row_count(live.clone.url)
        log = live.pause_log()
        seen = pauses.summarise(log, result.window_start, result.window_end) if log.pids else None
        return IndependentWindow(name, result, rows_before, rows_after, seen)

    def close(self) -> dict[str, int]:
        """Stop every service; the access-log lines each wrote (a fairness rule's evidence)."""
        self._stack.close()
        return {
            name: repetition.access_log_lines(live.directory / "service.log")
            for name, live in self.services.items()
        }

    def __enter__(self) -> LiveServices:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
