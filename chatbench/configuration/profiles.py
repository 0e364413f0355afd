"""Load profiles (``loadtests/profiles/<name>.conf``), scenarios and modes: the one parser.

A profile is ``key = value`` lines with ``#`` comments (the keys are listed in
``smoke.conf``); seconds are plain numbers. :func:`read_profile` returns the values under
``RunConfig``'s field names, so a run, a suite and a load spec all start from the same dict.
The locustfile keeps its own copy of ``SCENARIOS`` and ``MODES`` (it must not import the
harness); ``tests/configuration/test_profiles.py`` checks that the two agree.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from chatbench.configuration.paths import PROFILES_DIR
from chatbench.errors import UsageError

SCENARIOS = ("chat", "read", "write", "detail")
MODES = ("closed", "rate", "ramp")

# Key in the file -> (RunConfig field, type).
PROFILE_KEYS: dict[str, tuple[str, type]] = {
    "users": ("users", int), "spawn_rate": ("spawn_rate", float),
    "duration": ("duration_s", float), "warmup": ("warmup_s", float), "repeat": ("repeat", int),
    "mode": ("mode", str), "scenario": ("scenario", str), "rate": ("rate", float),
    "ramp_steps": ("ramp_steps", str), "ramp_step": ("ramp_step_s", float),
    "seed_sessions": ("seed_sessions", int), "seed_messages": ("seed_messages", int),
    "processes": ("loadgen_processes", int),
    "equal_load": ("equal_load", str), "equal_load_warmup": ("equal_load_warmup_s", float),
    "equal_load_duration": ("equal_load_duration_s", float),
    "equal_load_repeat": ("equal_load_repeat", int), "slo": ("slo", str),
    "window_max": ("window_max_s", float), "tail": ("tail_percentile", float),
    "settle": ("settle_collections", int), "settle_max": ("settle_max_s", float),
}  # fmt: skip


class ProfileSpawnRate(float):
    """A spawn rate read from a profile file: a floor, not an explicit choice.

    ``RunConfig`` raises it to ``users / warmup`` (``spawn_rate_for``) so that changing
    ``--users`` or ``--warmup`` alone never leaves users spawning in the measured window. A
    spawn rate given any other way (a suite's ``spawn_rate``, an override, a plain
    ``RunConfig(spawn_rate=…)``) is a plain float, taken as given and only validated.
    """


def profile_names(directory: Path | None = None) -> list[str]:
    return sorted(p.stem for p in (directory or PROFILES_DIR).glob("*.conf"))


def _path(name: str | os.PathLike[str], directory: Path | None) -> Path:
    """A profile name, or a path to a ``.conf`` file taken as is."""
    given = Path(name)
    if given.suffix == ".conf" or os.sep in str(name):
        return given
    return (directory or PROFILES_DIR) / f"{name}.conf"


def read_profile(name: str | os.PathLike[str], *, directory: Path | None = None) -> dict[str, Any]:
    """A profile file as RunConfig field values, plus ``profile`` (its name)."""
    path = _path(name, directory)
    if not path.is_file():
        known = ", ".join(profile_names(directory)) or "none"
        raise UsageError(f"Unknown profile {str(name)!r}; available: {known}.")
    values: dict[str, Any] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if "=" not in line:
            raise UsageError(f"{path.name}:{lineno}: expected 'key = value', got {raw.strip()!r}.")
        written, value = (s.strip() for s in line.split("=", 1))
        key = written.replace("-", "_")
        if key not in PROFILE_KEYS:
            raise UsageError(
                f"{path}:{lineno}: unknown key {written!r}; known keys: "
                f"{', '.join(sorted(PROFILE_KEYS))}."
            )
        field, kind = PROFILE_KEYS[key]
        try:
            parsed = kind(value)
        except ValueError:
            raise UsageError(
                f"{path.name}:{lineno}: {key} has an invalid value {value!r}."
            ) from None
        if key in PARSED:
            parsed = PARSED[key](value)
        elif key == "spawn_rate":
            parsed = ProfileSpawnRate(parsed)
        values[field] = parsed
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


# Keys whose text is parsed, not just converted (in a profile and in a suite file alike).
PARSED: dict[str, Callable[[str], object]] = {
    "ramp_steps": parse_ramp_steps, "equal_load": parse_fractions, "slo": parse_slo,
}  # fmt: skip
