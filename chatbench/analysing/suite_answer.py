"""A suite's answer: per scenario and framework, each setting's throughput and the highest one.

"Highest", not "best": one comparison is judged — the highest setting against the baseline
(against the runner-up when the baseline is highest) — and the sentence says whether that
difference is significant; it claims nothing about the other pairs. A suite that names axes to
``hold_constant`` also gets one sentence per cross-framework pair run with those axes equal
(the concurrency suite: both frameworks on granian, or both on uvicorn, with the same workers),
so "is the gap the framework or the server?" has a measured answer.

The first setting of the grid is the baseline the others are compared with (see
``configuration.suites``). Every figure names the interval method that produced it
(``analysing.stats``): a 95 % CI and a p only from 3 repetitions a side, the range of 2 with
2, no interval with 1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbench.analysing import stats
from chatbench.analysing.tables import repetition_metrics, without_invalid
from chatbench.configuration import variants as variants_mod
from chatbench.configuration.endpoints import ALL
from chatbench.configuration.settings import split_scenario
from chatbench.load.health import LOOP_LAG_LIMIT_MS
from chatbench.storing.rundir import Run, load_run

ANSWER_METRIC = "rps"
ANSWER_LATENCY = "p95"


def setting_of(label: str, bases_of_framework: set[str]) -> str:
    """What distinguishes a variant inside its framework: ``pool=none``, or ``django-async``
    (a label's ``scenario=`` is not a setting: settings are compared within a scenario)."""
    plain = split_scenario(label)[0]
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


def grid_cells(run: Run) -> dict[str, GridCell]:
    """Every variant of a (loaded) suite run → its grid cell, in the run's variant order.

    Settings are named within one scenario × framework (see ``setting_of``); the answer and
    the grid chart both group by this.
    """
    groups: dict[tuple[str, str], list[str]] = {}
    for label in run.variants:
        framework = variants_mod.get(split_scenario(label)[0]).framework
        groups.setdefault((run.variant_scenario(label), framework), []).append(label)
    cells = {}
    for (scenario, framework), labels in groups.items():
        bases = {split_scenario(label)[0].split("[", 1)[0] for label in labels}
        for label in labels:
            cells[label] = GridCell(scenario, framework, setting_of(label, bases))
    return {label: cells[label] for label in run.variants}


def answer(source: Run | Path) -> dict[str, Any]:
    """Per scenario and framework: every setting's throughput with its interval, the best, and
    best vs the baseline (the first setting of the grid).

    Read from the run's raw data through ``tables`` (the same numbers as the summary). A
    setting's throughput is ``stats.interval`` over its repetitions (geometric mean, 95 % t
    interval on the log values); the ratio to the baseline is ``stats.ratio_interval``
    (Welch's t-test on the log values, with its p). Each sentence
    names its method: "95 % CI" and a p only from 3 repetitions a side; with 2 the range of 2
    and "not judged (n = 2)"; with 1 no interval and "not judged (n = 1)". A run over several
    scenarios prefixes each sentence with its scenario.
    """
    run = source if isinstance(source, Run) else load_run(source)
    cells = grid_cells(run)
    invalid = run.record.invalid
    run, _ = without_invalid(run)
    reps = repetition_metrics(run)
    reps = reps[reps["endpoint"] == ALL] if not reps.empty else reps
    groups: dict[str, dict[str, list[str]]] = {}
    for label, cell in cells.items():
        groups.setdefault(cell.scenario, {}).setdefault(cell.framework, []).append(label)
    cache_stats = run.record.cache.stats if run.record.cache else {}
    kept = {r.variant for r in run.repetitions}
    held = list(run.record.suite.hold_constant) if run.record.suite else []

    def values(label: str, metric: str) -> list[float]:
        if reps.empty:
            return []
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
            unmeasured = _unmeasured(
                framework, [x for x in labels if x not in kept], cells, invalid
            )
            if unmeasured:
                entry["unmeasured"] = unmeasured
                out["sentences"].append(prefix + unmeasured)
            partly = _partly_invalid(framework, [x for x in labels if x in kept], cells, invalid)
            if partly:
                entry["partly_invalid"] = partly
                out["sentences"].append(prefix + partly)
            shared = _database_saturated(framework, labels, cells, run)
            if shared:
                entry["database_saturated"] = shared
                out["sentences"].append(prefix + shared)
            out["scenarios"][scenario][framework] = entry
        for pair in across(run, held, [x for fw in frameworks.values() for x in fw if x in kept]):
            out.setdefault("across", {}).setdefault(scenario, []).append(pair)
            out["sentences"].append(prefix + _across_sentence(pair, values))
    if len(groups) == 1:
        out["frameworks"] = next(iter(out["scenarios"].values()))
    return out


def across(run: Run, held: list[str], labels: list[str]) -> list[dict[str, Any]]:
    """The framework comparisons with ``held`` axes constant: every label of the first
    framework paired with every label of another whose run records those axes equal (as
    started: the worker count the service was given, the server program, so Django's
    ``asgi`` and FastAPI's ``uvicorn`` are both uvicorn), the first framework's label the
    reference."""
    if not held:
        return []
    recorded = run.record.variants

    def key(label: str) -> tuple[Any, ...] | None:
        axes = recorded[label].axes if label in recorded else {}
        if not all(a in axes for a in held):
            return None
        values = (str(axes[a]) for a in held)
        return tuple(
            variants_mod.SERVER_PROGRAMS.get(v, v) if a == "server" else v
            for a, v in zip(held, values, strict=True)
        )

    known = [x for x in labels if x in recorded and key(x) is not None]
    if not known:
        return []
    first = recorded[known[0]].framework
    pairs = []
    for reference in (x for x in known if recorded[x].framework == first):
        for other in (x for x in known if recorded[x].framework != first):
            if key(reference) == key(other):
                setting = ", ".join(f"{a}={v}" for a, v in zip(held, key(other), strict=True))
                pairs.append({"reference": reference, "other": other, "held": setting})
    return pairs


def _across_sentence(pair: dict[str, Any], values: Any) -> str:
    """``same server=granian, workers=1: fastapi[…] vs django[…] = 1.80× throughput (…)``,
    the ratio's figures added to ``pair``."""
    ratio, p = stats.ratio_interval(
        values(pair["other"], ANSWER_METRIC), values(pair["reference"], ANSWER_METRIC)
    )
    pair.update(
        ratio=ratio.value, ratio_ci=[ratio.low, ratio.high], ratio_interval=ratio.method,
        ratio_n=ratio.n, ratio_p=p, significant=stats.is_significant(ratio, p),
    )  # fmt: skip
    text = _ratio_text(pair)
    return (
        f"same {pair['held']}: {pair['other']} vs {pair['reference']} = {ratio.value:.2f}× "
        f"throughput ({text})."
    )


def _unmeasured(
    framework: str,
    labels: list[str],
    cells: Mapping[str, GridCell],
    invalid: Mapping[tuple[str, int], str],
) -> str:
    """The sentence for a framework's settings (``labels``, none of them with a repetition left)
    whose every repetition was invalid ("" when none): they are left out of the comparison, and
    the answer says so and why."""
    parts = []
    for label in labels:
        # "loadgen saturated: CPU set [0] busy 97 % …" → "loadgen saturated": the kind, once.
        reasons = sorted({why.split(":")[0] for (v, _), why in invalid.items() if v == label})
        if reasons:
            parts.append(f"{cells[label].setting} ({'; '.join(reasons)})")
    if not parts:
        return ""
    return (
        f"{framework}: not measured on this machine — every repetition of "
        f"{', '.join(parts)} was invalid, so it is left out of the comparison."
    )


def _partly_invalid(
    framework: str,
    labels: list[str],
    cells: Mapping[str, GridCell],
    invalid: Mapping[tuple[str, int], str],
) -> str:
    """The sentence for a framework's settings that kept only some repetitions ("" when none):
    the ones left are the least loaded, so their figures lean that way, and the answer says
    how many were left out and why."""
    parts = []
    for label in labels:
        lost = {rep: why.split(":")[0] for (v, rep), why in invalid.items() if v == label}
        if lost:
            kinds = "; ".join(sorted(set(lost.values())))
            plural = "s" if len(lost) != 1 else ""
            parts.append(f"{cells[label].setting} lost {len(lost)} repetition{plural} ({kinds})")
    if not parts:
        return ""
    return f"{framework}: {', '.join(parts)}; its figures rest on the least loaded ones."


def _database_saturated(
    framework: str, labels: list[str], cells: Mapping[str, GridCell], run: Run
) -> str:
    """The sentence for settings whose load-generator CPUs the database saturated while the
    generator's own CPU stayed under its limit (``load.health``: the repetitions stand): what
    their figures rest on, the generator's wait for the database included."""
    health = run.record.evidence.loadgen_health
    parts = []
    lags = []
    for label in labels:
        mine = [h for key, h in health.items() if key.rsplit("#", 1)[0] == label]
        shared = [h for h in mine if h.shared]
        lags += [h.loop_lag.worst_process_p99_ms for h in shared
                 if h.loop_lag.worst_process_p99_ms is not None]  # fmt: skip
        if shared:
            db = [h.database_cpu_pct for h in shared if h.database_cpu_pct is not None]
            most = f", Postgres up to {max(db):.0f} % of a CPU" if db else ""
            parts.append(
                f"{cells[label].setting} in {len(shared)} of {len(mine)} repetitions{most}"
            )
    if not parts:
        return ""
    waited = (
        f"; the generator waited for it, up to {max(lags):.0f} ms at p99"
        if lags and max(lags) > LOOP_LAG_LIMIT_MS
        else ""
    )
    return (
        f"{framework}: the database's own work saturated the load generator's shared CPUs "
        f"({'; '.join(parts)}{waited}): the figures stand and include that cost."
    )


def _setting(label: str, setting: str, values: Any, hits: list[float]) -> dict[str, Any]:
    """One setting's figures: throughput (``stats.interval``), p95, Valkey hit ratio."""
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
    measured = [s for s in settings if math.isfinite(s["rps"])]
    entry: dict[str, Any] = {"settings": settings}
    if len(measured) < 2:
        return entry
    # The grid's first setting, or the first one measured when it has no valid repetition.
    baseline = measured[0]
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
    if method in stats.CI_METHODS and math.isfinite(low) and math.isfinite(high):
        return f"95 % CI {low:{fmt}}–{high:{fmt}}, {method_name}"
    if method == stats.RANGE and math.isfinite(low) and math.isfinite(high):
        return f"range of {n}: {low:{fmt}}–{high:{fmt}}"
    return f"n = {n}, no interval"


def _ratio_text(entry: Mapping[str, Any]) -> str:
    """A ratio's interval and, from 3 repetitions a side, its p and whether it is significant."""
    low, high = entry["ratio_ci"]
    method, n = entry["ratio_interval"], entry["ratio_n"]
    text = _bounds(method, n, low, high, ".2f", "Welch's t on log values")
    if method in stats.CI_METHODS:
        judged = "significant" if entry["significant"] else "not significant"
        return text + f", p = {entry['ratio_p']:.2g}: {judged}"
    return text + f"; not judged (n = {n})"


def _sentence(framework: str, entry: Mapping[str, Any], best: Mapping[str, Any]) -> str:
    p95 = entry["p95_change"]
    p95_text = f", p95 {p95 * 100:+.0f} %".replace("-", "−") if math.isfinite(p95) else ""
    rps = _bounds(best["rps_interval"], best["n"], *best["rps_ci"], ".0f", "t on log values")
    ratio = _ratio_text(entry)
    text = (
        f"{framework}: highest {best['setting']} at {best['rps']:.0f} req/s ({rps}); "
        f"{entry['compared']} vs {entry['baseline']} = {entry['ratio']:.2f}× throughput "
        f"({ratio}){p95_text}"
    )
    hit = next((s["cache_hit_ratio"] for s in entry["settings"] if s["cache_hit_ratio"]), None)
    if hit is not None:
        text += f"; Valkey hit ratio {hit * 100:.0f} %"
    return text + "."
