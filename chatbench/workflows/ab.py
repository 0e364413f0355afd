"""`chatbench check --base REF`: measure the base commit and the candidate side by side.

A stored baseline compares numbers taken at other times, maybe on another runner; on shared CI
runners that spread alone can exceed the regressions worth catching. Here both sides run in ONE
run on the same machine, same Postgres cluster and template data, so only the code differs.

**Duet (default).** Each repetition runs ``X@base`` and ``X@head`` *at the same time*: both
services on the service CPUs, each with its own database clone and its own Locust, both Locusts
given one shared start so their measured windows coincide to the millisecond
(``measuring.duet``; the fairness rule checks the windows). Whatever the machine does in that
window — a noisy neighbour, a CPU-frequency step, throughput flipping between two levels every
few seconds as on the 2-core reference VM — it does to both sides, so the per-repetition ratio
head/base is nearly free of it: measured there, no change gave per-repetition ratios of
0.97–1.03 while the repetitions themselves ranged from 201 to 273 req/s a side. The verdict therefore judges the pairs
(``check.Rule.paired``: a t-test on the log ratios, p Holm-adjusted over the check's verdicts).
Sharing the CPUs is fair here because the two sides are the same framework in the same
configuration: a side that needs more CPU per request gets fewer requests through, which is
the regression being looked for. It is never used to compare *different* variants
(``chatbench run``), whose fairness rule is a CPU budget of their own. ``--sequential`` keeps
the older design: one side after the other, interleaved (``fastapi@base``, ``fastapi@head``,
then reversed, …), judged as two independent samples.

How: REF is checked out into a temporary ``git worktree``; a variant named ``X@base`` is
variant ``X`` started with that worktree as its working directory (``python -m`` then imports
the worktree's ``impl_*`` packages first), ``X@head`` is started from the candidate's tree
(``--repo``, default this checkout). The harness itself (runner, Locust scenario, schema) is
the candidate's for both, so the load is identical. The worktree is removed afterwards in every
case (success, failure, Ctrl-C); the runner stops every process it started.

When REF's ``requirements.lock`` differs from the candidate's, REF's services run in an
environment built from REF's pins (``chatbench.provisioning.refenv``: cached by the pins' hash, removed
afterwards in every case, like the worktree); otherwise both sides share the current one. The
verdict's notes say which environment each side used.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from collections.abc import Callable
from pathlib import Path

from chatbench.analysing import figures, sequential
from chatbench.analysing.gate import (
    CheckResult,
    Outcome,
    Rule,
    ab_rule,
    compare,
)
from chatbench.configuration.paths import REPO_ROOT
from chatbench.configuration.settings import RunConfig
from chatbench.configuration.variants import SourceTree
from chatbench.errors import UsageError
from chatbench.measuring.watch import Progress
from chatbench.provisioning import refenv
from chatbench.provisioning.sourcetree import resolve, worktree
from chatbench.storing import record as rec
from chatbench.storing.baselines import Summary
from chatbench.workflows.bench import judged_run

BASE, HEAD = "base", "head"
EXTRA_ROUND_REPEAT = 2  # one A B, B A pair per extra round
AB_BUDGET = "5m"  # extra rounds for undecided verdicts until this much time (``--budget``)
# Kept free at the end of the budget for the verdict, its files and removing the worktree, so
# a whole check (not only its load) fits in ``--budget``.
FINISH_S = 5.0
# Verdicts an extra round may not change (see ``keep_decided``).
DECIDED = frozenset({Outcome.REGRESSION, Outcome.IMPROVEMENT, Outcome.NO_CHANGE})
# measure(cfg, progress) -> the run directory of one measured round
Measure = Callable[..., Path]


def source_trees(tree: Path, repo: Path, env: refenv.BaseEnv) -> dict[str, SourceTree]:
    """``X@base`` served from the base commit's worktree (in its own environment when its pins
    differ), ``X@head`` from the candidate's tree."""
    return {
        BASE: SourceTree(str(tree), env.python if env.built else None),
        HEAD: SourceTree(str(repo)),
    }


def paired_variants(frameworks: tuple[str, ...]) -> tuple[str, ...]:
    """``("django", "fastapi")`` → django@base, django@head, fastapi@base, fastapi@head."""
    for name in frameworks:
        if "@" in name:
            raise UsageError(f"--variants {name!r}: with --base name plain variants; @ is added.")
    return tuple(f"{name}@{side}" for name in frameworks for side in (BASE, HEAD))


