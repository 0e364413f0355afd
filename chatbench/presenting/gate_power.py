"""README's "Regression tracking" figures, from the committed gate measurements.

``results/power/`` holds what ``scripts/aa_calibration.py`` and ``scripts/ab_power.py`` wrote:
``aa-<date>.json`` (no-change duet checks of HEAD against HEAD: false alarms and
the head/base bias) and ``ab_power-<date>-<framework>-<injector>.json`` (trials with and
without a slowdown injected into head: detections, false alarms, time per check; an earlier
measurement of the same day, renamed so the next does not overwrite it, keeps a suffix that
sorts before: ``…-query-one-per-request.json``). The Findings
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
        f"{_bound(s['false_alarm_rate_upper95'])}; {'; '.join(bias)}; time per check "
        f"{_times(s)}."
    )


def _no_change_by_arguments(calibrations: list[Path]) -> dict[tuple[str, ...], str]:
    """The A/A checks' false alarms by the exact arguments of their checks (``"1/10 (A/A)"``),
    the newest calibration winning: a power measurement borrows them only for checks run
    the same way."""
    out: dict[tuple[str, ...], str] = {}
    for path in calibrations:
        groups: dict[tuple[str, ...], list[int]] = {}
        for check in _load(path)["checks"]:
            if check["exit_code"] in (0, 1) and "check_arguments" in check:
                groups.setdefault(tuple(check["check_arguments"]), []).append(check["exit_code"])
        out.update({k: f"{sum(codes)}/{len(codes)} (A/A)" for k, codes in groups.items()})
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


def power_row(path: Path, link: str, no_change: dict[tuple[str, ...], str] | None = None) -> str:
    """One power measurement as a table row. A measurement of injected trials only
    (``--injected-only``) takes its false alarms from A/A checks run with the same arguments
    (``no_change``, see ``_no_change_by_arguments``), or says they were not measured."""
    data = _load(path)
    s = data["summary"]
    if s["trials"]["none"] or not data.get("injected_only"):
        alarms = f"{s['false_alarms']}/{s['trials']['none']}"
    else:
        key = tuple(data.get("check_arguments") or ())
        alarms = (no_change or {}).get(key, "not measured")
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
        f"{'–' if change is None else _pct(change)} | {s['detected']}/{s['trials']['injected']} "
        f"| {alarms} | {statistics.median(times):.0f} s / "
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
    out = [calibration_line(p, link) for p in calibrations]
    no_change = _no_change_by_arguments(calibrations)
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
    and per framework and injector the newest measurement's detections (a re-measurement at
    another strength replaces the older one here); every figure and file in ``doc``."""
    calibrations, powers = _files(directory)
    if not calibrations and not powers:
        return []
    parts = []
    if calibrations:
        s = _load(calibrations[-1])["summary"]
        bias = ", ".join(
            f"{fw} {_pct(b['mean_ratio'] - 1)} "
            + (
                f"(95 % CI {_pct(b['ci95'][0] - 1)} to {_pct(b['ci95'][1] - 1)})"
                if b["ci95"]
                else f"(n = {b['checks']}, no interval)"
            )
            for fw, b in s["bias"].items()
        )
        parts.append(
            f"{s['checks'] - s['errors']} no-change duet checks (A/A): "
            f"{_alarms(s['false_alarms'])} {_bound(s['false_alarm_rate_upper95'])}, head/base "
            f"bias {bias}; time per check {_times(s)}"
        )

    newest = {(d["variant"], d["injector"]): d for d in map(_load, powers)}  # in date order
    caught = []
    for data in newest.values():
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
        "; ".join(parts) + f" ([details]({doc}#measured-with-todays-gate)).",
    ]
