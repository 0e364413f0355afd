"""README's "Regression tracking" figures, from the committed gate measurements.

``results/power/`` holds what ``scripts/aa_calibration.py`` and ``scripts/ab_power.py`` wrote:
``aa-<date>.json`` (no-change duet checks of HEAD against HEAD: false alarms and
the head/base bias) and ``ab_power-<date>-<framework>-<injector>.json`` (trials with and
without a slowdown injected into head: detections, false alarms, time per check; an earlier
measurement of the same day, renamed so the next does not overwrite it, keeps a suffix that
sorts before: ``…-query-one-per-request.json``). The Findings
quote them through :func:`lines`, so a figure in README is always one a file holds. Every count
is printed with its exact one-sided 95 % bound (``analysing.power.rate_bounds``), every
borrowed no-change count names the checks it borrowed, and a calibration short of
``NEEDED_NO_CHANGE`` checks says how many it has and how to add the rest.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chatbench.analysing.power import rate_bounds
from chatbench.configuration.paths import RESULTS_DIR

POWER_DIR = RESULTS_DIR / "power"
INJECTOR_TEXT = {"burn": "CPU burn", "query": "extra queries"}
# No-change checks a calibration needs before its false-alarm rate is bounded usefully: 0 in
# 40 bounds it at 7 % (one-sided 95 %), 0 in 20 only at 14 %.
NEEDED_NO_CHANGE = 40
# Exit codes of a check that judged: no regression, regression, undecided within the budget.
JUDGED = (0, 1, 4)
BOUNDS_NOTE = (
    "Counts are followed by their exact (Clopper–Pearson) one-sided 95 % bound: a lower bound "
    "for detections, an upper bound for false alarms; a row of fewer than 30 trials is a small "
    "sample (10/10 only shows a detection rate of at least 74 %)."
)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %".replace("-", "−")


def _bound(upper: float | None) -> str:
    return "(no check judged)" if upper is None else f"(one-sided 95 % bound {100 * upper:.0f} %)"


def _times(s: dict[str, Any]) -> str:
    if s.get("seconds_median") is None:
        return "not measured"
    return f"median {s['seconds_median']:.0f} s, max {s['seconds_max']:.0f} s"


def _alarms(n: int) -> str:
    return f"{n} false alarm{'' if n == 1 else 's'}"


def detected_text(k: int, n: int) -> str:
    """``10/10 (≥ 74 %)``: detections with their one-sided 95 % lower bound."""
    if n <= 0:
        return "–"
    return f"{k}/{n} (≥ {100 * rate_bounds(k, n)[0]:.0f} %)"


def alarms_text(k: int, n: int) -> str:
    """``0/10 (≤ 26 %)``: false alarms with their one-sided 95 % upper bound."""
    if n <= 0:
        return "–"
    return f"{k}/{n} (≤ {100 * rate_bounds(k, n)[1]:.0f} %)"


def spending_text(calibrations: list[Path], powers: list[Path]) -> str:
    """Which measurements ran before the adaptive rounds spent alpha (a check or file without
    the ``gate`` the scripts now record): their extra rounds each tested at the full 0.05."""
    before = []
    for path in calibrations:
        old = tuple(c["check"] for c in _load(path)["checks"] if "gate" not in c)
        if old:
            before.append(f"checks {_numbers(old)} of {path.name}")
    before += [p.name for p in powers if "gate" not in _load(p)]
    if not before:
        return ""
    return (
        f"Measured before the adaptive rounds spent alpha: {'; '.join(before)}. Each round "
        "was then tested at the full 0.05; today each look is tested at its share of it "
        "(family-wise at most 5 %, see the adaptive rounds above), which may take more rounds "
        "to detect a slowdown."
    )


def _needed(judged: int, path: Path) -> str:
    """What a calibration of ``judged`` checks lacks for ``NEEDED_NO_CHANGE``, and the command
    that adds it (nothing when it has them)."""
    if judged >= NEEDED_NO_CHANGE:
        return ""
    return (
        f"; {judged} of the {NEEDED_NO_CHANGE} no-change checks needed (0 in "
        f"{NEEDED_NO_CHANGE} would bound the rate at "
        f"{100 * rate_bounds(0, NEEDED_NO_CHANGE)[1]:.0f} %); the other "
        f"{NEEDED_NO_CHANGE - judged} are added by `scripts/aa_calibration.py --extend "
        f"results/power/{path.name} --checks {NEEDED_NO_CHANGE - judged}`"
    )


def calibration_line(path: Path, link: str, newest: bool = True) -> str:
    """One A/A calibration: false alarms with their one-sided 95 % bound, the bias per
    framework with its interval, the time per check; the newest says what it lacks of
    ``NEEDED_NO_CHANGE`` checks (an older one is not to be extended: a newer one replaced it)."""
    data = _load(path)
    s = data["summary"]
    judged = s["checks"] - s["errors"]
    bias = []
    for framework, b in s["bias"].items():
        ci = (
            f"95 % CI {_pct(b['ci95'][0] - 1)} to {_pct(b['ci95'][1] - 1)}, "
            f"{'significant' if b['significant'] else 'not significant'}"
            if b["ci95"]
            else "no 95 % CI"
        )
        alarms = f"{_alarms(b['false_alarms'])}, " if "false_alarms" in b else ""
        bias.append(
            f"{framework}: {alarms}head/base {_pct(b['mean_ratio'] - 1)} ({ci}; head faster "
            f"in {b['head_faster']} of {b['checks']})"
        )
    frameworks = data.get("frameworks") or []
    planned = data.get("checks_planned", s["checks"])
    command = " ".join(
        ["scripts/aa_calibration.py", f"--checks {planned}"]
        + ([f"--frameworks {','.join(frameworks)}"] if frameworks else [])
        + (["--", *data["check_arguments"]] if data["check_arguments"] else [])
    )
    return (
        f"- A/A calibration, {judged} no-change duet checks of HEAD against HEAD"
        + (f" (interrupted: {s['checks']} of {planned} run)" if s["checks"] < planned else "")
        + f" (`{command}`, "
        f"[{path.name}]({link}/{path.name})): {_alarms(s['false_alarms'])} "
        f"{_bound(s['false_alarm_rate_upper95'])}{_needed(judged, path) if newest else ''}; "
        f"{'; '.join(bias)}; "
        f"time per check {_times(s)}."
    )


@dataclass(frozen=True)
class NoChange:
    """The no-change checks of one calibration that ran with one set of check arguments:
    those a power measurement of the same arguments borrows for its false alarms."""

    file: str
    checks: tuple[int, ...]  # their numbers in the file
    alarms: int

    def text(self) -> str:
        """``0/10 (≤ 26 %; A/A checks 1, 3, …, 19 of aa-….json)``."""
        n = len(self.checks)
        return (
            f"{alarms_text(self.alarms, n)[:-1]}; A/A checks {_numbers(self.checks)} of "
            f"{self.file})"
        )


def _numbers(checks: tuple[int, ...]) -> str:
    """``1–20``, ``1, 3, 5, …, 19`` (every other), or the list itself."""
    if len(checks) > 2:
        steps = {b - a for a, b in zip(checks, checks[1:], strict=False)}
        if steps == {1}:
            return f"{checks[0]}–{checks[-1]}"
        if len(steps) == 1:
            return f"{checks[0]}, {checks[1]}, {checks[2]}, …, {checks[-1]}"
    return ", ".join(map(str, checks))


def _no_change_by_arguments(calibrations: list[Path]) -> dict[tuple[str, ...], NoChange]:
    """The A/A checks that judged, by the exact arguments of their checks, the newest
    calibration winning: a power measurement borrows them only for checks run the same way."""
    out: dict[tuple[str, ...], NoChange] = {}
    for path in calibrations:
        groups: dict[tuple[str, ...], list[dict]] = {}
        for check in _load(path)["checks"]:
            if check["exit_code"] in JUDGED and "check_arguments" in check:
                groups.setdefault(tuple(check["check_arguments"]), []).append(check)
        out.update(
            {
                k: NoChange(
                    path.name,
                    tuple(c["check"] for c in group),
                    sum(c["exit_code"] == 1 for c in group),
                )
                for k, group in groups.items()
            }
        )
    return out


def power_command(data: dict[str, Any]) -> str:
    """The ``scripts/ab_power.py`` command that reruns a power measurement's trials, read back
    from it: trials, framework, injector, ``--injected-only``, the strength (given or
    calibrated), a slowdown other than the default and any check arguments beyond the
    ``--variants`` it adds itself."""
    injector = data.get("injector", "burn")
    trials = max((t.get("trial", 1) for t in data["trials"]), default=0)
    parts = ["scripts/ab_power.py", f"--trials {trials}", f"--variant {data['variant']}"]
    parts.append(f"--injector {injector}")
    if data.get("injected_only"):
        parts.append("--injected-only")
    # The strength the trials ran, also when probes calibrated it: this command reruns those
    # trials (without the strength, today's calibration would pick its own).
    strength = data["queries"] if injector == "query" else data["burn_us"]
    parts.append(f"--{'queries' if injector == 'query' else 'burn-us'} {strength:g}")
    if data.get("slowdown") not in (None, 0.10):
        parts.append(f"--slowdown {data['slowdown']:g}")
    own = ["--variants", data["variant"]]
    extra = list(data.get("check_arguments") or [])
    if extra[-2:] == own:
        extra = extra[:-2]
    return " ".join(parts + ["--save-dir results/power"] + (["--", *extra] if extra else []))


def power_row(
    path: Path, link: str, no_change: dict[tuple[str, ...], NoChange] | None = None
) -> str:
    """One power measurement as a table row: detections and false alarms each with their
    exact one-sided 95 % bound. A measurement of injected trials only (``--injected-only``)
    takes its false alarms from A/A checks run with the same arguments and names which
    (``no_change``, see ``_no_change_by_arguments``), or says they were not measured."""
    data = _load(path)
    s = data["summary"]
    if s["trials"]["none"] or not data.get("injected_only"):
        alarms = alarms_text(s["false_alarms"], s["trials"]["none"])
        alarms = alarms[:-1] + "; this file's no-change trials)" if alarms != "–" else alarms
    else:
        key = tuple(data.get("check_arguments") or ())
        borrowed = (no_change or {}).get(key)
        alarms = borrowed.text() if borrowed else "not measured"
    injector = data.get("injector", "burn")
    strength = (
        f"{data['queries']:g} per request"
        if injector == "query"
        else f"{data['burn_us']} µs per request"
    )
    change = s.get("injected_rps_change_median")
    times = [t["seconds"] for t in data["trials"]]
    return (
        f"| {data['variant']} | {INJECTOR_TEXT.get(injector, injector)}, {strength} | "
        f"{'–' if change is None else _pct(change)} | "
        f"{detected_text(s['detected'], s['trials']['injected'])} | {alarms} | {statistics.median(times):.0f} s / "
        f"{max(times):.0f} s | [{path.name}]({link}/{path.name}), "
        f"{'strength calibrated by probes; ' if data.get('calibration') else ''}"
        f"rerun: `{power_command(data)}` |"
    )


def _files(directory: Path) -> tuple[list[Path], list[Path]]:
    """The A/A calibrations, and the power measurements of the current layout (one framework
    and injector per file, which names its injector), each in name (date) order."""
    if not directory.is_dir():
        return [], []
    powers = [p for p in sorted(directory.glob("ab_power-*-*-*.json")) if "injector" in _load(p)]
    return sorted(directory.glob("aa-*.json")), powers


def lines(directory: Path = POWER_DIR, link: str = "results/power") -> list[str]:
    """docs/ci-gate.md's block: every A/A calibration, then every power measurement of the
    current layout (one framework and injector per file) as a table; [] when none is
    committed."""
    calibrations, powers = _files(directory)
    if not calibrations and not powers:
        return []
    out = [calibration_line(p, link, newest=p == calibrations[-1]) for p in calibrations]
    no_change = _no_change_by_arguments(calibrations)
    if powers:
        out += [
            "",
            "| framework | injected into head | median throughput change | detected | false "
            "alarms | time per check (median / max) | trials |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *[power_row(p, link, no_change) for p in powers],
            "",
            BOUNDS_NOTE,
        ]
    note = spending_text(calibrations, powers)
    if note:
        out += ["", note]
    return out


def summary_lines(directory: Path = POWER_DIR, doc: str = "docs/ci-gate.md") -> list[str]:
    """README's short form: the newest A/A calibration's false alarms and check times (its
    head/base bias is in ``doc``),
    and per framework and injector the newest measurement's detections (a re-measurement at
    another strength replaces the older one here); every figure and file in ``doc``."""
    calibrations, powers = _files(directory)
    if not calibrations and not powers:
        return []
    parts = []
    if calibrations:
        s = _load(calibrations[-1])["summary"]
        judged = s["checks"] - s["errors"]
        short = f" ({judged} of the {NEEDED_NO_CHANGE} needed)" if judged < NEEDED_NO_CHANGE else ""
        parts.append(
            f"{judged} no-change duet checks (A/A){short}: "
            f"{_alarms(s['false_alarms'])} {_bound(s['false_alarm_rate_upper95'])}; time per "
            f"check {_times(s)}"
        )

    newest = {(d["variant"], d["injector"]): d for d in map(_load, powers)}  # in date order
    caught = []
    for data in newest.values():
        s = data["summary"]
        change = s.get("injected_rps_change_median")
        detected = detected_text(s["detected"], s["trials"]["injected"])
        if change is not None:
            detected = f"{detected[:-1]}; median {_pct(change)})"
        caught.append(
            f"{data['variant']} {INJECTOR_TEXT.get(data['injector'], data['injector'])} {detected}"
        )
    if caught:
        parts.append("injected slowdowns detected: " + ", ".join(caught))
    return [
        "",
        "### Regression tracking in CI",
        "",
        "; ".join(parts) + f" ([details]({doc}#measured-with-todays-gate)).",
    ]
