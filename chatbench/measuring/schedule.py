"""The schedule of a run: which variant loads when, and how long it all takes.

Repetitions are interleaved (A B, B A, A B …) so slow drift of the machine hits every variant
alike; a duet runs consecutive pairs (``X@base``, ``X@head``) at the same time, and which side
of a pair comes first (its database cloned, its service started and its Locust launched first)
and the order of the pairs are drawn at random per repetition from the run's recorded
``order_seed``: a fixed alternation left base first in every odd repetition, and head measured
faster than base in 9 of 10 no-change duets (issue 19). Ports are the operating system's free
ones either way. ``planned_seconds`` is what the progress bar and the A/B
budget count on.
"""

from __future__ import annotations

import dataclasses
import random
import secrets

from chatbench.configuration.settings import RunConfig
from chatbench.measuring import control

# Measured on the 2-core reference VM (2026-11-30, `chatbench run`, quick profile): per variant
# and repetition of a duet's side, clone + start + contract check + SQL profile + Locust
# start/stop + service stop ≈ 2 s (3 s kept as headroom); per run, Postgres + seeding +
# summary, charts and report ≈ 10 s. A window on a long-lived service (measuring.live) only
# starts and stops Locust and reads the service back (≈ 1.5 s). Settling a service past its
# start-up collections took 6 s (FastAPI) to 15 s (Django's three workers) on 2026-12-07. The
# progress bar's "time left" and the A/B budget use these.
OVERHEAD_PER_REPETITION_S = 3.0
OVERHEAD_PER_WINDOW_S = 1.5
SERVICE_START_S = 3.0
SETTLE_S = 12.0
OVERHEAD_PER_RUN_S = 10.0
CONTROL_START_S = 0.5  # starting the pinned probe process, connecting
# A duet's shared start is this far after its Locusts are launched: both must have imported and
# started their users before it (1.4 s on the 2-core reference machine under a ci check); the
# warm-up follows it, and the fairness rule checks that each side had requests before its window.
DUET_LEAD_S = 3.0
# An SLO search's windows per variant, for the estimate: about five steps to bracket the edge
# within 15 % from half the capacity, then two confirming windows at the found rate and two
# above it (workflows.phases.slo).
SLO_WINDOWS_PER_VARIANT = 9


def planned_seconds(cfg: RunConfig) -> float:
    """Expected wall time of a run (load + measured overheads), for progress and budgets. Open-
    model windows grow to hold their tail (measuring.live.TailWindowEnd); they are counted at twice
    the shortest window, at most ``window_max``."""
    measured = cfg.warmup_s + (
        len(cfg.ramp_steps) * cfg.ramp_step_s if cfg.mode == "ramp" else cfg.duration_s
    )
    variants = len(cfg.variants)
    if cfg.duet:  # each pair loads at once, after both services started
        pair = measured + DUET_LEAD_S + 2 * OVERHEAD_PER_REPETITION_S
        total = pair * cfg.repeat * (variants // 2) + OVERHEAD_PER_RUN_S
    elif cfg.target_url:
        total = (measured + OVERHEAD_PER_WINDOW_S) * cfg.repeat * variants + OVERHEAD_PER_RUN_S
    else:  # long-lived services: started and settled once, then window after window
        total = variants * (SERVICE_START_S + SETTLE_S) + OVERHEAD_PER_RUN_S
        total += (measured + OVERHEAD_PER_WINDOW_S) * cfg.repeat * variants
    if cfg.cpu_profile:  # one profiled window per variant (measuring.profiling)
        total += (measured + OVERHEAD_PER_REPETITION_S) * variants
    if not cfg.target_url:  # a local run probes the machine once per repetition round
        total += cfg.repeat * (control.probe_seconds(cfg.duration_s) + CONTROL_START_S)
    window = min(cfg.window_max_s, 2 * cfg.equal_load_duration_s)
    open_window = cfg.equal_load_warmup_s + window + OVERHEAD_PER_WINDOW_S
    if cfg.has_equal_load:  # then every variant at every equal-load rate
        total += open_window * cfg.equal_load_repeat * variants * len(cfg.equal_load)
    if cfg.slo is not None:  # the searches, then the confirmations
        total += open_window * SLO_WINDOWS_PER_VARIANT * variants
    return total


def interleaved_order(variant_names: tuple[str, ...], repeat: int) -> list[tuple[int, str]]:
    """A B, B A, A B, … : alternating order so slow drift of the machine hits every variant alike."""
    order = []
    for rep in range(1, repeat + 1):
        names = variant_names if rep % 2 == 1 else tuple(reversed(variant_names))
        order.extend((rep, name) for name in names)
    return order


def duet_pairs(
    variant_names: tuple[str, ...], repeat: int, seed: int | None = None
) -> list[tuple[int, tuple[str, ...]]]:
    """The duet schedule: consecutive names pair up (``X@base``, ``X@head``); each repetition
    runs every pair once. With a ``seed`` the order of the pairs and of each pair's sides is
    drawn per repetition (``random.Random(seed)``, so a recorded seed replays it); without,
    they alternate with the repetition, as ``interleaved_order`` does for single variants."""
    pairs = [tuple(variant_names[i : i + 2]) for i in range(0, len(variant_names), 2)]
    rng = random.Random(seed) if seed is not None else None
    order = []
    for rep in range(1, repeat + 1):
        if rng is None:
            flip = rep % 2 == 0
            for pair in reversed(pairs) if flip else pairs:
                order.append((rep, tuple(reversed(pair)) if flip else pair))
            continue
        for pair in rng.sample(pairs, len(pairs)):
            order.append((rep, tuple(rng.sample(pair, len(pair)))))
    return order


def with_order_seed(cfg: RunConfig) -> RunConfig:
    """``cfg`` with a duet's ``order_seed`` drawn (32 random bits) when it has none."""
    if not cfg.duet or cfg.order_seed is not None:
        return cfg
    return dataclasses.replace(cfg, order_seed=secrets.randbits(32))


def run_order(cfg: RunConfig) -> list[str]:
    """``name#repetition`` in the order ``schedule(cfg)`` loads them (what the run records)."""
    return [f"{name}#{rep}" for rep, names in schedule(cfg) for name in names]


def schedule(cfg: RunConfig) -> list[tuple[int, tuple[str, ...]]]:
    """(repetition, the variant names loaded together) in run order: one name at a time, or a
    duet's pair."""
    if cfg.duet:
        return duet_pairs(cfg.variants, cfg.repeat, cfg.order_seed)
    return [(rep, (name,)) for rep, name in interleaved_order(cfg.variants, cfg.repeat)]
