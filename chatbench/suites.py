"""Experiment suites: a TOML grid of axis values, expanded into one interleaved run, answered.

A suite (``loadtests/suites/<name>.toml``) asks one question of the write-up (concurrency,
pooling, caching, async vs sync). It names base variants, the axis values to try on each, and
the load to apply; ``chatbench run --suite NAME`` expands it into variant labels such as
``django[pool=none]`` and runs them all in one run, so they share one template database,
interleaved repetitions and every fairness rule. Afterwards it states the answer: per framework,
each setting's throughput with its interval, the best one, and its ratio to the baseline (see
``answer`` for which interval each figure gets at how many repetitions).

File format (every key but ``question`` and ``variants`` optional)::

    question = "Does a connection pool make either framework faster?"
    variants = ["django", "fastapi"]      # base variants (registry names)
    scenario = "chat"                     # run settings, as in a profile: scenario, mode,
    mode = "closed"                       # users, rate, duration, warmup, repeat, ...
    # scenarios = ["read", "chat"]        # instead of scenario: the whole grid once per scenario
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
(``django[cache=off,scenario=read]``, see ``config.split_scenario``); every summary row has its
``scenario`` and the answer is given per scenario. Settings are only compared within a scenario.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chatbench import config as config_mod
from chatbench import variants as variants_mod
from chatbench.errors import UsageError

log = logging.getLogger(__name__)

SUITES_DIR = config_mod.REPO_ROOT / "loadtests" / "suites"
ANSWER_METRIC = "rps"
ANSWER_LATENCY = "p95"
ALL_ENDPOINTS = "ALL"

# Suite keys that set the run (the profile file's names) -> RunConfig field, and their type.
RUN_KEYS: dict[str, tuple[str, type]] = {
    "scenario": ("scenario", str),
    "mode": ("mode", str),
    "users": ("users", int),
    "spawn_rate": ("spawn_rate", float),
    "rate": ("rate", float),
    "duration": ("duration_s", float),
    "warmup": ("warmup_s", float),
    "repeat": ("repeat", int),
    "ramp_steps": ("ramp_steps", str),
    "ramp_step": ("ramp_step_s", float),
    "seed_sessions": ("seed_sessions", int),
    "seed_messages": ("seed_messages", int),
    "processes": ("loadgen_processes", int),
}
SUITE_KEYS = {"question", "variants", "grid", "profiles", "accept_unfair", "scenarios", *RUN_KEYS}


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
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{where} is not valid TOML ({exc}).") from None
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
    if name not in config_mod.SCENARIOS:
        raise UsageError(
            f"{where}: unknown scenario {name!r}; choose one of {', '.join(config_mod.SCENARIOS)}."
        )


def _names(where: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f"{where}: {key!r} must be a list of names.")
    return tuple(value)


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


def _convert(where: str, key: str, value: Any) -> tuple[str, Any]:
    if key not in RUN_KEYS:
        raise UsageError(
            f"{where}: unknown run setting {key!r}; known: {', '.join(sorted(RUN_KEYS))}."
        )
    name, kind = RUN_KEYS[key]
    if key == "ramp_steps":
        text = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
        return name, config_mod.parse_ramp_steps(text)
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UsageError(f"{where}: {key} has an invalid value {value!r}.")
    try:
        converted = kind(value)
    except ValueError:
        raise UsageError(f"{where}: {key} has an invalid value {value!r}.") from None
    if key == "scenario":
        _check_scenario(where, converted)
    return name, converted


def _run_settings(where: str, data: Mapping[str, Any]) -> dict[str, Any]:
    return dict(_convert(where, k, v) for k, v in data.items() if k in RUN_KEYS)


def _profiles(where: str, raw: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(raw, dict) or not all(isinstance(v, dict) for v in raw.values()):
        raise UsageError(f"{where}: 'profiles' must hold tables like [profiles.smoke].")
    known = config_mod.profile_names()
    for name in raw:
        if name not in known:
            raise UsageError(
                f"{where}: [profiles.{name}] is not a profile; available: {', '.join(known)}."
            )
    return {
        name: dict(_convert(where, k, v) for k, v in table.items()) for name, table in raw.items()
    }


def build_config(suite: Suite, profile: str, **overrides: Any) -> config_mod.RunConfig:
    """The run of ``suite`` under ``profile``: profile, then suite settings, then CLI overrides."""
    # --scenario on the command line runs the grid for that one scenario only.
    one_scenario = () if overrides.get("scenario") else None
    values = {
        **config_mod.read_profile(profile),
        **suite.settings_for(profile),
        "variants": suite.labels(one_scenario),
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    if values.get("mode") != "rate" and "rate" not in overrides:
        values.pop("rate", None)  # the profile's rate belongs to its own rate mode
    return config_mod.RunConfig(**values).validate()


# -- the answer ------------------------------------------------------------------------------


def setting_of(label: str, bases_of_framework: set[str]) -> str:
    """What distinguishes a variant inside its framework: ``pool=none``, or ``django-async``
    (a label's ``scenario=`` is not a setting: settings are compared within a scenario)."""
    plain = config_mod.split_scenario(label)[0]
    spec = variants_mod.get(plain)
    base = plain.split("[", 1)[0]
    axes = ",".join(f"{k}={v}" for k, v in spec.axes.items())
    if len(bases_of_framework) > 1:
        return f"{base} ({axes})" if axes else base
    return axes or base


@dataclass(frozen=True)
class GridCell:
    """Where one run label sits in a suite's grid: which scenario, framework and setting."""

    scenario: str
    framework: str
    setting: str


def grid_cells(run: Any) -> dict[str, GridCell]:
    """Every variant of a (loaded) suite run → its grid cell, in the run's variant order.

    Settings are named within one scenario × framework (see ``setting_of``); the answer and
    the grid chart both group by this.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for label in run.variants:
        framework = variants_mod.get(config_mod.split_scenario(label)[0]).framework
        groups.setdefault((run.variant_scenario(label), framework), []).append(label)
    cells = {}
    for (scenario, framework), labels in groups.items():
        bases = {config_mod.split_scenario(label)[0].split("[", 1)[0] for label in labels}
        for label in labels:
            cells[label] = GridCell(scenario, framework, setting_of(label, bases))
    return {label: cells[label] for label in run.variants}


def answer(run_dir: Path) -> dict[str, Any]:
    """Per scenario and framework: every setting's throughput with its interval, the best, and
    best vs the baseline (the first setting of the grid).

    Read from the run directory's raw data through ``results`` (the same numbers as the
    summary). A setting's throughput is ``stats.interval`` over its repetitions (geometric
    mean, 95 % t interval on the log values); the ratio to the baseline is
    ``stats.ratio_interval`` (Welch's t-test on the log values, with its p). Each sentence
    names its method: "95 % CI" and a p only from 3 repetitions a side; with 2 the range of 2
    and "not judged (n = 2)"; with 1 no interval and "not judged (n = 1)". A run over several
    scenarios prefixes each sentence with its scenario.
    """
    from chatbench import results

    run = results.load_run(run_dir)
    reps = results.repetition_metrics(run)
    reps = reps[reps["endpoint"] == ALL_ENDPOINTS]
    cells = grid_cells(run)
    groups: dict[str, dict[str, list[str]]] = {}
    for label, cell in cells.items():
        groups.setdefault(cell.scenario, {}).setdefault(cell.framework, []).append(label)
    cache_stats = (run.meta.get("cache") or {}).get("stats") or {}

    def values(label: str, metric: str) -> list[float]:
        sub = reps[(reps["variant"] == label) & (reps["metric"] == metric)]
        return [float(v) for v in sub["value"]]

    out: dict[str, Any] = {"metric": ANSWER_METRIC, "scenarios": {}, "sentences": []}
    for scenario, frameworks in groups.items():
        prefix = f"{scenario} scenario, " if len(groups) > 1 else ""
        out["scenarios"][scenario] = {}
        for framework, labels in frameworks.items():
            settings = []
            for label in labels:
                hits = [
                    s.get("hit_ratio") for k, s in cache_stats.items() if k.split("#")[0] == label
                ]
                hits = [h for h in hits if h is not None]
                settings.append(_setting(label, cells[label].setting, values, hits))
            entry, sentence = framework_answer(framework, settings, values)
            if sentence:
                out["sentences"].append(prefix + sentence)
            out["scenarios"][scenario][framework] = entry
    if len(groups) == 1:
        out["frameworks"] = next(iter(out["scenarios"].values()))
    return out


def _setting(label: str, setting: str, values: Any, hits: list[float]) -> dict[str, Any]:
    """One setting's figures: throughput (``stats.interval``), p95, Valkey hit ratio."""
    from chatbench import stats

    est = stats.interval(values(label, ANSWER_METRIC))
    p95 = stats.interval(values(label, ANSWER_LATENCY))
    return {
        "variant": label,
        "setting": setting,
        "rps": est.value, "rps_ci": [est.low, est.high], "rps_interval": est.method, "n": est.n,
        "p95_ms": p95.value,
        "cache_hit_ratio": sum(hits) / len(hits) if hits else None,
    }  # fmt: skip


def framework_answer(
    framework: str, settings: list[dict[str, Any]], values: Any
) -> tuple[dict[str, Any], str]:
    """One framework's answer entry and its sentence ("" when fewer than 2 settings were
    measured). ``values(label, metric)`` gives a label's per-repetition values."""
    entry = _compare_settings(settings, values)
    if "ratio" not in entry:
        return entry, ""
    best = next(s for s in settings if s["setting"] == entry["best"])
    return entry, _sentence(framework, entry, best)


def _compare_settings(settings: list[dict[str, Any]], values: Any) -> dict[str, Any]:
    """The best setting, and it (or, when the baseline is best, the runner-up) vs the baseline."""
    from chatbench import stats

    measured = [s for s in settings if math.isfinite(s["rps"])]
    entry: dict[str, Any] = {"settings": settings}
    if len(measured) < 2:
        return entry
    baseline = settings[0]
    best = max(measured, key=lambda s: s["rps"])
    other = best if best is not baseline else max(measured[1:], key=lambda s: s["rps"])
    ratio, p = stats.ratio_interval(
        values(other["variant"], ANSWER_METRIC), values(baseline["variant"], ANSWER_METRIC)
    )
    p95_change = (
        other["p95_ms"] / baseline["p95_ms"] - 1
        if baseline["p95_ms"] and math.isfinite(other["p95_ms"])
        else math.nan
    )
    entry.update(
        best=best["setting"], baseline=baseline["setting"], compared=other["setting"],
        ratio=ratio.value, ratio_ci=[ratio.low, ratio.high], ratio_interval=ratio.method,
        ratio_n=ratio.n, ratio_p=p,
        significant=stats.is_significant(ratio, p), p95_change=p95_change,
    )  # fmt: skip
    return entry


def _bounds(method: str, n: int, low: float, high: float, fmt: str, method_name: str) -> str:
    """``95 % CI 1.01–1.09, <method_name>``, ``range of 2: 0.98–1.10`` or ``n = 1, no
    interval``: a "95 % CI" only where there is one."""
    from chatbench import stats

    if method in stats.CI_METHODS and math.isfinite(low) and math.isfinite(high):
        return f"95 % CI {low:{fmt}}–{high:{fmt}}, {method_name}"
    if method == stats.RANGE and math.isfinite(low) and math.isfinite(high):
        return f"range of {n}: {low:{fmt}}–{high:{fmt}}"
    return f"n = {n}, no interval"


def _sentence(framework: str, entry: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    from chatbench import stats

    low, high = entry["ratio_ci"]
    p95 = entry["p95_change"]
    p95_text = f", p95 {p95 * 100:+.0f} %".replace("-", "−") if math.isfinite(p95) else ""
    rps = _bounds(best["rps_interval"], best["n"], *best["rps_ci"], ".0f", "t on log values")
    ratio = _bounds(
        entry["ratio_interval"], entry["ratio_n"], low, high, ".2f", "Welch's t on log values"
    )
    if entry["ratio_interval"] in stats.CI_METHODS:
        judged = "significant" if entry["significant"] else "not significant"
        ratio += f", p = {entry['ratio_p']:.2g}: {judged}"
    else:
        ratio += f"; not judged (n = {entry['ratio_n']})"
    text = (
        f"{framework}: best {best['setting']} at {best['rps']:.0f} req/s ({rps}); "
        f"{entry['compared']} vs {entry['baseline']} = {entry['ratio']:.2f}× throughput "
        f"({ratio}){p95_text}"
    )
    hit = next((s["cache_hit_ratio"] for s in entry["settings"] if s["cache_hit_ratio"]), None)
    if hit is not None:
        text += f"; Valkey hit ratio {hit * 100:.0f} %"
    return text + "."


def write_answer(run_dir: Path, suite: Suite) -> dict[str, Any]:
    """Add the suite, its question and its answer to meta.json, write answer.json, redo the
    report (whose header then states them)."""
    import json

    from chatbench import charts, report, results

    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["question"] = suite.question
    meta["suite"] = {
        "name": suite.name,
        "file": str(suite.path),
        "grid": {b: {a: list(v) for a, v in axes.items()} for b, axes in suite.grid.items()},
        "accept_unfair": list(suite.accept_unfair),
    }
    results.write_json_atomic(meta_path, meta)
    result = refresh_answer(run_dir)
    run = results.load_run(run_dir)
    try:  # drawn here: it needs meta["suite"], which the run's own charts did not have yet
        charts.draw_chart(run, charts.GRID_CHART)
    except charts.ChartSkipped as exc:
        log.info("grid chart skipped: %s", exc)
    report.write_report(run_dir, run)
    return result


def refresh_answer(run_dir: Path) -> dict[str, Any]:
    """A suite run's answer computed again from its raw data (``answer``) and stored:
    answer.json, and the sentences and scenarios in meta.json's ``suite``. ``chatbench report``
    calls it, so a redrawn report states its answer with today's interval methods."""
    import json

    from chatbench import results

    meta_path = run_dir / "meta.json"
    meta = json.loads(meta_path.read_text())
    result = answer(run_dir)
    result["suite"] = meta["suite"].get("name")
    result["question"] = meta.get("question")
    results.write_json_atomic(run_dir / "answer.json", result)
    meta["suite"]["answer"] = result["sentences"]
    meta["suite"]["scenarios"] = list(result["scenarios"])
    results.write_json_atomic(meta_path, meta)
    return result


def read_answer(run_dir: Path) -> list[str]:
    """The answer sentences written by :func:`write_answer` (none when there is no answer)."""
    import json

    try:
        return list(json.loads((run_dir / "answer.json").read_text()).get("sentences", []))
    except (OSError, ValueError):
        return []


def run(suite: Suite, cfg: config_mod.RunConfig, *, progress=None, hooks=None):
    """Run the suite's grid as one run (``runner.Run``), then write its answer.

    The answer is written even when the run ends "not comparable" (its data is complete and
    the report says which rule failed); that verdict is then raised as usual.
    """
    import secrets
    from datetime import UTC, datetime

    from chatbench import runner
    from chatbench.fairness import NotComparable

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_id = f"{stamp}-suite-{suite.name}-{secrets.token_hex(2)}"
    the_run = runner.Run(cfg, progress=progress, hooks=hooks, run_id=run_id)
    try:
        outcome = the_run.execute()
    except NotComparable:
        write_answer(the_run.run_dir, suite)
        violated = set(the_run.meta.get("fairness", {}).get("violated") or [])
        if not violated or not violated <= set(suite.accept_unfair):
            raise
        note = (
            f"fairness rule(s) {', '.join(sorted(violated))} differ by design in the "
            f"{suite.name} suite (accept_unfair in {suite.path.name})"
        )
        meta = the_run.meta
        return runner.RunOutcome(
            the_run.run_dir, meta["status"], meta["integrity"], [*meta["warnings"], note]
        )
    write_answer(outcome.run_dir, suite)
    return outcome
