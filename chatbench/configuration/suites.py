"""Experiment suite files: a TOML grid of axis values, expanded into one interleaved run.

A suite (``loadtests/suites/<name>.toml``) asks one question of the write-up (concurrency,
pooling, caching, async vs sync). It names base variants, the axis values to try on each, and
the load to apply; ``chatbench run --suite NAME`` expands it into variant labels such as
``django[pool=none]`` and runs them all in one run, so they share one template database,
interleaved repetitions and every fairness rule. Afterwards it states the answer
(``chatbench.analysing.suite_answer``).

File format (every key but ``question`` and ``variants`` optional)::

    question = "Does a connection pool make either framework faster?"
    variants = ["django", "fastapi"]      # base variants (registry names)
    scenario = "chat"                     # run settings, as in a profile: scenario, mode,
    mode = "closed"                       # users, rate, duration, warmup, repeat, ...
    # scenarios = ["read", "chat"]        # instead of scenario: the whole grid once per scenario
    hold_constant = ["server", "workers"] # also compare the frameworks wherever these recorded
                                          # axes are equal (the same server program and workers)
    [grid]                                # axis -> values, for every base variant
    pool = ["none", "persistent", "pool"]
    [grid.django]                         # extra or replacing axes for one base variant
    server = ["sync", "gthread"]
    [profiles.smoke]                      # run settings for one profile (over the profile's)
    duration = 3

The first value of the grid is the baseline the others are compared with; with no grid the
base variants themselves are compared, the first of each framework being the baseline.

With ``scenarios`` the grid runs once per scenario, all in ONE run (one template database, one
interleaved order, the same fairness rules), each label carrying its scenario
(``django[cache=off,scenario=read]``, see ``settings.split_scenario``); every summary row has its
``scenario`` and the answer is given per scenario. Settings are only compared within a scenario.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbench.configuration import settings as config_mod
from chatbench.configuration import tomlfile
from chatbench.configuration import variants as variants_mod
from chatbench.configuration.paths import SUITES_DIR
from chatbench.configuration.profiles import RUN_KEYS, SCENARIOS, profile_names, run_settings
from chatbench.errors import UsageError

# Suite keys that set the run are a profile's keys (``profiles.RunSettings``).
SUITE_KEYS = {
    "question",
    "variants",
    "grid",
    "profiles",
    "accept_unfair",
    "scenarios",
    "hold_constant",
    *RUN_KEYS,
}


@dataclass(frozen=True)
class Suite:
    """One parsed, validated suite file."""

    name: str
    path: Path
    question: str
    bases: tuple[str, ...]
    grid: Mapping[str, Mapping[str, tuple[str, ...]]]  # base -> axis -> values
    run: Mapping[str, Any] = field(default_factory=dict)  # RunConfig fields
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Fairness rules the question itself breaks (e.g. keep_alive: gunicorn sync workers close
    # every connection); the report still shows them as violated.
    accept_unfair: tuple[str, ...] = ()
    # Two or more scenarios: the grid once per scenario (labels carry ``scenario=``); else ().
    scenarios: tuple[str, ...] = ()
    # Axes that, when a run records them equal for variants of two frameworks, make the pair a
    # framework comparison with the rest held constant (``suite_answer.across``); else ().
    hold_constant: tuple[str, ...] = ()

    def labels(self, scenarios: tuple[str, ...] | None = None) -> tuple[str, ...]:
        """Every variant label of the grid, base by base, in grid order; with several
        ``scenarios`` (default: the suite's) the whole grid per scenario, labels qualified."""
        scenarios = self.scenarios if scenarios is None else scenarios
        plain = self._plain_labels()
        if len(scenarios) < 2:
            return plain
        return tuple(config_mod.with_scenario(label, s) for s in scenarios for label in plain)

    def _plain_labels(self) -> tuple[str, ...]:
        out: list[str] = []
        for base in self.bases:
            axes = self.grid.get(base, {})
            if not axes:
                out.append(base)
                continue
            names = list(axes)
            for values in itertools.product(*(axes[a] for a in names)):
                label = ",".join(f"{a}={v}" for a, v in zip(names, values, strict=True))
                out.append(f"{base}[{label}]")
        return tuple(out)

    def settings_for(self, profile: str) -> dict[str, Any]:
        """RunConfig values: the suite's run settings, then its settings for ``profile``."""
        return {**self.run, **self.profiles.get(profile, {})}


def suite_names() -> list[str]:
    return sorted(p.stem for p in SUITES_DIR.glob("*.toml"))


def find(name_or_path: str) -> Path:
    """``pooling`` → loadtests/suites/pooling.toml; a path to a .toml file is taken as is."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml":
        if not candidate.is_file():
            raise UsageError(f"Suite file {name_or_path} does not exist.")
        return candidate
    path = SUITES_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise UsageError(
            f"Unknown suite {name_or_path!r}; available: {', '.join(suite_names()) or 'none'}."
        )
    return path


def load(name_or_path: str) -> Suite:
    """Read and validate a suite; every mistake is one sentence naming the file and the key."""
    path = find(name_or_path)
    where = path.name
    data = tomlfile.parse(path.read_text(encoding="utf-8"), where)
    unknown = sorted(set(data) - SUITE_KEYS)
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(SUITE_KEYS))}."
        )
    question = data.get("question")
    if not isinstance(question, str) or not question.strip():
        raise UsageError(f"{where}: 'question' must be a sentence saying what the suite answers.")
    bases = data.get("variants")
    if not isinstance(bases, list) or not bases or not all(isinstance(b, str) for b in bases):
        raise UsageError(f"{where}: 'variants' must be a list of variant names.")
    for base in bases:
        if base not in variants_mod.REGISTRY:
            raise UsageError(
                f"{where}: unknown variant {base!r}; known variants: "
                f"{', '.join(variants_mod.REGISTRY)}."
            )
    scenarios = _scenarios(where, data)
    suite = Suite(
        name=path.stem,
        path=path,
        question=question.strip(),
        bases=tuple(bases),
        grid=_grid(where, data.get("grid", {}), tuple(bases)),
        run=_run_settings(where, data),
        profiles=_profiles(where, data.get("profiles", {})),
        accept_unfair=_names(where, "accept_unfair", data.get("accept_unfair", [])),
        scenarios=scenarios if len(scenarios) > 1 else (),
        hold_constant=_held_axes(where, data.get("hold_constant", [])),
    )
    if scenarios:  # the run's own scenario is the first; labels carry the others
        suite = dataclasses.replace(suite, run={**suite.run, "scenario": scenarios[0]})
        for name, table in suite.profiles.items():
            if "scenario" in table and len(scenarios) > 1:
                raise UsageError(
                    f"{where}: [profiles.{name}] sets scenario, but the suite runs 'scenarios'."
                )
    for label in suite.labels(()):  # every value checked against the variant's framework
        try:
            variants_mod.get(label)
        except UsageError as exc:
            raise UsageError(f"{where}: {exc.message}") from None
    return suite


def _scenarios(where: str, data: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``scenarios`` list, checked: known names, no repeats, not together with ``scenario``."""
    if "scenarios" not in data:
        return ()
    if "scenario" in data:
        raise UsageError(f"{where}: give either 'scenario' or 'scenarios', not both.")
    names = data["scenarios"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise UsageError(f"{where}: 'scenarios' must be a non-empty list of scenario names.")
    for name in names:
        _check_scenario(where, name)
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: 'scenarios' lists a scenario twice.")
    return tuple(names)


def _check_scenario(where: str, name: str) -> None:
    if name not in SCENARIOS:
        raise UsageError(
            f"{where}: unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}."
        )


def _names(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key!r} must be a list of names.")
    return tuple(value)


def _held_axes(where: str, value: Any) -> tuple[str, ...]:
    names = _names(where, "hold_constant", value)
    if len(set(names)) != len(names):
        raise UsageError(f"{where}: 'hold_constant' names an axis twice.")
    for name in names:
        if name not in variants_mod.AXES:
            raise UsageError(
                f"{where}: hold_constant names unknown axis {name!r}; known axes: "
                f"{', '.join(variants_mod.AXES)}."
            )
    return names


def _axis_values(where: str, axis: str, values: Any) -> tuple[str, ...]:
    if axis not in variants_mod.AXES:
        raise UsageError(
            f"{where}: unknown axis {axis!r}; known axes: {', '.join(variants_mod.AXES)}."
        )
    if not isinstance(values, list) or not values:
        raise UsageError(f"{where}: axis {axis} needs a non-empty list of values.")
    out = tuple(str(v) for v in values)
    if len(set(out)) != len(out):
        raise UsageError(f"{where}: axis {axis} lists a value twice.")
    return out


def _grid(where: str, raw: Any, bases: tuple[str, ...]) -> dict[str, dict[str, tuple[str, ...]]]:
    if not isinstance(raw, dict):
        raise UsageError(f"{where}: 'grid' must be a table of axis = [values].")
    common = {k: v for k, v in raw.items() if not isinstance(v, dict)}
    per_base = {k: v for k, v in raw.items() if isinstance(v, dict)}
    for name in per_base:
        if name not in bases:
            raise UsageError(f"{where}: [grid.{name}] names a variant not in 'variants'.")
    grid: dict[str, dict[str, tuple[str, ...]]] = {}
    for base in bases:
        merged = {**common, **per_base.get(base, {})}
        grid[base] = {a: _axis_values(where, a, v) for a, v in merged.items()}
    return grid


def _run_settings(where: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return run_settings(where, {k: v for k, v in data.items() if k in RUN_KEYS})


def _profiles(where: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise UsageError(f"{where}: 'profiles' must hold tables like [profiles.smoke].")
    known = profile_names()
    for name in raw:
        if name not in known:
            raise UsageError(
                f"{where}: [profiles.{name}] is not a profile; available: {', '.join(known)}."
            )
    return {
        name: run_settings(where, table, table=f"profiles.{name}") for name, table in raw.items()
    }


def build_config(suite: Suite, profile: str, **overrides: Any) -> config_mod.RunConfig:
    """The run of ``suite`` under ``profile``: profile, then suite settings, then CLI overrides."""
    # --scenario on the command line runs the grid for that one scenario only.
    one_scenario = () if overrides.get("scenario") else None
    # A suite answers its own question from its closed-loop figures: no equal-load phase
    # unless its settings ask for one.
    base = {"equal_load": (), **suite.settings_for(profile), "variants": suite.labels(one_scenario)}
    return config_mod.build(profile, base, base_origin=f"suite {suite.name}", **overrides)
