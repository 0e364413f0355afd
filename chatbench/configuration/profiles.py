"""Load profiles (``loadtests/profiles/<name>.toml``), scenarios and modes: the one reader.

A profile is a TOML file of run settings (``smoke.toml`` lists every key with its meaning); the
same keys set the run in a suite file and its ``[profiles.NAME]`` tables. :class:`RunSettings`
validates them (pydantic: an unknown key, a wrong type or a value out of range is one sentence
naming the file and the key), and :func:`read_profile` returns the values under ``RunConfig``'s
field names, so a run, a suite and a load spec all start from the same dict.
The locustfile keeps its own copy of ``SCENARIOS`` and ``MODES`` (it must not import the
harness); ``tests/configuration/test_profiles.py`` checks that the two agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chatbench.configuration import tomlfile
from chatbench.configuration.paths import PROFILES_DIR
from chatbench.errors import UsageError

SCENARIOS = ("chat", "read", "write", "detail")
MODES = ("closed", "rate", "ramp")
PROFILE_SUFFIX = ".toml"


class ProfileSpawnRate(float):
    """A spawn rate read from a profile file: a floor, not an explicit choice.

    ``RunConfig`` raises it to ``users / warmup`` (``spawn_rate_for``) so that changing
    ``--users`` or ``--warmup`` alone never leaves users spawning in the measured window. A
    spawn rate given any other way (a suite's ``spawn_rate``, an override, a plain
    ``RunConfig(spawn_rate=…)``) is a plain float, taken as given and only validated.
    """


def _parsed(parse: Any, value: object) -> object:
    """A key whose text is parsed (``"10,20"``, ``"0.5,0.8"``, ``"p99=50ms"``): its parser's
    refusal becomes pydantic's, so the sentence names the file and the key."""
    if isinstance(value, list):
        value = ",".join(str(v) for v in value)
    if not isinstance(value, str):
        raise ValueError(f"expected text or a list, not {value!r}")
    try:
        return parse(value)
    except UsageError as exc:
        raise ValueError(exc.message) from None


class RunSettings(BaseModel):
    """The run keys of a profile, of a suite and of a suite's ``[profiles.NAME]`` tables.

    Every key is optional; what a file leaves out comes from the layer below it (the profile
    under a suite, ``RunConfig``'s defaults under a profile). Seconds are plain numbers.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    scenario: Literal[SCENARIOS] | None = None  # type: ignore[valid-type]
    workload: str | None = Field(None, min_length=1)
    mode: Literal[MODES] | None = None  # type: ignore[valid-type]
    users: int | None = Field(None, gt=0, le=5000)
    spawn_rate: float | None = Field(None, gt=0)
    rate: float | None = Field(None, gt=0)
    warmup: float | None = Field(None, ge=0)
    duration: float | None = Field(None, gt=0)
    repeat: int | None = Field(None, gt=0, le=1000)
    processes: int | None = Field(None, gt=0, le=64)
    ramp_steps: tuple[int, ...] | None = None
    ramp_step: float | None = Field(None, gt=0)
    seed_sessions: int | None = Field(None, gt=0, le=10_000_000)
    seed_messages: int | None = Field(None, gt=0, le=10_000)
    equal_load: tuple[float, ...] | None = None
    equal_load_warmup: float | None = Field(None, ge=0)
    equal_load_duration: float | None = Field(None, gt=0)
    equal_load_repeat: int | None = Field(None, gt=0, le=1000)
    window_max: float | None = Field(None, gt=0)
    tail: float | None = Field(None, gt=0, lt=100)
    settle: int | None = Field(None, ge=0, le=100)
    settle_max: float | None = Field(None, gt=0, le=3600)
    slo: str | None = None

    @field_validator("ramp_steps", mode="before")
    @classmethod
    def _ramp_steps(cls, value: object) -> object:
        return _parsed(parse_ramp_steps, value)

    @field_validator("equal_load", mode="before")
    @classmethod
    def _equal_load(cls, value: object) -> object:
        return _parsed(parse_fractions, value)

    @field_validator("slo", mode="before")
    @classmethod
    def _slo(cls, value: object) -> object:
        return _parsed(parse_slo, value)

    def run_fields(self) -> dict[str, Any]:
        """The keys the file set, under ``RunConfig``'s field names."""
        return {RUN_FIELDS.get(k, k): v for k, v in self.model_dump(exclude_unset=True).items()}


