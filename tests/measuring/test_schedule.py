"""The schedule of a run (``chatbench.measuring.schedule``): order, duets, planned time."""

from __future__ import annotations

import dataclasses

import pytest

from chatbench.configuration import profiles
from chatbench.configuration import settings as config
from chatbench.measuring import control, schedule


def test_quick_profile_fits_make_bench_budget() -> None:
    """`make bench` (quick, django vs fastapi): capacity and latency at equal load within 3
    minutes on a fresh clone, venv included (measured: `git clone … && time make bench`, the
    figure in README). The load itself is held here; the plan counts 3 s of overhead per
    repetition where ~2 s was measured, so it may exceed 3 minutes by that headroom."""
    from chatbench.configuration import settings as config

    p = profiles.read_profile("quick")
    assert p["repeat"] >= 5  # the default comparison's intervals need n >= 3; 5 give usable ones
    assert 2 * p["repeat"] * (p["warmup_s"] + p["duration_s"]) <= 50
    # Latency at equal load: n >= 3 per variant and rate for a 95 % interval; a warm-up long
    # enough for the closed-loop burst (loadtests/locustfile.py _burst_end: >= 1 s).
    assert p["equal_load"] == (0.5, 0.8) and p["equal_load_repeat"] >= 3
    assert p["equal_load_warmup_s"] >= 1.0
    equal = 2 * len(p["equal_load"]) * p["equal_load_repeat"]
    assert equal * (p["equal_load_warmup_s"] + p["equal_load_duration_s"]) <= 45
    cfg = config.build("quick")
    assert cfg.variants == ("django", "fastapi") and cfg.has_equal_load
    assert schedule.planned_seconds(cfg) <= 200


def test_planned_time_counts_the_control_probe_of_local_runs() -> None:
    """The progress bar and budgets see the probe each repetition round takes (2 s at the ci
    profile's 10 s), which a --target run, probing nothing, does not take."""
    cfg = config.build("ci")
    target = dataclasses.replace(cfg, target_url="http://127.0.0.1:1", variants=("ext",))
    local_one = dataclasses.replace(cfg, variants=("fastapi",))
    probes = schedule.planned_seconds(local_one) - schedule.planned_seconds(target)
    assert probes == cfg.repeat * (control.probe_seconds(cfg.duration_s) + schedule.CONTROL_START_S)
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
    cfg = dataclasses.replace(config.build("ci"), variants=("fastapi@base", "fastapi@head"))
    duet = dataclasses.replace(cfg, duet=True)
    measured = cfg.warmup_s + cfg.duration_s
    saved = schedule.planned_seconds(cfg) - schedule.planned_seconds(duet)
    assert saved == pytest.approx(cfg.repeat * (measured - schedule.DUET_LEAD_S))


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
