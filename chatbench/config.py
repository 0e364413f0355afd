"""Typed run settings: what one `chatbench run` does, validated before anything starts.

A ``RunConfig`` is built from a load profile (``loadtests/profiles/<name>.conf``) with the
user's explicit options on top, validated once here, and then passed down unchanged; nothing
below the CLI reads command-line state. It is stored whole in every run's ``meta.json``.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbench.errors import UsageError

REPO_ROOT = Path(__file__).resolve().parent.parent
PROFILES_DIR = REPO_ROOT / "loadtests" / "profiles"
SCENARIOS = ("chat", "read", "write", "detail")
MODES = ("closed", "rate", "ramp")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


@dataclass(frozen=True)
class RunConfig:
    variants: tuple[str, ...] = ("django", "fastapi")
    scenario: str = "chat"
    mode: str = "closed"
    users: int = 20
    spawn_rate: float = 100.0
    rate: float | None = None  # total requests/s, rate mode only
    duration_s: float = 15.0
    warmup_s: float = 5.0
    repeat: int = 2
    ramp_steps: tuple[int, ...] = ()
    ramp_step_s: float = 5.0
    profile: str = "quick"
    seed_sessions: int = 1000
    seed_messages: int = 20
    seed: int = 42
    database_url: str | None = None
    out_dir: Path = REPO_ROOT / "results"
    server_cpus: str | None = None
    loadgen_cpus: str | None = None
    db_max_connections: int = 10
    loadgen_processes: int = 1
    allow_unfair: bool = False
    # Extra environment per variant, e.g. the test-only injectors: {"django": {"CHATBENCH_BURN_US": "200"}}
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    cache_url: str | None = None
    target_url: str | None = None
    variant_label: str | None = None

    def validate(self) -> RunConfig:
        from chatbench import variants as variants_mod

        if not self.variants and not self.target_url:
            raise UsageError("No variant to run; give --variants.")
        if not self.target_url:
            for name in self.variants:
                variants_mod.get(name)
        if self.scenario not in SCENARIOS:
            raise UsageError(
                f"Unknown scenario {self.scenario!r}; choose one of {', '.join(SCENARIOS)}."
            )
        if self.mode not in MODES:
            raise UsageError(f"Unknown mode {self.mode!r}; choose one of {', '.join(MODES)}.")
        _positive("--users", self.users, maximum=5000)
        _positive("--duration", self.duration_s, maximum=24 * 3600)
        _positive("--repeat", self.repeat, maximum=1000)
        _positive("--loadgen-processes", self.loadgen_processes, maximum=64)
        _positive("--db-max-connections", self.db_max_connections, maximum=1000)
        _positive("seed sessions", self.seed_sessions, maximum=10_000_000)
        _positive("seed messages", self.seed_messages, maximum=10_000)
        if self.warmup_s < 0:
            raise UsageError("--warmup cannot be negative.")
        if self.mode == "rate":
            if self.rate is None or self.rate <= 0:
                raise UsageError(
                    "--mode rate needs --rate, a total request rate above 0 per second."
                )
        elif self.rate is not None:
            raise UsageError("--rate only applies to --mode rate.")
        if self.mode == "ramp" and not self.ramp_steps:
            raise UsageError(
                "--mode ramp needs ramp steps (a profile's ramp_steps or --ramp-steps)."
            )
        for variant, env in self.service_env.items():
            if variant not in self.variants:
                raise UsageError(f"--service-env names {variant!r}, which is not in --variants.")
            for key in env:
                if not _ENV_NAME.match(key):
                    raise UsageError(f"--service-env: {key!r} is not an environment variable name.")
        if self.target_url:
            _check_target(self.target_url)
            if not self.variant_label:
                raise UsageError("--target needs --variant-label to name the measured service.")
            if self.variants != (self.variant_label,):
                raise UsageError("--target measures one service; drop --variants.")
        return self

    def as_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["out_dir"] = str(self.out_dir)
        if self.database_url:
            from chatbench.postgres import redact

            out["database_url"] = redact(self.database_url)
        return out


def _check_target(url: str) -> None:
    """A --target must be an http(s) URL on this machine's loopback: load never leaves it."""
    from chatbench import loadgen

    try:
        loadgen.check_target(url)
    except loadgen.LoadgenError as exc:
        raise UsageError(f"--target must be a loopback http(s) URL, but {exc.message}.") from None


def _positive(name: str, value: float, *, maximum: float) -> None:
    if not (0 < value <= maximum):
        raise UsageError(f"{name} must be above 0 and at most {maximum:g}, not {value:g}.")


# -- profiles --------------------------------------------------------------------------

_PROFILE_KEYS = {
    "users": int,
    "spawn_rate": float,
    "duration": float,
    "warmup": float,
    "repeat": int,
    "mode": str,
    "scenario": str,
    "rate": float,
    "ramp_steps": str,
    "ramp_step": float,
    "seed_sessions": int,
    "seed_messages": int,
}
_PROFILE_TO_FIELD = {
    "duration": "duration_s", "warmup": "warmup_s", "ramp_step": "ramp_step_s",
    "processes": "loadgen_processes",
}


def profile_names() -> list[str]:
    return sorted(p.stem for p in PROFILES_DIR.glob("*.conf"))


def read_profile(name: str) -> dict[str, Any]:
    """A profile file as RunConfig field values. ``key = value`` lines; ``#`` comments."""
    path = PROFILES_DIR / f"{name}.conf"
    if not path.is_file():
        raise UsageError(
            f"Unknown profile {name!r}; available: {', '.join(profile_names()) or 'none'}."
        )
    values: dict[str, Any] = {}
    for lineno, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise UsageError(f"{path.name}:{lineno}: expected 'key = value', got {raw.strip()!r}.")
        key, value = (s.strip() for s in line.split("=", 1))
        key = key.replace("-", "_")
        if key not in _PROFILE_KEYS:
            continue  # keys for Locust itself (e.g. run-time) are not ours
        try:
            parsed = _PROFILE_KEYS[key](value)
        except ValueError:
            raise UsageError(
                f"{path.name}:{lineno}: {key} has an invalid value {value!r}."
            ) from None
        if key == "ramp_steps":
            parsed = parse_ramp_steps(value)
        values[_PROFILE_TO_FIELD.get(key, key)] = parsed
    values["profile"] = name
    return values


def parse_ramp_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise UsageError(f"Ramp steps must be user counts like '10,20,40', not {text!r}.") from None
    if not steps or any(s <= 0 for s in steps):
        raise UsageError(f"Ramp steps must be positive user counts, not {text!r}.")
    return steps


def parse_service_env(items: list[str]) -> dict[str, dict[str, str]]:
    """``["django:CHATBENCH_BURN_US=200"]`` → ``{"django": {"CHATBENCH_BURN_US": "200"}}``."""
    out: dict[str, dict[str, str]] = {}
    for item in items:
        variant, sep, assignment = item.partition(":")
        key, eq, value = assignment.partition("=")
        if not sep or not eq or not variant or not key:
            raise UsageError(f"--service-env takes VARIANT:NAME=VALUE, not {item!r}.")
        out.setdefault(variant, {})[key] = value
    return out


def build(profile: str | None = None, **overrides: Any) -> RunConfig:
    """Profile values, then every override that is not None, validated."""
    values = read_profile(profile or "quick")
    values.update({k: v for k, v in overrides.items() if v is not None})
    return RunConfig(**values).validate()