def run_ab(
    settings: RunConfig,
    *,
    ref: str,
    measure: Measure | None = None,
    repo: Path = REPO_ROOT,
    rule: Rule | None = None,
    budget_s: float | None = None,
    progress: Progress | None = None,
    report: bool = True,
) -> tuple[CheckResult, Summary]:
    """Measure ``ref`` and ``repo``'s working tree in one run and judge head vs base.

    ``settings`` is the run as the user asked for it, its variants already paired
    (``paired_variants``: ``X@base``, ``X@head``, …) and not yet validated: it is validated
    here, once the source trees exist (so ``--service-env fastapi@head:…`` validates); a duet
    when ``settings.duet``. Each round is ``bench.judged_run`` (``report``: with its report),
    unless tests hand in another ``measure(cfg, progress)``.

    Adaptive stopping: with ``budget_s``, while some verdict is undecided, fewer than
    ``sequential.MAX_ROUNDS`` rounds ran and another round (``EXTRA_ROUND_REPEAT`` interleaved
    repetitions, timed from the rounds so far, plus ``FINISH_S``) still fits in the budget, run
    it and judge all repetitions together. The looks share the check's alpha by the stated
    spending rule of ``analysing.sequential`` (``look_rule``), planned for ``MAX_ROUNDS``
    rounds from the start: the first look is already judged at its share. The
    budget counts from this call (worktree included), except that building REF's environment
    does not count: a check that reuses the current environment takes at most about
    ``budget_s``. Every extra look is one more chance for noise to pass the rule, so rounds
    only ever resolve *undecided* verdicts: a decided
    regression is never re-rolled into a pass, nor a decided "no change" into a regression
    (``keep_decided``: a finding decided in an earlier round keeps that round's values and
    verdict; the undecided ones are judged on all rounds pooled).
    """
    measure = measure or functools.partial(judged_run, report=report)
    rule = ab_rule(rule, paired=settings.duet)
    repo = repo.resolve()
    sha = resolve(repo, ref)
    label = f"base {ref} ({sha[:10]})"
    status = getattr(progress, "phase", None)
    started = time.monotonic()
    with (
        worktree(repo, sha) as tree,
        refenv.environment(repo, tree, label=f"base {sha[:10]}", status=status) as env,
    ):
        if env.built:  # the budget is for measuring, not for building REF's environment
            started = time.monotonic()
        cfg = dataclasses.replace(settings, sources=source_trees(tree, repo, env)).validate()
        run_dirs = [measure(cfg, progress)]
        # order_seed=None: each round draws its own duet order (schedule.with_order_seed).
        extra = dataclasses.replace(
            cfg, repeat=min(cfg.repeat, EXTRA_ROUND_REPEAT), order_seed=None
        )
        round_s = (time.monotonic() - started) * extra.repeat / cfg.repeat
        adaptive = bool(budget_s)

        def at_look(rounds: int) -> Rule:
            return look_rule(rule, cfg.repeat, extra.repeat, rounds) if adaptive else rule

        result, summary = judge_runs(run_dirs, rule=at_look(1), reference_label=label)
        while (
            adaptive
            and another_round(result, len(run_dirs))
            and time.monotonic() - started + round_s + FINISH_S <= budget_s
        ):
            round_started = time.monotonic()
            run_dirs.append(measure(extra, progress))
            # An extra round also starts Postgres and writes a report: its own duration is a
            # better forecast of the next one than a share of the first round.
            round_s = max(round_s, time.monotonic() - round_started)
            pooled, summary = judge_runs(
                run_dirs, rule=at_look(len(run_dirs)), reference_label=label
            )
            result = keep_decided(result, pooled)
        notes = [env.note()]
    if adaptive:
        notes.append(spending_note(at_look(len(run_dirs)), len(result.gated)))
    if len(run_dirs) > 1:
        notes.append(
            f"adaptive stopping: {len(run_dirs)} rounds judged together "
            f"({', '.join(p.name for p in run_dirs)})"
        )
    undecided = result.count(Outcome.UNDECIDED)
    if budget_s and undecided:
        notes.append(
            f"{undecided} verdict(s) still undecided when the {budget_s:.0f} s budget ran out"
        )
    result.notes += notes
    result.reference_sha = sha
    return result, summary


def look_rule(rule: Rule, first: int, extra: int, rounds: int) -> Rule:
    """``rule`` at the look after ``rounds`` rounds (the first of ``first`` repetitions a side,
    the others of ``extra``): its alpha shared by the looks (``analysing.sequential``)."""
    return dataclasses.replace(rule, looks=sequential.information(first, extra, rounds))


def another_round(result: CheckResult, rounds: int) -> bool:
    """Whether the rule asks for another round (time allowing): some gated verdict still
    undecided, no regression found, and fewer than ``sequential.MAX_ROUNDS`` rounds run."""
    return (
        bool(result.count(Outcome.UNDECIDED))
        and not result.regressions
        and rounds < sequential.MAX_ROUNDS
    )