# Key in a file -> RunConfig field, where the two names differ.
RUN_FIELDS: dict[str, str] = {
    "duration": "duration_s",
    "warmup": "warmup_s",
    "ramp_step": "ramp_step_s",
    "processes": "loadgen_processes",
    "equal_load_warmup": "equal_load_warmup_s",
    "equal_load_duration": "equal_load_duration_s",
    "window_max": "window_max_s",
    "tail": "tail_percentile",
    "settle": "settle_collections",
    "settle_max": "settle_max_s",
}
RUN_KEYS: frozenset[str] = frozenset(RunSettings.model_fields)


def run_settings(where: str, data: Mapping[str, Any], *, table: str = "") -> dict[str, Any]:
    """``data`` (a file's run keys, or those of its ``table``) validated, as RunConfig field
    values; ``where`` names the file in the sentence a mistake gets."""
    try:
        return RunSettings.model_validate(dict(data)).run_fields()
    except ValidationError as exc:
        raise tomlfile.sentence(where, exc, RUN_KEYS, table=table) from None


def profile_names(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or PROFILES_DIR).glob(f"*{PROFILE_SUFFIX}"))


def _path(name: str | os.PathLike[str], directory: Path | None) -> Path:
    """A profile name, or a path to a profile file taken as is."""
    given = Path(name)
    if given.suffix or os.sep in str(name):
        return given
    return (directory or PROFILES_DIR) / f"{name}{PROFILE_SUFFIX}"


def read_profile(name: str | os.PathLike[str], *, directory: Path | None = None) -> dict[str, Any]:
    """A profile file as RunConfig field values, plus ``profile`` (its name)."""
    path = _path(name, directory)
    if path.suffix != PROFILE_SUFFIX:
        raise UsageError(
            f"Profile {str(name)!r} is not a TOML file; a profile is a .toml file of run "
            f"settings like {PROFILES_DIR / 'smoke.toml'}."
        )
    if not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        raise UsageError(f"Unknown profile {str(name)!r}; available: {known}.")
    values = run_settings(f"Profile {path}", tomlfile.read(path, "Profile"))
    if "spawn_rate" in values:
        values["spawn_rate"] = ProfileSpawnRate(values["spawn_rate"])
    values["profile"] = path.stem
    return values


def parse_ramp_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(s) for s in text.replace(" ", "").split(",") if s)
    except ValueError:
        raise UsageError(f"Ramp steps must be user counts like '10,20,40', not {text!r}.") from None
    if not steps or any(s <= 0 for s in steps):
        raise UsageError(f"Ramp steps must be positive user counts, not {text!r}.")
    return steps


# Above 1 a rate overloads every variant on purpose (tests/workflows/test_equal_load.py).
MAX_FRACTION = 3.0


def parse_fractions(text: str) -> tuple[float, ...]:
    """``"0.5,0.8"`` → (0.5, 0.8): the equal-load phase's rates as fractions of the slowest
    variant's capacity; ``"off"`` (or ``"none"``, ``""``) → () (no phase)."""
    cleaned = text.replace(" ", "").lower()
    if cleaned in ("", "off", "none"):
        return ()
    try:
        fractions = tuple(float(s) for s in cleaned.split(",") if s)
    except ValueError:
        fractions = ()
    if not fractions or any(not 0 < f <= MAX_FRACTION for f in fractions):
        raise UsageError(
            f"Equal-load fractions must be fractions of the capacity above 0 and at most "
            f"{MAX_FRACTION:g} like '0.5,0.8' (or 'off'), not {text!r}."
        )
    return tuple(sorted(set(fractions)))


_SLO = re.compile(r"^p(\d+(?:\.\d+)?)=(\d+(?:\.\d+)?)ms$")


def parse_slo(text: str) -> str:
    """``"p99=50ms"`` → ``"p99=50ms"`` (canonical): a latency objective, a percentile from p50
    to p99.9 and a bound in milliseconds; anything else is a usage error."""
    found = _SLO.match(text.replace(" ", "").lower())
    if found:
        percentile, ms = float(found.group(1)), float(found.group(2))
        if 50 <= percentile <= 99.9 and ms > 0:
            return f"p{percentile:g}={ms:g}ms"
    raise UsageError(
        f"A latency objective is a percentile from p50 to p99.9 and a bound in ms like "
        f"'p99=50ms', not {text!r}."
    )


def slo_parts(slo: str) -> tuple[float, float]:
    """``"p99=50ms"`` → (99.0, 50.0)."""
    found = _SLO.match(parse_slo(slo))
    assert found is not None  # parse_slo returned a canonical objective
    return float(found.group(1)), float(found.group(2))
