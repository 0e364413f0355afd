"""``chatbench check``: the CI gate, end to end, in each of its modes.

Against a stored baseline: read it and match its settings before any load runs (a bad one
costs a second, not minutes), measure a run (fairness violations are judged, never fatal),
reduce both sides to per-repetition figures (``analysing.figures``) and judge them with the
gate's rule (``analysing.gate``). With ``--base REF``: same-runner A/B (``workflows.ab``).
With ``--run DIR``: judge an existing run (an A/B run is judged as A/B). With
``--update-baseline``: keep the run's figures as the baseline instead. Every verdict writes
``verdict.md``, ``check.json`` and the github-action-benchmark files into the candidate's run
directory and appends one line to the history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import figures
from chatbench.analysing.gate import (
    AB_THRESHOLD,
    GATES,
    MIN_REPETITIONS,
    MIN_REPETITIONS_TO_RUN,
    TOO_FEW,
    CheckResult,
    Rule,
    ab_rule,
    compare,
    require_repetitions,
)
from chatbench.configuration import machine
from chatbench.configuration.paths import DEFAULT_BASELINE, DEFAULT_HISTORY, REPO_ROOT
from chatbench.configuration.settings import RunConfig
from chatbench.errors import NotComparableError, UsageError
from chatbench.measuring.schedule import planned_seconds
from chatbench.measuring.watch import Progress
from chatbench.presenting.verdict import to_benchmark_json, to_bmf, to_json, to_markdown
from chatbench.storing import baselines, history
from chatbench.storing import record as rec
from chatbench.storing.atomic import write_json_atomic, write_text_atomic
from chatbench.storing.baselines import Summary
from chatbench.workflows import ab
from chatbench.workflows.baselines import require_complete_run
from chatbench.workflows.bench import judged_run

DEFAULT_RULE = Rule()
# ``--export KIND=FILE``: Bencher Metric Format, github-action-benchmark's two custom tools.
EXPORTS = ("bmf", "customSmallerIsBetter", "customBiggerIsBetter")
# How a command shows progress: given the planned seconds, a context that yields a Progress.
Watch = Callable[[float], AbstractContextManager[Progress | None]]


def _unwatched(_seconds: float) -> AbstractContextManager[None]:
    return contextlib.nullcontext()


@dataclass(frozen=True)
class GateRequest:
    """Everything ``chatbench check`` was asked, parsed (see the CLI's options)."""

    settings: RunConfig  # the run to measure, not yet validated (variants: None = default)
    rule: Rule = DEFAULT_RULE
    baseline: Path | None = None
    update_baseline: bool = False
    base: str | None = None
    run_dir: Path | None = None
    repo: Path | None = None
    budget: str | None = None
    duet: bool = True
    threshold_given: bool = False
    history: Path | None = None
    report: bool = True
    exports: tuple[tuple[str, Path], ...] = ()  # (kind, file): see ``parse_exports``

    def validate(self) -> GateRequest:
        if self.base and (self.update_baseline or self.run_dir):
            raise UsageError(
                "--base runs its own A/B run; it cannot be combined with --run or "
                "--update-baseline."
            )
        if (self.repo or self.budget or not self.duet) and not self.base:
            raise UsageError("--repo, --budget and --sequential only apply with --base.")
        if self.rule.gate not in GATES:
            raise UsageError(f"--gate must be one of {', '.join(GATES)}, not {self.rule.gate!r}.")
        if self.rule.gate == "normalised" and (
            self.base or (self.run_dir and _is_ab(self.run_dir))
        ):
            raise UsageError(
                "--gate normalised does not apply to a same-runner A/B check: both sides share "
                "the machine, so raw figures gate."
            )
        return self


@dataclass(frozen=True)
class GateOutcome:
    """What a check did: a verdict (written to ``verdict``), or a baseline written."""

    result: CheckResult | None = None
    candidate: Summary | None = None
    verdict: Path | None = None
    baseline_written: Path | None = None


def gate(request: GateRequest, *, watch: Watch = _unwatched) -> GateOutcome:
    """The gate in the mode ``request`` asks for (see the module docstring)."""
    request = request.validate()
    baseline_path = request.baseline or DEFAULT_BASELINE
    rule = ab_rule(request.rule) if request.base else request.rule
    if request.update_baseline:
        return GateOutcome(baseline_written=update_baseline(request, baseline_path, watch))
    if request.base:
        result, candidate = _ab(request, rule, watch)
        mode, run_dir = "ab", request.settings.out_dir / candidate.run_id
    elif request.run_dir and _is_ab(request.run_dir):  # re-judge an A/B run, e.g. another threshold
        if not request.threshold_given:
            rule = dataclasses.replace(rule, threshold=AB_THRESHOLD)
        result, candidate = ab.judge_run(request.run_dir, rule=ab_rule(rule))
        mode, run_dir = "ab", request.run_dir
    else:
        cfg = None if request.run_dir else request.settings.validate()
        preflight(baseline_path, cfg, rule=rule)  # a bad baseline fails before any load runs
        with watch(planned_seconds(cfg)) if cfg else contextlib.nullcontext() as progress:
            result, candidate = against_baseline(
                baseline_path=baseline_path, cfg=cfg, run_dir=request.run_dir, rule=rule,
                progress=progress, report=request.report,
            )  # fmt: skip
        mode = "baseline"
        run_dir = request.run_dir or request.settings.out_dir / candidate.run_id
    verdict = write_outputs(result, run_dir)
    write_exports(result, request.exports)
    record_history(result, candidate, history_path=request.history or DEFAULT_HISTORY, mode=mode)
    return GateOutcome(result, candidate, verdict)


def _is_ab(run_dir: Path) -> bool:
    if not (run_dir / rec.META).is_file():
        raise UsageError(f"{run_dir} is not a chatbench run directory (no meta.json).")
    return ab.is_ab_run(run_dir)


def update_baseline(request: GateRequest, path: Path, watch: Watch) -> Path:
    """The baseline from ``request.run_dir`` (guarded like ``baseline save``) or a fresh run."""
    if request.run_dir:
        require_complete_run(request.run_dir)
        run_dir = request.run_dir
    else:
        cfg = request.settings.validate()
        with watch(planned_seconds(cfg)) as progress:
            run_dir = measure(cfg, progress, report=request.report)
    return baselines.save(figures.from_run(run_dir), path)


def _ab(request: GateRequest, rule: Rule, watch: Watch) -> tuple[CheckResult, Summary]:
    """Same-runner A/B: each framework as ``X@base`` and ``X@head``, in one run."""
    settings = request.settings
    frameworks = settings.variants
    estimate = dataclasses.replace(settings, service_env={}, variants=frameworks).validate()
    require_repeat(estimate)  # before REF's environment is built
    paired = dataclasses.replace(
        settings, variants=ab.paired_variants(frameworks), duet=request.duet
    )
    with watch(planned_seconds(dataclasses.replace(estimate, variants=paired.variants,
                                                   duet=request.duet))) as progress:  # fmt: skip
        return ab.run_ab(
            paired,
            ref=str(request.base),
            repo=request.repo or REPO_ROOT,
            rule=rule,
            progress=progress,
            budget_s=ab.parse_budget(request.budget or ab.AB_BUDGET),
            report=request.report,
        )


def measure(cfg: RunConfig, progress: Progress | None = None, *, report: bool = True) -> Path:
    """Run ``cfg`` for the gate (``bench.judged_run``), refused before any load when it would
    make too few repetitions."""
    require_repeat(cfg)
    return judged_run(cfg, progress, report=report)


def candidate_settings(cfg: RunConfig) -> dict:
    """The settings a run of ``cfg`` will have on this machine, known before it starts."""
    return figures.settings_of(
        rec.ConfigRecord.model_validate(cfg.as_dict()),
        rec.MachineRecord.model_validate(machine.machine_info()),
    )


def preflight(
    baseline_path: Path, cfg: RunConfig | None = None, *, rule: Rule = DEFAULT_RULE
) -> Summary:
    """The baseline, read and (for a planned run of ``cfg``) matched against its settings;
    gating on normalised figures needs a baseline that has them."""
    reference = baselines.load(baseline_path)
    if rule.gate == "normalised" and reference.normalised is None:
        raise NotComparableError(
            f"--gate normalised needs a baseline with control values, and {baseline_path} has "
            "none (it predates the control probe); refresh it or gate on raw figures."
        )
    if cfg is not None:
        planned = Summary({}, candidate_settings(cfg))
        figures.require_same_settings(reference, planned, baseline_path=baseline_path)
        require_repeat(cfg)
    require_repetitions(reference, f"the baseline {baseline_path}")
    return reference


def require_repeat(cfg: RunConfig) -> None:
    """Refuse (exit 2) a planned run with fewer than ``MIN_REPETITIONS_TO_RUN`` repetitions,
    before any load runs."""
    if cfg.repeat < MIN_REPETITIONS_TO_RUN:
        raise UsageError(
            TOO_FEW.format(need=MIN_REPETITIONS_TO_RUN)
            + f", and this run would make {cfg.repeat}: use --repeat {MIN_REPETITIONS} (the "
            "ci profile's count)."
        )


def against_baseline(
    *,
    baseline_path: Path,
    cfg: RunConfig | None = None,
    run_dir: Path | None = None,
    rule: Rule = DEFAULT_RULE,
    progress: Progress | None = None,
    report: bool = True,
) -> tuple[CheckResult, Summary]:
    """Check a run (``run_dir``, or a fresh run of ``cfg``) against a stored baseline.

    The baseline is read and its settings compared *before* any load runs, so a missing,
    corrupt or mismatched baseline costs a second, not minutes.
    """
    reference = preflight(baseline_path, cfg, rule=rule)
    if run_dir is None:
        assert cfg is not None, "a check needs a run directory or a run to measure"
        run_dir = measure(cfg, progress, report=report)
    candidate = figures.from_run(run_dir)
    figures.require_same_settings(reference, candidate, baseline_path=baseline_path)
    require_repetitions(candidate, f"run {candidate.run_id}")
    result = compare(
        reference,
        candidate,
        rule=rule,
        reference_label=f"baseline {baseline_path.name} (run {reference.run_id}, "
        f"git {str(reference.git_sha)[:10]})",
        candidate_label=f"run {candidate.run_id} (git {str(candidate.git_sha)[:10]})",
        fail_on_invalid=True,
    )
    result.notes += [
        f"package version differs: {d}" for d in figures.version_differences(reference, candidate)
    ]
    return result, candidate


def write_outputs(result: CheckResult, run_dir: Path) -> Path:
    """verdict.md, check.json and the two github-action-benchmark files into the run directory;
    the markdown is appended to ``$GITHUB_STEP_SUMMARY`` too when CI sets it."""
    md = to_markdown(result)
    path = write_text_atomic(run_dir / "verdict.md", md)
    write_json_atomic(run_dir / "check.json", rec.stamped(to_json(result)))
    for kind, entries in to_benchmark_json(result).items():
        write_text_atomic(run_dir / f"benchmark-{kind}.json", json.dumps(entries, indent=2))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as fh:
            fh.write(md)
    return path


def parse_exports(items: list[str] | None) -> tuple[tuple[str, Path], ...]:
    """``--export bmf=out.json`` (repeatable) → ((kind, path), …); a usage error otherwise."""
    out = []
    for item in items or ():
        kind, sep, file = item.partition("=")
        if not sep or not file.strip() or kind.strip() not in EXPORTS:
            raise UsageError(
                f"--export takes KIND=FILE with KIND one of {', '.join(EXPORTS)}, not {item!r}."
            )
        out.append((kind.strip(), Path(file.strip())))
    return tuple(out)


def write_exports(result: CheckResult, exports: tuple[tuple[str, Path], ...]) -> None:
    """Each asked export of the verdict: Bencher Metric Format or a github-action-benchmark
    custom-tool file (see ``presenting.verdict``)."""
    for kind, path in exports:
        doc = to_bmf(result) if kind == "bmf" else to_benchmark_json(result)[kind]
        write_text_atomic(path, json.dumps(doc, indent=2, sort_keys=True))


def record_history(
    result: CheckResult, candidate: Summary, *, history_path: Path, mode: str
) -> None:
    """One history line: the candidate's medians, and what the check measured (an A/B
    check's head/base ratios with their intervals, a baseline check's normalised medians)."""
    history.append(
        history_path,
        history.record(
            run_id=candidate.run_id,
            git_sha=candidate.git_sha,
            machine_class=str(candidate.settings.get("machine_class")),
            mode=mode,
            reference=result.reference_label,
            passed=result.passed,
            status=str(result.status),
            exit_code=result.exit_code,
            regressions=[f.name for f in result.regressions],
            metrics=candidate.medians(),
            base_sha=result.reference_sha if mode == "ab" else None,
            ratios=measured_ratios(result) if mode == "ab" else None,
            normalised=candidate.normalised_medians() if mode == "baseline" else None,
        ),
    )


def measured_ratios(result: CheckResult) -> dict[str, dict[str, dict[str, dict]]]:
    """framework → endpoint → metric → the verdict's head/base ratio, its interval, outcome
    and detectable effect (``@head`` dropped from the variant: the ratio is of the pair)."""
    out: dict[str, dict[str, dict[str, dict]]] = {}
    for f in result.findings:
        if not math.isfinite(f.ratio.value):
            continue
        framework = f.variant.split("@", 1)[0]
        out.setdefault(framework, {}).setdefault(f.endpoint, {})[f.metric] = {
            "ratio": f.ratio.value,
            "low": f.ratio.low if math.isfinite(f.ratio.low) else None,
            "high": f.ratio.high if math.isfinite(f.ratio.high) else None,
            "interval": f.ratio.method,
            "outcome": str(f.outcome),
            "gated": f.gated,
            "catchable_change": f.catchable_change if math.isfinite(f.catchable) else None,
        }
    return out
