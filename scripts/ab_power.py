#!/usr/bin/env python3
"""How good is the same-runner A/B gate? Detection rate, false alarms and time per check.

Runs ``chatbench check --base HEAD`` N times with no change and N times with a known slowdown
injected into the candidate side of one variant, alternating the two kinds so machine drift
hits both alike. Two kinds of regression (``--injector``): ``burn``, the test-only
``CHATBENCH_BURN_US`` CPU burn (a regression that costs CPU), and ``query``, the test-only
``CHATBENCH_EXTRA_QUERY`` extra ``SELECT 1`` per request (a regression that *waits*: a round trip
to Postgres, which frees CPU for the other side of a duet). Both injectors are tuned to cost
``--slowdown`` of throughput in the check itself: the burn in µs (below), the query injector in
extra queries per request on average, to two decimals (``calibrate_queries``: a probe check
with one query, then rates chosen from all probes so far, until one lands within 2 points; 0.5
is one query on every other request, as one whole query costs FastAPI ~20 %). Both sides run
HEAD's services from clean worktrees, so the only
difference between base and head is the injection.

The burn that costs ~``--slowdown`` of throughput is calibrated unless ``--burn-us`` is given:
a first guess from the variant's measured CPU per request (``1e6 / req_per_cpu_s`` µs; a
CPU-bound service loses ``b / (c + b)`` of its throughput to a burn ``b`` on top of cost
``c``), then one check with that burn measures what it really costs where it matters, and the
burn is scaled to the target (``burn_for``). The effective throughput change of every injected
trial is still printed and summarised, so the figure is checked, not assumed: the machine's
speed moves it from trial to trial.

    scripts/ab_power.py --trials 10 --save power.json -- --variants fastapi
                                                           # the real measurement (~80 min)
    scripts/ab_power.py --trials 1 --burn-us 3000 -- --profile smoke --repeat 3 --duration 1 \
        --min-repetitions 3                                # a plumbing check (seconds)
    scripts/ab_power.py --trials 10 --variant django,fastapi --injector burn,query \
        --save-dir results/power                           # both frameworks, both kinds
                                                           # (four measurements, ~6 h)
    scripts/ab_power.py --trials 10 --variant django,fastapi --injector burn,query \
        --injected-only --save-dir results/power           # the same, its no-change trials
                                                           # taken from an A/A calibration

Each check measures only the variant under test (``--variants VARIANT`` is added unless the
arguments after ``--`` name variants), as the workflow's one-framework jobs do.

Arguments after ``--`` go to every ``chatbench check`` (profile, durations, variants, …).
``--save FILE`` keeps every trial's verdict, time and per-repetition throughput of both sides
(rewritten after each trial, so an interrupted measurement keeps what it had); the run
directories themselves are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from chatbench.analysing import sequential  # noqa: E402
from chatbench.provisioning.sourcetree import resolve, worktree  # noqa: E402

CHATBENCH = [sys.executable, "-m", "chatbench.cli"]
# Exit codes of a check that judged: no regression, regression, undecided within the budget.
JUDGED = (0, 1, 4)
# The rule the checks ran under, recorded in every file (``chatbench findings`` names the files
# measured before the adaptive rounds spent alpha).
GATE = {"spending": sequential.RULE, "max_rounds": sequential.MAX_ROUNDS}


def run_check(extra: list[str], out: Path, repo: Path, env_args: list[str]) -> dict:
    """One A/B check as a subprocess; its exit code, duration and parsed check.json."""
    cmd = [
        *CHATBENCH, "check", "--base", "HEAD", "--repo", str(repo), "--out", str(out),
        "--history", str(out / "history.jsonl"), *env_args, *extra,
    ]  # fmt: skip
    start = time.monotonic()
    with subprocess.Popen(
        cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as proc:
        try:
            _, stderr = proc.communicate()
        except BaseException:  # Ctrl-C or kill: let the check stop its services, then go
            proc.send_signal(signal.SIGTERM)
            proc.communicate(timeout=120)
            raise
    seconds = time.monotonic() - start
    check = read_verdict(out)
    if proc.returncode not in JUDGED or not check:
        sys.stderr.write(stderr[-2000:])
    return {"code": proc.returncode, "seconds": seconds, "check": check}


def read_verdict(out: Path) -> dict:
    """The check.json of a check that wrote its run directories under ``out`` ({} if none).

    A check with extra rounds leaves one run directory per round and writes its verdict into
    the last one only, so the verdict is looked for, not assumed to be in the first."""
    found = sorted(out.glob("*/check.json")) if out.is_dir() else []
    return json.loads(found[-1].read_text()) if found else {}


def check_arguments(extra: list[str], variant: str) -> list[str]:
    """``extra`` plus ``--variants VARIANT`` unless it names variants itself: a trial checks
    the variant it injects into, not every default variant."""
    named = any(a == "--variants" or a.startswith("--variants=") for a in extra)
    return extra if named else [*extra, "--variants", variant]


def run_options(extra: list[str]) -> list[str]:
    """The load-shaping options of ``extra`` that `chatbench run` also takes."""
    keep = {"--profile", "--users", "--duration", "--warmup", "--server-cpus", "--loadgen-cpus"}
    out, it = [], iter(extra)
    for arg in it:
        name, eq, _ = arg.partition("=")
        if name in keep:
            out += [arg] if eq else [arg, next(it, "")]
    return out


def calibrate(
    variant: str, slowdown: float, extra: list[str], work: Path, repo: Path
) -> tuple[int, dict]:
    """Burn µs per request that costs ``slowdown`` of throughput *in the check itself*.

    First a guess from one short run's CPU per request (``1e6 / req_per_cpu_s`` µs: a burn
    ``b`` on top of cost ``c`` loses ``b / (c + b)`` of a CPU-bound service's throughput); then
    one check with that burn (``--budget off``) measures what it really costs there — in a
    duet both sides share the service CPUs, and the guess, taken from a run on its own, missed
    by half (267 µs cost 14.7 % instead of 10 %) — and ``burn_for`` corrects it."""
    out = work / "calibration"
    cmd = [*CHATBENCH, "run", "--variants", variant, "--repeat", "1", "--out", str(out)]
    cmd += run_options(extra)
    subprocess.run(cmd, cwd=REPO_ROOT, check=True, capture_output=True)
    (run_dir,) = [p for p in out.iterdir() if p.is_dir()]
    rows = json.loads((run_dir / "summary.json").read_text())["rows"]
    per_cpu_s = next(
        r["value"] for r in rows if r["endpoint"] == "ALL" and r["metric"] == "req_per_cpu_s"
    )
    cost_us = 1e6 / per_cpu_s
    guess = max(1, round(cost_us * slowdown / (1 - slowdown)))
    env = ["--service-env", f"{variant}@head:CHATBENCH_BURN_US={guess}"]
    probe = run_check([*extra, "--budget", "off"], work / "calibration-check", repo, env)
    finding = rps_finding(probe["check"], variant) or {}
    burn = burn_for(guess, finding.get("ratio"), slowdown)
    return burn, {"guess_us": guess, "guess_rps_ratio": finding.get("ratio"), "burn_us": burn}


def burn_for(guess_us: int, ratio: float | None, slowdown: float) -> int:
    """The burn for ``slowdown``, given that ``guess_us`` changed throughput by ``ratio``
    (head/base): the cost it reveals is ``c = b·r / (1 − r)``, and ``b = c·s / (1 − s)``.
    A ratio that reveals nothing (missing, ≥ 1 or ≤ 0) keeps the guess."""
    if ratio is None or not 0 < ratio < 1:
        return guess_us
    cost_us = guess_us * ratio / (1 - ratio)
    return max(1, round(cost_us * slowdown / (1 - slowdown)))


# A probe within the noise (one query "costing" 0.1 %) must not ask for hundreds of queries:
# the trials' measured effect then shows what the capped count really costs.
MAX_QUERIES = 20


def queries_for(ratio: float | None, slowdown: float, probed: float = 1.0) -> float:
    """Extra queries per request (on average) for ``slowdown``, given that ``probed`` queries
    per request changed throughput by ``ratio`` (head/base). If each query adds a fixed cost
    ``q`` to the cost ``c`` of a request, the probe reveals ``probed·q/c = 1/r − 1``, and
    ``slowdown`` needs ``n·q/c = s/(1 − s)``. To two decimals (at least 0.01; the services run
    a fractional rate as a query on that share of requests): the effect measured in the trials
    is the figure; a ratio that reveals nothing keeps the probed rate."""
    if ratio is None or not 0 < ratio < 1:
        return probed
    return _rescaled(probed, 1 / ratio - 1, slowdown)


def _rescaled(probed: float, cost: float, slowdown: float) -> float:
    """The rate that costs ``slowdown`` if ``probed`` queries cost ``cost`` (``1/r − 1``) and
    the cost is proportional to the rate; ``probed`` itself when it cost nothing."""
    if cost <= 0:
        return probed
    return _query_rate(probed * slowdown / (1 - slowdown) / cost)


def _query_rate(rate: float) -> float:
    """A rate the services take: two decimals, from 0.01 to ``MAX_QUERIES``."""
    return min(MAX_QUERIES, max(0.01, round(rate, 2)))


# The query calibration probes until one lands this close to the target (in throughput lost),
# at most MAX_PROBES checks of ~95 s each. A probe's own 95 % interval is ±3–4 points, so the
# trials' measured effect, not the probe, is the figure to quote.
PROBE_TOLERANCE = 0.02
MAX_PROBES = 4


def next_query_rate(probes: list[dict], slowdown: float) -> float:
    """The next rate to probe, from every probe so far (``queries``, ``rps_ratio``), taking the
    cost (``1/r − 1``) to rise with the rate from zero at zero queries: between the smallest
    rate that cost more than the target and the largest smaller rate that cost less (zero
    queries at the least), interpolated in cost; with no probe above the target yet, the
    largest rate below it rescaled through zero (``_rescaled``). A probe without a ratio is
    ignored; one without effect costs 0."""
    target = slowdown / (1 - slowdown)
    known = [(0.0, 0.0)] + [
        (p["queries"], max(0.0, 1 / p["rps_ratio"] - 1))
        for p in probes
        if p.get("rps_ratio") and p["rps_ratio"] > 0
    ]
    above = [k for k in known if k[1] >= target]
    if not above:
        q, cost = max(k for k in known if k[1] < target)
        return probes[-1]["queries"] if q == 0 else _rescaled(q, cost, slowdown)
    q_hi, c_hi = min(above)
    q_lo, c_lo = max(k for k in known if k[1] < target and k[0] < q_hi)
    return _query_rate(q_lo + (target - c_lo) * (q_hi - q_lo) / (c_hi - c_lo))


def calibrate_queries(
    variant: str, slowdown: float, extra: list[str], work: Path, repo: Path
) -> tuple[float, dict]:
    """Extra queries per request that cost ``slowdown`` of throughput in the check itself, from
    probe checks (``--budget off``), like the burn's guess and probe: one query per request
    shows what one costs there, ``queries_for`` scales it, and each further probe is chosen
    from all so far (``next_query_rate``) until one costs within ``PROBE_TOLERANCE`` of the
    target. After ``MAX_PROBES`` the probed rate nearest the target is kept: a rate is always
    one that was measured. The fixed-cost model does not hold in a duet, where a side that
    waits frees CPU for the other: on 2026-11-30 FastAPI lost 18.6 % to one query, 18.7 % to
    the 0.49 that should have cost 10 %, and ~14 % to 0.24."""
    probes: list[dict] = []
    rate = 1.0
    for step in range(1, MAX_PROBES + 1):
        env = injection_env(variant, "query", rate)
        probe = run_check(
            [*extra, "--budget", "off"], work / f"calibration-check-{step}", repo, env
        )
        finding = rps_finding(probe["check"], variant) or {}
        ratio = finding.get("ratio")
        probes.append(
            {"queries": rate, "rps_ratio": ratio, "rps_ratio_ci": finding.get("ratio_ci")}
        )
        if ratio is not None and abs((1 - ratio) - slowdown) <= PROBE_TOLERANCE:
            return rate, {"probes": probes, "queries": rate}  # this rate costs the target
        rate = next_query_rate(probes, slowdown)
        if any(p["queries"] == rate for p in probes):
            break  # nothing new to probe
    measured = [p for p in probes if p["rps_ratio"] is not None]
    best = (
        min(measured, key=lambda p: abs((1 - p["rps_ratio"]) - slowdown))["queries"]
        if measured
        else 1.0
    )
    return best, {"probes": probes, "queries": best}


def rps_finding(check: dict, variant: str) -> dict | None:
    for f in check.get("findings", []):
        if f["variant"] == variant and f["endpoint"] == "ALL" and f["metric"] == "rps":
            return f
    return None


def trial_record(kind: str, trial: int, r: dict, variant: str) -> dict:
    """What one check showed, small enough to keep: exit code, time, the variant's rps
    change and repetitions a side, its regressions (gated or for information only)."""
    f = rps_finding(r["check"], variant) or {}
    return {
        "kind": kind,
        "trial": trial,
        "exit_code": r["code"],
        "seconds": round(r["seconds"], 1),
        "rps_change": None if not f else round(f["ratio"] - 1.0, 4),
        "repetitions": len(f.get("reference") or ()),
        "base_rps": f.get("reference"),
        "head_rps": f.get("candidate"),
        "regressions": [
            f"{x['variant']} {x['endpoint']} {x['metric']}"
            for x in r["check"].get("findings", [])
            if x["outcome"] == "regression"
        ],
    }


def summarise(records: list[dict], variant: str) -> dict:
    """Detection rate, false alarms, failed checks and time per check from trial records.

    A detection is an injected trial whose check found a regression (exit 1) of ``variant``: a
    check that passed or stayed undecided (exit 0 or 4) detected nothing, whatever its
    information-only verdicts (closed-loop latency) said. A false alarm is a no-change trial
    whose check found a regression (exit 1). Any other exit code is a check that could not
    judge (an error)."""
    none = [r for r in records if r["kind"] == "none"]
    injected = [r for r in records if r["kind"] == "injected"]
    times = [r["seconds"] for r in records]
    changes = [r["rps_change"] for r in injected if r["rps_change"] is not None]
    return {
        "trials": {"none": len(none), "injected": len(injected)},
        "detected": sum(
            r["exit_code"] == 1 and any(x.startswith(f"{variant} ") for x in r["regressions"])
            for r in injected
        ),
        "false_alarms": sum(r["exit_code"] == 1 for r in none),
        "errors": sum(r["exit_code"] not in JUDGED for r in records),
        "seconds_mean": statistics.mean(times) if times else None,
        "seconds_max": max(times) if times else None,
        "injected_rps_change_median": statistics.median(changes) if changes else None,
        "repetitions": sorted({r["repetitions"] for r in records}),
    }


def report(summary: dict, variant: str, *, injected_only: bool = False) -> str:
    n_inj, n_none = summary["trials"]["injected"], summary["trials"]["none"]
    alarms = (
        "from the A/A calibration (--injected-only)"
        if injected_only
        else f"{summary['false_alarms']}/{n_none} trials without a change failed"
    )
    lines = [
        f"detection rate : {summary['detected']}/{n_inj} injected trials flagged {variant}",
        f"false alarms   : {alarms}",
        f"failed checks  : {summary['errors']} (exit code other than 0, 1 or 4)",
        "time per check : –"
        if summary["seconds_mean"] is None
        else f"time per check : mean {summary['seconds_mean']:.0f} s, "
        f"max {summary['seconds_max']:.0f} s",
        f"repetitions    : {summary['repetitions']} a side per check",
    ]
    if summary["injected_rps_change_median"] is not None:
        lines.append(
            f"injected effect: median rps change {summary['injected_rps_change_median']:+.1%}"
        )
    return "\n".join(lines)


INJECTORS = ("burn", "query")


def injection_env(variant: str, injector: str, strength: float) -> list[str]:
    """The ``--service-env`` that injects ``injector`` into ``variant``'s head side:
    ``strength`` µs of CPU burn, or ``strength`` extra queries per request on average."""
    if injector == "burn":
        return ["--service-env", f"{variant}@head:CHATBENCH_BURN_US={int(strength)}"]
    return ["--service-env", f"{variant}@head:CHATBENCH_EXTRA_QUERY={strength:g}"]


def plan(variants: str, injectors: str, save_dir: Path | None, stamp: str) -> list[dict]:
    """One measurement per framework × injector (``--variant a,b --injector burn,query``),
    each with its own file under ``save_dir``; a usage error names a bad choice."""
    names = [v.strip() for v in variants.split(",") if v.strip()]
    kinds = [k.strip() for k in injectors.split(",") if k.strip()]
    bad = [k for k in kinds if k not in INJECTORS]
    if not names or not kinds or bad:
        raise ValueError(
            f"--variant needs a name and --injector one of {', '.join(INJECTORS)}, "
            f"not {variants!r} / {injectors!r}"
        )
    planned = [
        {
            "variant": v,
            "injector": k,
            "save": save_dir / f"ab_power-{stamp}-{v}-{k}.json" if save_dir else None,
        }
        for v in names
        for k in kinds
    ]
    taken = [str(m["save"]) for m in planned if m["save"] and m["save"].exists()]
    if taken:  # a measurement takes an hour: never overwrite one
        raise ValueError(
            f"{', '.join(taken)} already exists; rename it (a suffix that sorts before, e.g. "
            "-query-one-per-request.json, keeps it the older one) or choose another --save-dir"
        )
    return planned


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=10, help="trials of each kind")
    parser.add_argument(
        "--variant", default="fastapi", help="variant(s) that get the slowdown, comma-separated"
    )
    parser.add_argument(
        "--injector", default="burn", help="burn (CPU) and/or query (database), comma-separated"
    )
    parser.add_argument(
        "--save-dir", type=Path, help="one JSON per variant × injector in this directory"
    )
    parser.add_argument("--slowdown", type=float, default=0.10, help="throughput loss to inject")
    parser.add_argument("--burn-us", type=int, help="µs of CPU per request (skip calibration)")
    parser.add_argument(
        "--queries",
        type=float,
        help="extra queries per request on average, e.g. 0.5 (skip the query calibration)",
    )
    parser.add_argument(
        "--injected-only",
        action="store_true",
        help="no no-change trials: their false alarms come from an A/A calibration of the same "
        "check arguments (scripts/aa_calibration.py)",
    )
    parser.add_argument("extra", nargs="*", help="after --: arguments for chatbench check")
    parser.add_argument(
        "--save", type=Path, help="write every trial's figures and the summary to this JSON file"
    )
    args = parser.parse_args()
    # `kill` (SIGTERM) unwinds like Ctrl-C: the worktree and the scratch directory are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.trials < 1 or not 0 < args.slowdown < 1:
        parser.error("--trials must be at least 1 and --slowdown between 0 and 1")
    if args.burn_us is not None and args.burn_us < 1:
        parser.error("--burn-us must be at least 1")
    if args.queries is not None and not 0.01 <= args.queries <= MAX_QUERIES:
        parser.error(f"--queries must be from 0.01 to {MAX_QUERIES}")
    if args.queries is not None:
        args.queries = round(args.queries, 2)  # as calibrated; the services take 6 places
    try:
        measurements = plan(args.variant, args.injector, args.save_dir, time.strftime("%Y-%m-%d"))
    except ValueError as exc:
        parser.error(str(exc))
    if len(measurements) > 1 and args.save:
        parser.error("--save names one file; with several variants or injectors use --save-dir")
    if args.save and args.save.exists():  # a measurement takes an hour: never overwrite one
        parser.error(f"{args.save} already exists; rename it or choose another --save file")

    errors = 0
    with (
        tempfile.TemporaryDirectory(prefix="chatbench-power-") as tmp,
        worktree(REPO_ROOT, resolve(REPO_ROOT, "HEAD")) as head_tree,
    ):
        for m in measurements:
            one = argparse.Namespace(**{**vars(args), "variant": m["variant"]})
            one.injector, one.save = m["injector"], m["save"] or args.save
            work = Path(tmp) / f"{m['variant']}-{m['injector']}"
            errors += measure(one, work, head_tree)
    return 0 if errors == 0 else 1


def measure(args, work: Path, head_tree: Path) -> int:
    """The trials of one variant × injector; prints and saves them; returns failed checks."""
    args.extra = check_arguments(args.extra, args.variant)  # this measurement's own copy
    records: list[dict] = []
    calibration: dict = {}
    strength = 0
    if args.injector == "burn":
        if args.burn_us:
            strength = args.burn_us
        else:
            strength, calibration = calibrate(
                args.variant, args.slowdown, args.extra, work, head_tree
            )
            print(f"calibration: {calibration}", flush=True)
        print(f"injecting {strength} µs of CPU per request into {args.variant}@head", flush=True)
    else:
        if getattr(args, "queries", None):
            strength = args.queries
        else:
            strength, calibration = calibrate_queries(
                args.variant, args.slowdown, args.extra, work, head_tree
            )
            print(f"calibration: {calibration}", flush=True)
        print(
            f"injecting {strength:g} extra queries per request (on average) into "
            f"{args.variant}@head",
            flush=True,
        )
    for trial in range(1, args.trials + 1):
        kinds = ("none", "injected") if trial % 2 else ("injected", "none")
        for kind in ("injected",) if args.injected_only else kinds:
            env = injection_env(args.variant, args.injector, strength) if kind == "injected" else []
            out = work / f"{kind}-{trial}"
            rec = trial_record(
                kind, trial, run_check(args.extra, out, head_tree, env), args.variant
            )
            records.append(rec)
            change = rec["rps_change"]
            print(
                f"trial {trial} {kind:8s} exit {rec['exit_code']} in {rec['seconds']:.0f} s; "
                f"{rec['repetitions']} reps a side; {args.variant} rps change "
                f"{'–' if change is None else f'{change:+.1%}'}",
                flush=True,
            )
            if args.save:  # after every trial: a long measurement loses nothing
                save(args.save, strength, args, records, calibration=calibration)

    summary = summarise(records, args.variant)
    if args.save:
        save(args.save, strength, args, records, summary, calibration=calibration)
    print()
    print(f"{args.variant}, {args.injector} injector:")
    print(report(summary, args.variant, injected_only=bool(args.injected_only)))
    return summary["errors"]


def save(
    path: Path,
    burn: int,
    args,
    records: list[dict],
    summary: dict | None = None,
    *,
    calibration: dict | None = None,
) -> None:
    data = {
        "gate": GATE,
        "injector": getattr(args, "injector", "burn"),
        "burn_us": burn if getattr(args, "injector", "burn") == "burn" else None,
        "queries": burn if getattr(args, "injector", "burn") == "query" else None,
        "calibration": calibration or {},
        "slowdown": getattr(args, "slowdown", None),
        "variant": args.variant,
        "check_arguments": args.extra,
        "injected_only": bool(getattr(args, "injected_only", False)),
        "trials": records,
        "summary": summary or summarise(records, args.variant),
    }
    path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