def spending_note(rule: Rule, verdicts: int) -> str:
    """How this look's significance level was set (the notes of an adaptive check)."""
    k = len(rule.looks)
    first = sequential.nominal_alpha(rule.alpha / max(1, verdicts), rule.looks)
    return (
        f"alpha spending over at most {sequential.MAX_ROUNDS} rounds ({sequential.RULE}): "
        f"look {k} at information {rule.looks[-1]:.2f} has spent "
        f"{sequential.spent(rule.looks[-1], rule.alpha):.4f} of {rule.alpha:g}; a verdict "
        f"judged here is significant below p = {rule.look_alpha:.4f} alone, {first:.4f} at "
        f"Holm's first step over {verdicts} gated verdict(s)"
    )


def keep_decided(earlier: CheckResult, pooled: CheckResult) -> CheckResult:
    """``pooled`` (all rounds judged together), but with every finding ``earlier`` had already
    decided (regression, improvement, no change) kept as it was: only findings that were
    *undecided* (or *missing*: no data is no verdict) take the pooled verdict.

    Each extra look is another chance for noise to pass (or fail) the rule, so a verdict once
    reached is frozen; more rounds may only resolve what is still undecided.
    """
    before = {(f.variant, f.endpoint, f.metric): f for f in earlier.findings}
    findings = []
    frozen = 0
    for f in pooled.findings:
        old = before.get((f.variant, f.endpoint, f.metric))
        if old is not None and old.outcome in DECIDED:
            findings.append(old)
            frozen += 1
        else:
            findings.append(f)
    notes = list(pooled.notes)
    if frozen:
        notes.append(
            f"{frozen} verdict(s) decided in an earlier round kept as they were; extra rounds "
            "only judge what was still undecided"
        )
    return dataclasses.replace(pooled, findings=findings, notes=notes)


def judge_runs(
    run_dirs: list[Path], *, rule: Rule, reference_label: str
) -> tuple[CheckResult, Summary]:
    """Head vs base over the repetitions of one or more A/B runs (all rounds pooled)."""
    summary = figures.merge([figures.from_run(d) for d in run_dirs])
    return judge_summary(summary, rule=rule, reference_label=reference_label, where=run_dirs[-1])


def is_ab_run(run_dir: Path) -> bool:
    """Whether a run directory holds paired ``@base`` / ``@head`` variants."""
    return rec.load(run_dir).is_ab


def judge_run(
    run_dir: Path,
    *,
    rule: Rule | None = None,
    reference_label: str = "base",
) -> tuple[CheckResult, Summary]:
    """Head vs base per framework, from an A/B run directory (also re-judges an old one):
    paired when the run was a duet, as ``run_ab`` judged it."""
    rule = ab_rule(rule, paired=rec.load(run_dir).config.duet)
    summary = figures.from_run(run_dir)
    return judge_summary(summary, rule=rule, reference_label=reference_label, where=run_dir)


def judge_summary(
    summary: Summary, *, rule: Rule, reference_label: str, where: Path
) -> tuple[CheckResult, Summary]:
    base = summary.select(f"@{BASE}")
    if not base.values and not base.excluded:  # every @base repetition excluded: judged (fails)
        raise UsageError(f"{where} has no @{BASE} variants; it is not an A/B run.")
    head = summary.select(f"@{HEAD}")
    dropped = 0
    if rule.paired:  # a duet: judge repetitions measured together, pair by pair
        base, head, dropped = figures.pair_up(base, head)
    result = compare(
        base,
        head,
        rule=rule,
        reference_label=f"{reference_label}, same run",
        candidate_label=f"head (run {summary.run_id}, git {str(summary.git_sha)[:10]})",
    )
    if rule.paired:
        result.notes.append(
            "duet: each repetition ran base and head at the same time on the same CPUs; "
            "verdicts judge the per-repetition head/base ratios (paired t-test on log ratios, "
            f"p Holm-adjusted over the check's {len(result.gated)} gated verdicts)"
        )
    if dropped:
        result.notes.append(
            f"{dropped} value(s) left out for want of a partner (a repetition excluded on one "
            "side only)"
        )
    return result, summary


def parse_budget(text: str) -> float | None:
    """``"5m"``, ``"90s"``, ``"1h"`` or plain seconds → seconds; ``"off"`` → None (one round
    only); a usage error otherwise."""
    raw = text.strip().lower()
    if raw == "off":
        return None
    scale = {"s": 1, "m": 60, "h": 3600}.get(raw[-1:])
    try:
        value = float(raw[:-1] if scale else raw) * (scale or 1)
    except ValueError:
        raise UsageError(f"--budget takes a duration like 5m or 300s, not {text!r}.") from None
    if not 0 < value <= 24 * 3600:
        raise UsageError(f"--budget must be above 0 and at most 24h, not {text!r}.")
    return value
