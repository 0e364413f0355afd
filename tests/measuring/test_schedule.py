"""The schedule of a run (``chatbench.measuring.schedule``): order, duets, planned time."""

from __future__ import annotations

import dataclasses

import pytest

from chatbench.configuration import profiles
from chatbench.configuration import settings as config
from chatbench.measuring import control, schedule


def test_quick_profile_keeps_make_bench_to_its_shape() -> None:
    """`make bench` (quick, django vs fastapi): capacity in five interleaved windows per variant
    on settled long-lived services, then latency at ONE equal-load rate in three adaptive
    windows per variant (README states the wall time it took on a fresh clone). The shape is
    held here: a capacity load of at most 50 s, windows that grow to hold a p99 and stop at
    15 s, and services settled past their first full collection."""
    from chatbench.configuration import settings as config

    p = profiles.read_profile("quick")
    assert p["repeat"] >= 5  # the default comparison's intervals need n >= 3; 5 give usable ones
    assert 2 * p["repeat"] * (p["warmup_s"] + p["duration_s"]) <= 50
    # Latency at equal load: n >= 3 per variant for a 95 % interval, windows sized for a p99.
    assert p["equal_load"] == (0.7,) and p["equal_load_repeat"] >= 3
    assert p["tail_percentile"] == 99 and p["window_max_s"] <= 15
    cfg = config.build("quick")
    assert cfg.variants == ("django", "fastapi") and cfg.has_equal_load
    assert cfg.settle_collections >= 1
    # The plan counts each open-model window at twice the shortest (at most window_max).
    assert schedule.planned_seconds(cfg) <= 240


def test_planned_time_counts_the_control_probe_and_the_services_of_local_runs() -> None:
    """The progress bar and budgets see the probe each repetition round takes (2 s at the ci
    profile's 10 s) and each long-lived service's start and settling, which a --target run,
    probing and starting nothing, does not take."""
    cfg = config.build("ci")
    target = dataclasses.replace(cfg, target_url="http://127.0.0.1:1", variants=("ext",))
    local_one = dataclasses.replace(cfg, variants=("fastapi",))
    extra = schedule.planned_seconds(local_one) - schedule.planned_seconds(target)
    probes = cfg.repeat * (control.probe_seconds(cfg.duration_s) + schedule.CONTROL_START_S)
    assert extra == pytest.approx(probes + schedule.SERVICE_START_S + schedule.SETTLE_S)
    assert control.probe_seconds(cfg.duration_s) == 2.0


def test_planned_time_counts_one_profiled_repetition_per_variant() -> None:
    cfg = config.build("quick")
    profiled = dataclasses.replace(cfg, cpu_profile=True)
    per = cfg.warmup_s + cfg.duration_s + schedule.OVERHEAD_PER_REPETITION_S
    assert schedule.planned_seconds(profiled) - schedule.planned_seconds(cfg) == pytest.approx(
        per * len(cfg.variants)
    )


def test_duet_schedule_pairs_sides_and_alternates_like_interleaving() -> None:

    names = ("django@base", "django@head", "fastapi@base", "fastapi@head")
    pairs = schedule.duet_pairs(names, 2)
    assert pairs == [
        (1, ("django@base", "django@head")),
        (1, ("fastapi@base", "fastapi@head")),
        (2, ("fastapi@head", "fastapi@base")),
        (2, ("django@head", "django@base")),
    ]
    # Flattened, it is the interleaved order the fairness rule checks.
    flat = [(rep, n) for rep, pair in pairs for n in pair]
    assert flat == schedule.interleaved_order(names, 2)


def test_planned_time_of_a_duet_counts_each_pair_once() -> None:
    """Both sides of a pair load at once, each started afresh per repetition."""
    cfg = dataclasses.replace(config.build("ci"), variants=("fastapi@base", "fastapi@head"))
    duet = dataclasses.replace(cfg, duet=True)
    measured = cfg.warmup_s + cfg.duration_s
    pair = measured + schedule.DUET_LEAD_S + 2 * schedule.OVERHEAD_PER_REPETITION_S
    probes = cfg.repeat * (control.probe_seconds(cfg.duration_s) + schedule.CONTROL_START_S)
    assert schedule.planned_seconds(duet) == pytest.approx(
        cfg.repeat * pair + schedule.OVERHEAD_PER_RUN_S + probes
    )


def test_a_seeded_duet_draws_each_repetitions_side_order_and_replays_it() -> None:
    """Which side is cloned, started and loaded first is drawn per repetition from the
    recorded seed: the same seed replays the same order, and over many seeds each side of a
    pair comes first about half the time (the alternation put base first in every odd one)."""
    names = ("django@base", "django@head", "fastapi@base", "fastapi@head")
    drawn = schedule.duet_pairs(names, 6, seed=7)
    assert drawn == schedule.duet_pairs(names, 6, seed=7)
    assert drawn != schedule.duet_pairs(names, 6, seed=8)
    for rep in range(1, 7):  # every pair once per repetition, both of its sides together
        pairs = [pair for r, pair in drawn if r == rep]
        assert sorted(tuple(sorted(p)) for p in pairs) == [names[:2], names[2:]]
    base_first = sum(
        pair[0].endswith("@base")
        for seed in range(400)
        for _, pair in schedule.duet_pairs(names[:2], 4, seed=seed)
    )
    assert 0.45 < base_first / 1600 < 0.55


def test_a_duet_run_records_its_seed_and_the_fairness_rule_expects_its_order() -> None:
    from chatbench.analysing import fairness
    from chatbench.storing import record as rec

    cfg = dataclasses.replace(
        config.RunConfig(), variants=("fastapi@base", "fastapi@head"), repeat=4, duet=True
    )
    seeded = schedule.with_order_seed(cfg)
    assert seeded.order_seed is not None
    assert schedule.with_order_seed(seeded) is seeded  # a given seed is kept
    assert schedule.with_order_seed(dataclasses.replace(cfg, duet=False)).order_seed is None
    recorded = rec.ConfigRecord.model_validate(seeded.as_dict())
    assert recorded.order_seed == seeded.order_seed  # meta.json's config holds it
    order = schedule.run_order(seeded)
    assert fairness.duet_ordered(order, recorded)
    swapped = [order[1], order[0], *order[2:]]
    assert not fairness.duet_ordered(swapped, recorded)
