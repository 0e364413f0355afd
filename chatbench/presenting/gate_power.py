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


def power_row(path: Path, link: str, no_change: dict[str, str] | None = None) -> str:
    """One power measurement as a table row. A measurement of injected trials only
    (``--injected-only``) takes its false alarms from the A/A calibration (``no_change``:
    framework → "a/n (A/A)")."""
    data = _load(path)
    s = data["summary"]
    if s["trials"]["none"] or not data.get("injected_only"):
        alarms = f"{s['false_alarms']}/{s['trials']['none']}"
    else:
        alarms = (no_change or {}).get(data["variant"], "not measured")
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
        f"| {alarms} | {statistics.median(times):.0f} s / "
        f"{max(times):.0f} s | [{path.name}]({link}/{path.name}) |"
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
    out = [calibration_line(p, link) for p in calibrations]
    no_change: dict[str, str] = {}
    for path in calibrations:  # the newest calibration of a framework counts
        for framework, b in _load(path)["summary"]["bias"].items():
            if "false_alarms" in b:
                no_change[framework] = f"{b['false_alarms']}/{b['checks']} (A/A)"
    if powers:
        out += [
            "",
            "| framework | injected into head | median throughput change | detected | false "
            "alarms | time per check (median / max) | trials |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *[power_row(p, link, no_change) for p in powers],
        ]
    return out


def summary_lines(directory: Path = POWER_DIR, doc: str = "docs/ci-gate.md") -> list[str]:
    """README's short form: the newest A/A calibration's false alarms, bias and check times,
    and per framework and injector the detections; every figure and file in ``doc``."""
    calibrations, powers = _files(directory)
    if not calibrations and not powers:
        return []
    parts = []
    if calibrations:
        s = _load(calibrations[-1])["summary"]
        bias = ", ".join(
            f"{fw} {_pct(b['mean_ratio'] - 1)}"
            + (
                f" (95 % CI {_pct(b['ci95'][0] - 1)} to {_pct(b['ci95'][1] - 1)})"
                if b["ci95"]
                else ""
            )
            for fw, b in s["bias"].items()
        )
        parts.append(
            f"{s['checks'] - s['errors']} no-change duet checks (A/A): "
            f"{_alarms(s['false_alarms'])} (one-sided 95 % bound "
            f"{100 * s['false_alarm_rate_upper95']:.0f} %), head/base bias {bias}; "
            f"{s['seconds_median']:.0f} s median, {s['seconds_max']:.0f} s max per check"
        )
    caught = []
    for path in powers:
        data = _load(path)
        s = data["summary"]
        change = s.get("injected_rps_change_median")
        caught.append(
            f"{data['variant']} {INJECTOR_TEXT.get(data['injector'], data['injector'])} "
            f"{s['detected']}/{s['trials']['injected']}"
            + ("" if change is None else f" (median {_pct(change)})")
        )
    if caught:
        parts.append("injected slowdowns detected: " + ", ".join(caught))
    return [
        "",
        "### Regression tracking in CI",
        "",
        f"`chatbench check --base REF` runs base and head side by side "
        f"([every figure and file]({doc}#measured-with-todays-gate)). " + "; ".join(parts) + ".",
    ]
