"""chatbench.configuration.settings: the rules RunConfig.validate enforces (no load runs)."""

from __future__ import annotations

import pytest

from chatbench.configuration import profiles, suites
from chatbench.configuration import settings as config
from chatbench.configuration.settings import RunConfig
from chatbench.errors import UsageError

SHIPPED_PROFILES = ("ci", "full", "quick", "smoke")


def _all_started_within_warmup(cfg: RunConfig) -> bool:
    return cfg.users / cfg.spawn_rate <= cfg.warmup_s + 1e-9


def test_shipped_profiles_load_and_start_every_user_within_the_warmup() -> None:
    assert set(profiles.profile_names()) >= set(SHIPPED_PROFILES)
    for name in profiles.profile_names():
        values = profiles.read_profile(name)
        assert values["loadgen_processes"] == 1, name  # every shipped profile says processes = 1
        cfg = config.build(name)  # full.toml's rate (for its rate mode) no longer breaks closed
        assert cfg.profile == name
        assert cfg.spawn_rate == values["spawn_rate"], name  # valid as shipped: not raised
        assert _all_started_within_warmup(cfg), name


@pytest.mark.parametrize("suite_name", ["async-vs-sync", "caching", "concurrency", "pooling"])
@pytest.mark.parametrize("profile", SHIPPED_PROFILES)
def test_shipped_suites_build_under_every_profile(suite_name: str, profile: str) -> None:
    cfg = suites.build_config(suites.load(suite_name), profile)
    assert cfg.mode == "ramp" or _all_started_within_warmup(cfg)


# -- users still spawning in the measured window -----------------------------------------


@pytest.mark.parametrize("mode", ["closed", "rate"])
def test_users_still_spawning_after_the_warmup_is_a_usage_error(mode: str) -> None:
    cfg = RunConfig(
        variants=("fastapi",), mode=mode, users=100, spawn_rate=10, warmup_s=5,
        rate=50.0 if mode == "rate" else None,
    )  # fmt: skip
    with pytest.raises(UsageError) as info:
        cfg.validate()
    message = str(info.value)
    assert info.value.exit_code == 2
    assert "10 s" in message and "5 s warm-up" in message
    assert "--warmup" in message and "spawn" in message
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_ramp_mode_is_exempt_from_the_spawn_rule() -> None:
    cfg = RunConfig(
        variants=("fastapi",), mode="ramp", ramp_steps=(50, 100), users=100, spawn_rate=1,
        warmup_s=1,
    )  # fmt: skip
    assert cfg.validate() is cfg


def test_exactly_at_the_warmup_is_allowed() -> None:
    RunConfig(variants=("fastapi",), users=20, spawn_rate=4, warmup_s=5).validate()


def test_zero_warmup_cannot_start_users_in_time() -> None:
    with pytest.raises(UsageError, match="--warmup"):
        config.build("quick", variants=("fastapi",), warmup_s=0.0)


def test_more_users_without_a_spawn_rate_raise_the_profiles_rate() -> None:
    cfg = config.build("quick", variants=("fastapi",), users=500)  # quick: 100/s, 1 s warm-up
    assert cfg.spawn_rate == 500.0  # 500 users within the 1 s warm-up
    assert _all_started_within_warmup(cfg)
    cfg = config.build("quick", variants=("fastapi",), users=500, warmup_s=1.5)
    assert cfg.spawn_rate == 333.334  # 500 / 1.5 = 333.33…, rounded up
    assert _all_started_within_warmup(cfg)
    assert type(cfg.spawn_rate) is float and cfg.as_dict()["spawn_rate"] == 333.334


def test_a_shorter_warmup_raises_the_rate_and_rounds_it_up() -> None:
    cfg = config.build("ci", variants=("fastapi",), warmup_s=3.0, users=50)  # 16.67 -> 20/s
    assert cfg.spawn_rate == 20.0
    cfg = config.build("ci", variants=("fastapi",), warmup_s=3.0, users=70)
    assert cfg.spawn_rate == 23.334  # 70 / 3 = 23.333…, rounded up: Locust gets "23.334"
    assert _all_started_within_warmup(cfg)


def test_an_explicit_spawn_rate_is_validated_not_raised() -> None:
    with pytest.raises(UsageError, match="spawning while measuring"):
        config.build("quick", variants=("fastapi",), users=500, spawn_rate=20.0)
    cfg = config.build("quick", variants=("fastapi",), users=500, spawn_rate=600.0)
    assert cfg.spawn_rate == 600.0


def test_suite_runs_with_a_short_warmup_raise_the_profiles_rate() -> None:
    # The caching suite's end-to-end test: smoke (4 users at 4/s) with a 0.5 s warm-up.
    cfg = suites.build_config(suites.load("caching"), "smoke", duration_s=1.0, warmup_s=0.5)
    assert cfg.spawn_rate == 8.0
    assert _all_started_within_warmup(cfg)


def test_a_duet_needs_pairs_of_local_variants() -> None:
    with pytest.raises(UsageError, match="even number of variants"):
        config.RunConfig(variants=("django", "fastapi", "django"), duet=True).validate()
    config.RunConfig(variants=("django", "fastapi"), duet=True).validate()


def test_a_duet_refuses_cache_variants_that_would_share_one_valkey() -> None:
    with pytest.raises(UsageError, match="use --sequential"):
        config.RunConfig(variants=("fastapi[cache=valkey]", "fastapi"), duet=True).validate()


def test_cpu_profile_refuses_a_target_it_cannot_attach_to() -> None:
    target = {"target_url": "http://127.0.0.1:8000", "variant_label": "ext", "variants": ("ext",)}
    config.RunConfig(**target).validate()
    with pytest.raises(UsageError, match="--cpu-profile .* cannot with --target"):
        config.RunConfig(**target, cpu_profile=True).validate()
    config.RunConfig(cpu_profile=True).validate()
