#!/usr/bin/env python3
"""A/A calibration of the duet gate: N no-change checks, their false alarms and side bias.

Runs ``chatbench check --base HEAD`` N times with both sides built from HEAD (clean worktrees,
as ``scripts/ab_power.py`` does), so nothing distinguishes base from head but the duet itself:
which side starts first, its port, its clone. Every check's exit code, time and per-framework
head/base throughput ratio (with its interval and side order seed) is kept, and the summary
says what the gate claims about an unchanged service:

* false alarms: checks that found a regression (exit 1), with the exact (Clopper–Pearson)
  one-sided 95 % upper bound of their rate (``scipy.stats.binomtest``); a check left undecided
  within its budget (exit 4) judged and raised none; any other exit code could not run;
* bias: the mean of the log head/base ratios over checks, as a ratio with its 95 % t interval
  (``chatbench.analysing.stats.interval`` on the ratios), and a sign test of "head faster"
  (``binomtest``): the sides are interchangeable when the interval holds 1;
* time: median and max seconds per check.

    scripts/aa_calibration.py --checks 20 --frameworks django,fastapi \
        --save results/power/aa-$(date +%F).json   # the real calibration: an hour or more
    scripts/aa_calibration.py --checks 2 --save /tmp/aa.json -- --profile smoke --repeat 3 \
        --min-repetitions 3 --budget off           # a plumbing check (a minute)

Arguments after ``--`` go to every ``chatbench check``. ``--save`` is rewritten after every
check, so an interrupted calibration keeps what it had. ``--extend FILE`` adds ``--checks`` more
checks to an existing calibration, run as its own were (its check arguments and frameworks,
the turn of the next framework), and rewrites it with every check and a new summary:

    scripts/aa_calibration.py --extend results/power/aa-2026-11-30.json --checks 20
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import signal
import statistics
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from scipy import stats as sps  # noqa: E402

from chatbench.analysing import stats  # noqa: E402
from chatbench.provisioning.sourcetree import resolve, worktree  # noqa: E402

_spec = importlib.util.spec_from_file_location("ab_power", Path(__file__).with_name("ab_power.py"))
ab_power = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ab_power)

# (extra check arguments, scratch directory, repository) → {"code", "seconds", "check"}
Runner = Callable[[list[str], Path, Path], dict]


def check_record(index: int, r: dict) -> dict:
    """One check: exit code, time, and per framework its ALL rps head/base ratio."""
    ratios = {
        f["variant"]: {
            "ratio": f["ratio"],
            "ratio_ci": f.get("ratio_ci"),
            "outcome": f["outcome"],
            "pairs": len(f.get("reference") or ()),
        }
        for f in r["check"].get("findings", [])
        if f["endpoint"] == "ALL" and f["metric"] == "rps"
    }
    return {
        "check": index,
        "exit_code": r["code"],
        "seconds": round(r["seconds"], 1),
        "ratios": ratios,
        "regressions": [
            f"{x['variant']} {x['endpoint']} {x['metric']}"
            for x in r["check"].get("findings", [])
            if x["outcome"] == "regression" and x.get("gated", True)
        ],
    }


# Exit codes of a check that judged: no regression, regression, undecided within the budget.
JUDGED = (0, 1, 4)
GATE = ab_power.GATE  # the rule the checks ran under (the findings say which files predate it)


def summarise(records: list[dict]) -> dict:
    """False-alarm rate with its one-sided 95 % upper bound; per framework the mean bias
    head/base with its 95 % interval and a sign test; seconds per check."""
    judged = [r for r in records if r["exit_code"] in JUDGED]
    alarms = sum(r["exit_code"] == 1 for r in judged)
    upper = (
        sps.binomtest(alarms, len(judged)).proportion_ci(0.90, method="exact").high
        if judged
        else None
    )  # the two-sided 90 % interval's upper end is the one-sided 95 % bound
    bias = {}
    for framework in sorted({v for r in judged for v in r["ratios"]}):
        ratios = [
            r["ratios"][framework]["ratio"]
            for r in judged
            if framework in r["ratios"] and _positive(r["ratios"][framework]["ratio"])
        ]
        est = stats.interval(ratios)
        faster = sum(x > 1 for x in ratios)
        bias[framework] = {
            "checks": len(ratios),
            "false_alarms": sum(r["exit_code"] == 1 for r in judged if framework in _checked(r)),
            "mean_ratio": est.value,
            "ci95": [est.low, est.high] if est.is_ci else None,
            "significant": bool(est.is_ci and est.excludes(1.0)),
            "head_faster": faster,
            "sign_test_p": sps.binomtest(faster, len(ratios)).pvalue if ratios else None,
        }
    times = [r["seconds"] for r in records]
    return {
        "checks": len(records),
        "errors": len(records) - len(judged),
        "false_alarms": alarms,
        "false_alarm_rate_upper95": upper,
        "bias": bias,
        "seconds_median": statistics.median(times) if times else None,
        "seconds_max": max(times) if times else None,
    }


def _checked(record: dict) -> set[str]:
    """The frameworks a check judged: its ``--variants`` where the record names them (a check
    that failed before any throughput finding still counts against its framework), else the
    frameworks it has ratios for."""
    args = record.get("check_arguments") or []
    for i, arg in enumerate(args):
        if arg == "--variants" and i + 1 < len(args):
            return set(args[i + 1].split(","))
    return set(record["ratios"])


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def report(summary: dict) -> str:
    lines = [
        f"false alarms : {summary['false_alarms']}/{summary['checks'] - summary['errors']} "
        f"checks found a regression (one-sided 95 % upper bound "
        f"{_pct(summary['false_alarm_rate_upper95'])}); {summary['errors']} could not run",
    ]
    for framework, b in summary["bias"].items():
        ci = "no 95 % CI" if b["ci95"] is None else (
            f"95 % CI {b['ci95'][0] - 1:+.2%}…{b['ci95'][1] - 1:+.2%}"
        )  # fmt: skip
        lines.append(
            f"bias {framework}: head/base {b['mean_ratio'] - 1:+.2%} ({ci}; "
            f"{'significant' if b['significant'] else 'not significant'}); head faster in "
            f"{b['head_faster']}/{b['checks']} (sign test p={b['sign_test_p']:.3g})"
        )
    if summary["seconds_median"] is not None:
        lines.append(
            f"time         : median {summary['seconds_median']:.0f} s, "
            f"max {summary['seconds_max']:.0f} s per check"
        )
    return "\n".join(lines)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.0%}"


def calibrate(checks: int, extra: list[str], work: Path, repo: Path, *, runner: Runner,
              save: Path | None = None, frameworks: list[str] | None = None,
              earlier: list[dict] | None = None) -> dict:  # fmt: skip
    """``checks`` no-change checks through ``runner``; the document ``--save`` writes. With
    ``frameworks``, check i runs ``--variants`` the i-th of them in turn (one framework per
    check, as the workflow's jobs do), so machine drift reaches each alike. ``earlier``: the
    checks of the calibration this one extends; numbering and turns continue from them."""
    records: list[dict] = list(earlier or [])
    start = len(records)
    doc: dict = {}
    for i in range(start + 1, start + checks + 1):
        own = ["--variants", frameworks[(i - 1) % len(frameworks)]] if frameworks else []
        r = runner([*extra, *own], work / f"aa-{i}", repo)
        records.append({**check_record(i, r), "check_arguments": [*extra, *own], "gate": GATE})
        doc = {"check_arguments": extra, "frameworks": frameworks or [],
               "checks_planned": start + checks, "checks": records,
               "summary": summarise(records)}  # fmt: skip
        print(
            f"check {i}: exit {r['code']} in {r['seconds']:.0f} s; "
            + ", ".join(f"{v} {x['ratio'] - 1:+.2%}" for v, x in records[-1]["ratios"].items()),
            flush=True,
        )
        if save:  # after every check: a long calibration loses nothing
            save.parent.mkdir(parents=True, exist_ok=True)
            save.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def extension(path: Path, extra: list[str], frameworks: list[str] | None) -> dict:
    """The calibration ``--extend`` continues, read back; a usage error (``ValueError``) when
    it is not one or when the arguments given differ from those its checks ran with."""
    try:
        doc = json.loads(path.read_text())
        checks, their_extra = doc["checks"], doc["check_arguments"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"--extend {path}: not a calibration this script wrote ({exc})") from None
    theirs = doc.get("frameworks") or None
    if (extra and extra != their_extra) or (frameworks and frameworks != theirs):
        raise ValueError(
            f"--extend {path}: its checks ran with --frameworks {','.join(theirs or []) or '–'} "
            f"and `{' '.join(their_extra)}`; give the same or none"
        )
    return {"check_arguments": their_extra, "frameworks": theirs, "checks": checks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checks", type=int, default=20, help="no-change checks to run")
    parser.add_argument("--save", type=Path, help="JSON file for every check and the summary")
    parser.add_argument(
        "--extend", type=Path, help="add the checks to this calibration (rewritten in place)"
    )
    parser.add_argument(
        "--frameworks", help="comma-separated: each check runs the next one as --variants"
    )
    parser.add_argument("extra", nargs="*", help="after --: arguments for chatbench check")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.checks < 1:
        parser.error("--checks must be at least 1")
    if args.frameworks and any(a.startswith("--variants") for a in args.extra):
        parser.error("give --frameworks or --variants after --, not both")
    frameworks = [f for f in (args.frameworks or "").split(",") if f] or None
    extra, earlier, save = args.extra, None, args.save
    if args.extend:
        if args.save and args.save != args.extend:
            parser.error("--extend rewrites its own file; leave out --save")
        try:
            old = extension(args.extend, args.extra, frameworks)
        except ValueError as exc:
            parser.error(str(exc))
        extra, frameworks, earlier, save = (
            old["check_arguments"], old["frameworks"], old["checks"], args.extend
        )  # fmt: skip
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-aa-") as tmp,
        worktree(REPO_ROOT, resolve(REPO_ROOT, "HEAD")) as head_tree,
    ):
        doc = calibrate(
            args.checks, extra, Path(tmp), head_tree, save=save, frameworks=frameworks,
            earlier=earlier,
            runner=lambda extra, out, repo: ab_power.run_check(extra, out, repo, []),
        )  # fmt: skip
    print()
    print(report(doc["summary"]))
    return 0 if doc["summary"]["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
