"""The duet: both sides of a pair (``X@base``, ``X@head``) measured at the same time.

Each side has its own clone, service and Locust, exactly as a repetition measured alone, but
both services share the service CPUs and both Locusts load them in one wall-clock window (a
shared ``start_at``): whatever the machine does during that window, it does to both. That is
the point on a noisy runner, where throughput measured one after the other swings by tens of
percent (see ``chatbench.workflows.ab``). Which side is cloned, started and loaded first is
drawn per repetition from the run's recorded ``order_seed`` (``schedule.duet_pairs``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
import time

from chatbench.configuration.variants import VariantSpec
from chatbench.load import locust
from chatbench.load.health import CpuSetBusy
from chatbench.measuring.repetition import (
    Aborted,
    Clone,
    Observation,
    Side,
    Stage,
    load,
    read_back,
    start,
    with_access_log,
)
from chatbench.measuring.schedule import DUET_LEAD_S


def together(
    stage: Stage,
    specs: tuple[VariantSpec, ...],
    clones: tuple[Clone, ...],
    firsts: tuple[bool, ...],
) -> list[Observation]:
    """Start every side, load them in one window, read each back; services stopped after."""
    rep = clones[0].repetition
    with contextlib.ExitStack() as stack:
        sides = [
            start(stage, stack, spec, made, first=first)
            for spec, made, first in zip(specs, clones, firsts, strict=True)
        ]
        start_at = time.time() + DUET_LEAD_S
        for side in sides:
            side.load_spec = dataclasses.replace(side.load_spec, start_at=start_at)
        names = " and ".join(s.spec.name for s in sides)
        stage.progress.phase(
            f"{names} (repetition {rep}/{stage.cfg.repeat}) at the same time: warm-up "
            f"{stage.cfg.warmup_s:g} s, then measuring {stage.cfg.duration_s:g} s"
        )
        results = _load_together(stage, sides)
        # One CPU set, one window: both sides get one reading of it (the busier of the two
        # samplers, which read the same counters a fraction of a second apart).
        shared = max((r.health.cpu_set for r in results), key=_busy_or_nan)
        # Both generators are the load generator's own work on that set.
        own = sum(r.health.own_cpu_pct for r in results)
        observed = [
            read_back(stage, side, result, cpu_set=shared, own_cpu_pct=own)
            for side, result in zip(sides, results, strict=True)
        ]
    return [with_access_log(o) for o in observed]


def _busy_or_nan(cpu_set: CpuSetBusy) -> float:
    """Sort key: the busier reading wins; an unmeasured (NaN) one never does."""
    return cpu_set.busiest_pct if cpu_set.measured else -1.0


def _load_together(stage: Stage, sides: list[Side]) -> list[locust.LoadResult]:
    """Run every side's load in its own thread; the first failure stops the others."""
    results: list[locust.LoadResult | None] = [None] * len(sides)
    errors: list[BaseException] = []
    failed = threading.Event()

    def one(i: int) -> None:
        try:
            results[i] = load(stage, sides[i], advance=(i == 0), announce=False, also_abort=failed)
        except BaseException as exc:  # handed to the main thread below
            errors.append(exc)
            failed.set()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(len(sides))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(timeout=0.2)
    except BaseException:  # Ctrl-C here: every Locust is stopped before it propagates
        stage.stop.set()
        for t in threads:
            t.join()
        raise
    if errors:
        real = [e for e in errors if not isinstance(e, Aborted)]
        raise (real or errors)[0]
    return [r for r in results if r is not None]
