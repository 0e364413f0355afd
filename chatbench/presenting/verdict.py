"""The gate's verdict for people and CI: one headline, markdown, a terminal table, JSON.

``to_markdown`` is ``verdict.md``, the GitHub job summary and the pull-request comment;
``to_json`` is ``check.json``; ``to_benchmark_json`` feeds github-action-benchmark and
``to_bmf`` Bencher (Bencher Metric Format); ``to_rich_table`` is what the terminal shows. Every
output shows raw and normalised figures side by side and says which gated, and for every
verdict what it could have caught (the smallest slowdown its own rule catches with 80 % power,
``analysing.power``).
Closed-loop latency verdicts are listed apart, for information (``analysing.gate``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.markup import escape
from rich.table import Table

from chatbench.analysing import power, stats
from chatbench.analysing.gate import (
    METRIC_UNITS,
    NOT_AVAILABLE,
    CheckResult,
    Finding,
    Outcome,
    Rule,
    Status,
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


def _catch_value(f: Finding) -> str:
    """``-7.9%``: the smallest change this verdict's rule catches with 80 % power
    (significance and threshold together, ``analysing.power``), or ``–``."""
    c = f.catchable_change
    return f"{c:+.1%}" if math.isfinite(c) else "–"


def would_catch(result: CheckResult) -> str:
    """One sentence per gated metric: the smallest regression every gated verdict of it would
    catch (the largest of their detectable effects), e.g. "this check would catch rps drops
    ≥ 6.1 % (80 % power)"; "" when none is computable."""
    parts = []
    for metric in dict.fromkeys(f.metric for f in result.gated):
        values = [f.catchable_change for f in result.gated if f.metric == metric]
        values = [abs(v) for v in values if math.isfinite(v)]
        if values:
            kind = "drops" if stats.higher_is_better(metric) else "rises"
            parts.append(f"{metric} {kind} ≥ {max(values):.1%}")
    if not parts:
        return ""
    return (
        "this check would catch "
        + ", ".join(parts)
        + " (80 % power, each gated verdict: significant and at least the threshold together)"
    )


# The check's conclusion as the headline, the markdown title and check.json name it.
HEADLINE_WORD = {
    Status.NO_REGRESSION: "PASS",
    Status.UNDECIDED: "UNDECIDED",
    Status.REGRESSION: "FAIL",
    Status.NOT_COMPARABLE: "NOT COMPARABLE",
}
TITLE = {
    Status.NO_REGRESSION: "✅ PASS: no regression",
    Status.UNDECIDED: "❔ UNDECIDED within the budget",
    Status.REGRESSION: "❌ FAIL: regression",
    Status.NOT_COMPARABLE: "⚠️ NOT COMPARABLE",
}


def status_line(result: CheckResult) -> str:
    """``exit code 4 (undecided): …``: what the exit code says, for CI logs and comments."""
    meaning = {
        Status.NO_REGRESSION: "every gated verdict decided, none a regression",
        Status.UNDECIDED: "no regression found, but some gated verdict was still undecided "
        "when the check ended: too noisy to tell, not evidence of no change",
        Status.REGRESSION: "a significant regression at least the threshold",
        Status.NOT_COMPARABLE: "something the gate had to judge had no valid figures",
    }[result.status]
    return f"exit code {result.exit_code} ({result.status}): {meaning}"


def headline(result: CheckResult, *, brief: bool = False) -> str:
    """One line: the check's conclusion (PASS, UNDECIDED, FAIL, NOT COMPARABLE) and why
    (``brief``: without the could-not-judge sentences)."""
    undecided = result.count(Outcome.UNDECIDED)
    tail = (
        f"; {undecided} undecided (too noisy to tell; not evidence of no change)"
        if undecided
        else ""
    )
    catch = would_catch(result)
    tail += f"; {catch}" if catch else ""
    gate = " (gate: normalised figures)" if result.rule.gate == "normalised" else ""
    word = HEADLINE_WORD[result.status]
    if result.passed:
        return (
            f"{word}{gate}: no significant regression in {len(result.gated)} gated "
            f"comparisons{tail}"
        )
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
    return f"{word}{gate}: " + "; ".join(parts)


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


LITTLE = (
    "Latency below is for information, not gated: this run was closed-loop (a fixed number of "
    "users, each waiting for its answer), where by Little's law throughput × latency ≈ users, "
    "so a latency change restates the throughput change. Latency is gated when measured at a "
    "fixed offered load (`--mode rate`)."
)


