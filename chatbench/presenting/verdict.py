"""The gate's verdict for people and CI: one headline, markdown, a terminal table, JSON.

``to_markdown`` is ``verdict.md`` and the GitHub job summary; ``to_json`` is ``check.json``;
``to_benchmark_json`` feeds github-action-benchmark; ``to_rich_table`` is what the terminal
shows. Every output shows raw and normalised figures side by side and says which gated.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from chatbench.analysing import stats
from chatbench.analysing.gate import (
    METRIC_UNITS,
    NOT_AVAILABLE,
    CheckResult,
    Finding,
    Outcome,
    Rule,
    centre,
    fmt,
)


def _fmt_ci(f: Finding) -> str:
    """``+1.2% [-0.5%, +3.0%]`` (95 % CI), ``+1.2% (range -2.0% … +4.0%)`` or ``[no CI]``."""
    if not math.isfinite(f.ratio.value):
        return "–"
    low, high = f.ratio.low - 1, f.ratio.high - 1
    if f.ratio.is_ci:
        return f"{f.change:+.1%} [{low:+.1%}, {high:+.1%}]"
    if f.ratio.method == stats.RANGE and stats.has_interval(f.ratio):
        return f"{f.change:+.1%} (range {low:+.1%} … {high:+.1%})"
    return f"{f.change:+.1%} [no CI]"


def _change_header(findings: Sequence[Finding], prefix: str = "change") -> str:
    """``change [95 % CI]`` only when every interval shown is one."""
    if all(f.ratio.is_ci or not math.isfinite(f.ratio.value) for f in findings):
        return f"{prefix} [95 % CI]"
    return f"{prefix} [95 % CI] or (range)"


def headline(result: CheckResult, *, brief: bool = False) -> str:
    """One line: PASS/FAIL and why (``brief``: without the could-not-judge sentences)."""
    undecided = result.count(Outcome.UNDECIDED)
    tail = (
        f"; {undecided} undecided (too noisy to tell; not evidence of no change)"
        if undecided
        else ""
    )
    gate = " (gate: normalised figures)" if result.rule.gate == "normalised" else ""
    if result.passed:
        return f"PASS{gate}: no significant regression in {len(result.findings)} comparisons{tail}"
    parts = []
    if result.invalid:
        parts.append(
            f"{len(result.invalid)} invalid repetition(s) (saturated load generator: figures "
            "not trustworthy)" + ("" if brief else ": " + " ".join(result.invalid))
        )
    if result.regressions:
        parts.append(
            f"{len(result.regressions)} regression(s): "
            + ", ".join(f.name for f in result.regressions)
        )
    if result.unjudged:
        parts.append(
            f"{len(result.unjudged)} thing(s) could not be judged (nothing to judge is not a "
            "pass)" + ("" if brief else ": " + " ".join(result.unjudged))
        )
    return f"FAIL{gate}: " + "; ".join(parts)


def normalised_line(result: CheckResult) -> str:
    """One sentence: what the normalised figures are and which figures gate."""
    gate = f"`--gate {result.rule.gate}` decides the verdict"
    if result.normalised is None:
        return f"Normalised figures: {NOT_AVAILABLE} ({result.normalised_note}); {gate}."
    return (
        "Normalised figures: each repetition relative to the control probe of its own round "
        "(throughput ÷ probe ops/s, latency × probe ops/s), judged with the same rule; "
        f"{gate}."
    )


def _fmt_norm(result: CheckResult, f: Finding) -> tuple[str, str]:
    """(change with its interval, verdict) of ``f``'s normalised twin, or dashes."""
    n = result.normalised_for(f)
    if n is None:
        return ("–", NOT_AVAILABLE if result.normalised is None else "–")
    return (_fmt_ci(n), str(n.outcome))


def _rule_sentence(rule: Rule) -> str:
    if rule.paired:
        return (
            "Rule (duet: base and head measured at the same time): a regression is a change in "
            "the bad direction, judged on the per-repetition ratios head/base (geometric mean, "
            "95 % t interval on the log ratios), whose t-test p, Holm-adjusted over this "
            f"check's verdicts (the p column), is below {rule.alpha:g} and whose size is at "
            f"least {rule.threshold:.0%}; fewer than {rule.min_repetitions} pairs: undecided."
        )
    size = (
        f"max({rule.threshold:.0%}, {rule.noise_k:g} × the reference's CV)"
        if rule.noise_k
        else f"{rule.threshold:.0%}"
    )
    return (
        "Rule: a regression is a change in the bad direction of the ratio of geometric means "
        f"over repetitions whose Welch's t-test on the log values gives p < {rule.alpha:g} "
        f"(its 95 % CI excludes 1) and whose size is at least {size}; fewer than "
        f"{rule.min_repetitions} repetitions a side: undecided."
    )


