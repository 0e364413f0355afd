"""README's "Regression tracking" figures, from the committed gate measurements.

``results/power/`` holds what ``scripts/aa_calibration.py`` and ``scripts/ab_power.py`` wrote:
``aa-<date>.json`` (no-change duet checks of HEAD against HEAD: false alarms and
the head/base bias) and ``ab_power-<date>-<framework>-<injector>.json`` (trials with and
without a slowdown injected into head: detections, false alarms, time per check). The Findings
quote them through :func:`lines`, so a figure in README is always one a file holds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from chatbench.configuration.paths import RESULTS_DIR

POWER_DIR = RESULTS_DIR / "power"
INJECTOR_TEXT = {"burn": "CPU burn", "query": "extra queries"}


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _variants(arguments: list[str]) -> str:
    """The ``--variants`` a measurement's checks were run with ("" when not given)."""
    for i, arg in enumerate(arguments):
        if arg == "--variants" and i + 1 < len(arguments):
            return arguments[i + 1]
        if arg.startswith("--variants="):
            return arg.partition("=")[2]
    return ""


def _pct(x: float) -> str:
    return f"{100 * x:+.1f} %".replace("-", "−")


def _alarms(n: int) -> str:
    return f"{n} false alarm{'' if n == 1 else 's'}"


def calibration_line(path: Path, link: str) -> str:
    """One A/A calibration: false alarms with their one-sided 95 % bound, the bias per
    framework with its interval, the time per check."""
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
    upper = s["false_alarm_rate_upper95"]
    frameworks = data.get("frameworks") or []
    command = " ".join(
        ["scripts/aa_calibration.py", f"--checks {s['checks']}"]
        + ([f"--frameworks {','.join(frameworks)}"] if frameworks else [])
        + (["--", *data["check_arguments"]] if data["check_arguments"] else [])
    )
    return (
        f"- A/A calibration, {judged} no-change duet checks of HEAD against HEAD (`{command}`, "
        f"[{path.name}]({link}/{path.name})): {_alarms(s['false_alarms'])} (one-sided 95 % "
        f"bound {100 * upper:.0f} %); {'; '.join(bias)}; time per check median "
        f"{s['seconds_median']:.0f} s, max {s['seconds_max']:.0f} s."
    )


def power_row(path: Path, link: str) -> str:
    """One power measurement as a table row."""
    data = _load(path)
    s = data["summary"]
    injector = data.get("injector", "burn")
    strength = (
        f"{data['queries']} per request"
        if injector == "query"
        else f"{data['burn_us']} µs per request"
    )
    change = s.get("injected_rps_change_median")
    times = [t["seconds"] for t in data["trials"]]
    return (
        f"| {data['variant']} | {INJECTOR_TEXT.get(injector, injector)}, {strength} | "
        f"{'–' if change is None else _pct(change)} | {s['detected']}/{s['trials']['injected']} "
        f"| {s['false_alarms']}/{s['trials']['none']} | {statistics.median(times):.0f} s / "
        f"{max(times):.0f} s | [{path.name}]({link}/{path.name}) |"
    )


def lines(directory: Path = POWER_DIR, link: str = "results/power") -> list[str]:
    """The regression-tracking block: every A/A calibration, then every power measurement of
    the current layout (one framework and injector per file); [] when none is committed."""
    calibrations = sorted(directory.glob("aa-*.json")) if directory.is_dir() else []
    powers = sorted(directory.glob("ab_power-*-*-*.json")) if directory.is_dir() else []
    powers = [p for p in powers if "injector" in _load(p)]
    if not calibrations and not powers:
        return []
    out = ["", "### Regression tracking: what `chatbench check` catches", ""]
    out += [calibration_line(p, link) for p in calibrations]
    if powers:
        out += [
            "",
            "| framework | injected into head | median throughput change | detected | false "
            "alarms | time per check (median / max) | trials |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *[power_row(p, link) for p in powers],
        ]
    return out