def to_markdown(result: CheckResult) -> str:
    """The verdict as markdown, for ``$GITHUB_STEP_SUMMARY`` and ``verdict.md``."""
    rule = result.rule
    lines = [
        f"## chatbench check: {TITLE[result.status]} (exit {result.exit_code})",
        "",
        f"{headline(result)}.",
        "",
        f"{status_line(result)[0].upper()}{status_line(result)[1:]}.",
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
    header = [
        f"| variant | endpoint | metric | reference | candidate | {_change_header(raw)} | p | "
        f"threshold | would catch (80 % power) | verdict | "
        f"{_change_header(normalised, 'normalised change')} | normalised verdict |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---|---:|---|",
    ]
    lines += header + _markdown_rows(result, [f for f in result.findings if f.gated])
    if result.informational:
        lines += ["", "### For information (not gated)", "", LITTLE, ""]
        lines += header + _markdown_rows(result, result.informational)
    if result.notes:
        lines += ["", "### Notes", ""] + [f"- {n}" for n in result.notes]
    return "\n".join(lines) + "\n"


def _markdown_rows(result: CheckResult, findings: Sequence[Finding]) -> list[str]:
    lines = []
    for f in findings:
        ci = _fmt_ci(f)
        verdict = f"**{f.outcome}**" if f.outcome is Outcome.REGRESSION else str(f.outcome)
        norm_ci, norm_verdict = _fmt_norm(result, f)
        if norm_verdict == str(Outcome.REGRESSION):
            norm_verdict = f"**{norm_verdict}**"
        lines.append(
            f"| {f.variant} | `{f.endpoint}` | {f.metric} | {fmt(centre(f.reference))} "
            f"(n={len(f.reference)}) | {fmt(centre(f.candidate))} (n={len(f.candidate)}) | "
            f"{ci} | {f.p_value:.3f} | {f.threshold:.1%} | {_catch_value(f)} | {verdict} | "
            f"{norm_ci} | {norm_verdict} |"
        )
    return lines


def to_rich_table(result: CheckResult) -> Table:
    table = Table(
        title=f"chatbench check — {headline(result, brief=True)}",
        caption=escape(normalised_line(result).replace("`", "")),
    )
    header = _change_header(result.findings)
    for col in ("variant", "endpoint", "metric", "ref", "new", header):
        table.add_column(col, justify="left" if col in ("variant", "endpoint") else "right")
    table.add_column("p", justify="right")
    table.add_column("catches", justify="right")
    table.add_column("verdict")
    table.add_column(
        _change_header(result.normalised or result.findings, "normalised"), justify="right"
    )
    table.add_column("norm. verdict")
    style = {"regression": "bold red", "improvement": "green"}
    if result.informational:
        table.caption = escape(
            normalised_line(result).replace("`", "")
            + " info: latency judged for information only (closed loop, Little's law)."
        )

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
            _catch_value(f),
            styled(str(f.outcome)) if f.gated else f"info: {f.outcome}",
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
            "extra": f"{f.outcome}{'' if f.gated else ' (information, not gated)'}; "
            f"change {f.change:+.1%}; p={f.p_value:.3f}; {f.would_catch()}"
            + _norm_extra(result, f),
        }
        (bigger if stats.higher_is_better(f.metric) else smaller).append(entry)
    return {"customBiggerIsBetter": bigger, "customSmallerIsBetter": smaller}


def _norm_extra(result: CheckResult, f: Finding) -> str:
    n = result.normalised_for(f)
    if n is None or not math.isfinite(n.change):
        return ""
    return f"; normalised {n.outcome}, change {n.change:+.1%}"


def to_bmf(result: CheckResult) -> dict[str, dict[str, dict[str, float]]]:
    """Bencher Metric Format: benchmark (variant and endpoint) → measure → the candidate's
    geometric mean with its 95 % interval (``lower_value``/``upper_value``, when it has one).
    Throughput uses Bencher's built-in ``throughput`` measure (operations per second);
    latencies get measures of their own in milliseconds (``p95-latency-ms``)."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for f in result.findings:
        est = stats.interval(f.candidate)
        if not math.isfinite(est.value):
            continue
        measure = _BMF_MEASURES.get(f.metric, f.metric.replace("_", "-"))
        metric: dict[str, float] = {"value": round(est.value, 6)}
        if est.is_ci:
            metric |= {"lower_value": round(est.low, 6), "upper_value": round(est.high, 6)}
        out.setdefault(f"{f.variant} {f.endpoint}", {})[measure] = metric
    return out


_BMF_MEASURES = {
    "rps": "throughput",
    "p50": "p50-latency-ms",
    "p95": "p95-latency-ms",
    "p99": "p99-latency-ms",
}


def _finding_json(f: Finding) -> dict:
    return {
        "outcome": str(f.outcome),
        "gated": f.gated,
        "detectable": {
            "power": power.POWER,
            "alpha": f.alpha,
            "threshold": f.threshold,
            "rule": "significant at alpha and at least the threshold, together",
            "log_effect": f.detectable if math.isfinite(f.detectable) else None,
            "catchable_change": f.catchable_change if math.isfinite(f.catchable) else None,
            "sentence": f.would_catch(),
        },
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
        "status": str(result.status),
        "exit_code": result.exit_code,
        "headline": headline(result),
        "would_catch": would_catch(result),
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