def to_markdown(result: CheckResult) -> str:
    """The verdict as markdown, for ``$GITHUB_STEP_SUMMARY`` and ``verdict.md``."""
    rule = result.rule
    lines = [
        f"## chatbench check: {'✅ PASS' if result.passed else '❌ FAIL'}",
        "",
        f"{headline(result)}.",
        "",
        f"Reference: {result.reference_label}. Candidate: {result.candidate_label}.",
        "",
        _rule_sentence(rule),
        "",
    ]
    lines += [normalised_line(result), ""]
    if result.invalid:
        lines += ["### Invalid repetitions (fails the check)", ""]
        lines += [f"- {reason}" for reason in result.invalid]
        lines.append("")
    if result.regressions:
        lines += ["### Regressions", ""]
        lines += [f"- **{f.name}**: {f.sentence()}" for f in result.regressions]
        lines.append("")
    if result.unjudged:
        lines += ["### Could not be judged (fails the check)", ""]
        lines += [f"- {reason}" for reason in result.unjudged]
        lines.append("")
    raw, normalised = result.findings, result.normalised or result.findings
    lines += [
        f"| variant | endpoint | metric | reference | candidate | {_change_header(raw)} | p | "
        f"threshold | verdict | {_change_header(normalised, 'normalised change')} | "
        "normalised verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    for f in result.findings:
        ci = _fmt_ci(f)
        verdict = f"**{f.outcome}**" if f.outcome is Outcome.REGRESSION else str(f.outcome)
        norm_ci, norm_verdict = _fmt_norm(result, f)
        if norm_verdict == str(Outcome.REGRESSION):
            norm_verdict = f"**{norm_verdict}**"
        lines.append(
            f"| {f.variant} | `{f.endpoint}` | {f.metric} | {fmt(centre(f.reference))} "
            f"(n={len(f.reference)}) | {fmt(centre(f.candidate))} (n={len(f.candidate)}) | "
            f"{ci} | {f.p_value:.3f} | {f.threshold:.1%} | {verdict} | {norm_ci} | "
            f"{norm_verdict} |"
        )
    if result.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def to_rich_table(result: CheckResult) -> Table:
    table = Table(
        title=f"chatbench check — {headline(result, brief=True)}",
        caption=escape(normalised_line(result).replace("`", "")),
    )
    header = _change_header(result.findings)
    for col in ("variant", "endpoint", "metric", "ref", "new", header):
        table.add_column(col, justify="left" if col in ("variant", "endpoint") else "right")
    table.add_column("p", justify="right")
    table.add_column("verdict")
    table.add_column(
        _change_header(result.normalised or result.findings, "normalised"), justify="right"
    )
    table.add_column("norm. verdict")
    style = {"regression": "bold red", "improvement": "green"}

    def styled(verdict: str) -> str:
        s = style.get(verdict, "")
        return f"[{s}]{verdict}[/]" if s else verdict

    for f in result.findings:
        norm_ci, norm_verdict = _fmt_norm(result, f)
        table.add_row(
            f.variant,
            escape(f.endpoint),
            f.metric,
            fmt(centre(f.reference)),
            fmt(centre(f.candidate)),
            _fmt_ci(f),
            f"{f.p_value:.3f}",
            styled(str(f.outcome)),
            norm_ci,
            styled(norm_verdict),
        )
    return table


def to_benchmark_json(result: CheckResult) -> dict[str, list[dict]]:
    """github-action-benchmark input: ``customBiggerIsBetter`` and ``customSmallerIsBetter``."""
    bigger: list[dict] = []
    smaller: list[dict] = []
    for f in result.findings:
        value = centre(f.candidate)
        if not math.isfinite(value):
            continue
        entry = {
            "name": f.name,
            "unit": METRIC_UNITS.get(f.metric, "ms"),
            "value": round(value, 4),
            "range": f"±{(f.ratio.high - f.ratio.low) / 2:.1%}" if f.ratio.is_ci else "",
            "extra": f"{f.outcome}; change {f.change:+.1%}; p={f.p_value:.3f}"
            + _norm_extra(result, f),
        }
        (bigger if stats.higher_is_better(f.metric) else smaller).append(entry)
    return {"customBiggerIsBetter": bigger, "customSmallerIsBetter": smaller}


def _norm_extra(result: CheckResult, f: Finding) -> str:
    n = result.normalised_for(f)
    if n is None or not math.isfinite(n.change):
        return ""
    return f"; normalised {n.outcome}, change {n.change:+.1%}"


def _finding_json(f: Finding) -> dict:
    return {
        "outcome": str(f.outcome),
        "reference": list(f.reference),
        "candidate": list(f.candidate),
        "ratio": f.ratio.value,
        "ratio_ci": [f.ratio.low, f.ratio.high],
        "interval": f.ratio.method,
        "p_value": f.p_value,
        "threshold": f.threshold,
    }


def to_json(result: CheckResult) -> dict:
    return {
        "passed": result.passed,
        "headline": headline(result),
        "reference": result.reference_label,
        "candidate": result.candidate_label,
        "rule": {
            "threshold": result.rule.threshold,
            "noise_k": result.rule.noise_k,
            "alpha": result.rule.alpha,
            "metrics": list(result.rule.metrics),
            "gate": result.rule.gate,
        },
        "normalised_available": result.normalised is not None,
        "normalised_note": result.normalised_note,
        "findings": [
            {
                "variant": f.variant,
                "endpoint": f.endpoint,
                "metric": f.metric,
                **_finding_json(f),
                "normalised": (
                    _finding_json(n) if (n := result.normalised_for(f)) is not None else None
                ),
            }
            for f in result.findings
        ],
        "notes": result.notes,
        "unjudged": result.unjudged,
        "invalid": result.invalid,
    }
