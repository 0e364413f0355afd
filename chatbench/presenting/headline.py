"""The verdict a run opens with, in the report and the terminal: a sentence per answer, a table.

The answers, in order, each only when the run measured it: **capacity** (closed loop),
**latency at equal offered load**, **capacity under the latency objective** (``--slo``) and the
**open-model cross-check** (``--open-crosscheck``). Every figure carries the interval
``analysing`` gave it (a 95 % CI, a range of 2, the search's bracket) or says "not measured"
and why; every ratio says whether the difference is significant. Where two answers point
different ways, one more sentence says why from the data, or withholds the weaker answer
(``presenting.reconcile``). Everything comes from ``analysing.answers.run_answer``: nothing
here measures or judges again.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import openload, stats, tails, toolagreement
from chatbench.analysing.answers import RunAnswer, run_answer
from chatbench.analysing.slo import SloAnswer, SloRatio, VariantSlo
from chatbench.analysing.tables import repetition_metrics, summarise, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.presenting.reconcile import CLOSED_LOOP, Claim, Reconciled, reconcile
from chatbench.storing.rundir import Run, load_run

CAPACITY, EQUAL_LOAD, SLO, CROSSCHECK = "capacity", "equal load", "slo", "cross-check"
# The percentiles the table shows at an equal offered load: those measured for some variant,
# and always the tail the answers compare (its "not measured" is part of the answer).
TAIL = openload.COMPARED


@dataclass(frozen=True)
class Ratio:
    """One ratio cell: the ratio with its bounds, and what they allow to be said."""

    text: str  # "1.86× [1.59–2.17]"; "–" without a ratio
    judged: str  # "significant (p = 0.0003)", "not significant", "not judged: range of 2", …
    significant: bool = False


NO_RATIO = Ratio("–", "")


@dataclass(frozen=True)
class Row:
    """One row of the verdict's table: an answer's figure per variant, its ratios."""

    answer: str  # what the row measures, with its unit
    kind: str  # CAPACITY, EQUAL_LOAD, SLO or CROSSCHECK
    figures: tuple[str, ...]  # per variant, in ``Headline.variants`` order
    ratios: tuple[Ratio, ...]  # per compared variant, in ``Headline.compared`` order


@dataclass(frozen=True)
class Headline:
    """What a run's report and terminal open with."""

    variants: tuple[str, ...]
    reference: str
    sentences: tuple[str, ...]  # one per answer
    reconciled: str  # "" or the one sentence on answers that point different ways
    rows: tuple[Row, ...]

    @property
    def compared(self) -> tuple[str, ...]:
        return tuple(v for v in self.variants if v != self.reference)

    @property
    def ratio_headers(self) -> tuple[str, ...]:
        return tuple(f"{v}/{self.reference}" for v in self.compared)


# --------------------------------------------------------------------------- formatting


def _bounds(est: stats.Estimate, fmt: str) -> str:
    """`` [95 % CI 1.59–2.17]``, `` [range of 2: …]`` or `` (n = 1, no interval)``."""
    if est.is_ci:
        return f" [95 % CI {est.low:{fmt}}–{est.high:{fmt}}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f" [range of 2: {est.low:{fmt}}–{est.high:{fmt}}]"
    return f" (n = {est.n}, no interval)"


def _cell(est: stats.Estimate, fmt: str, unit: str = "") -> str:
    """``1,078 [1,043–1,114]``, ``1,078 [range 1,000–1,100]`` or ``1,078 (n = 1)``."""
    if not math.isfinite(est.value):
        return "–"
    point = f"{est.value:{fmt}}{unit}"
    if est.is_ci:
        return f"{point} [{est.low:{fmt}}–{est.high:{fmt}}]"
    if est.method == stats.RANGE and stats.has_interval(est):
        return f"{point} [range {est.low:{fmt}}–{est.high:{fmt}}]"
    return f"{point} (n = {est.n})"


def _ms_fmt(value: float) -> str:
    return ".1f" if value < 100 else ",.0f"


def _ratio(est: stats.Estimate, p: float, *, widened: stats.Estimate | None = None) -> Ratio:
    """A ratio cell judged by ``stats``' rule (and, widened, by the widened interval too)."""
    if not math.isfinite(est.value):
        return NO_RATIO
    text = f"{est.value:.2f}×"
    if est.is_ci:
        text += f" [{est.low:.2f}–{est.high:.2f}]"
        significant = stats.is_significant(est, p) and (widened is None or widened.excludes(1))
        judged = f"{'significant' if significant else 'not significant'} (p = {p:.2g})"
        if widened is not None:
            judged += f"; widened to {widened.low:.2f}–{widened.high:.2f} to cover wrk's reading"
        return Ratio(text, judged, significant)
    if est.method == stats.RANGE and stats.has_interval(est):
        return Ratio(
            f"{text} [range {est.low:.2f}–{est.high:.2f}]",
            f"not judged: {est.n} repetitions, {stats.MIN_CI_N} needed",
        )
    return Ratio(text, f"not judged: n = {est.n}")


def _join(names: Sequence[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


# --------------------------------------------------------------------------- capacity


def _invalid_reason(run: Run, variant: str | None = None) -> str:
    """`` (loadgen saturated)``: why the run's (or a variant's) repetitions were left out."""
    reasons = sorted(
        {
            reason.split(":")[0].split(" (")[0]
            for (name, _), reason in run.record.invalid.items()
            if variant is None or name == variant
        }
    )
    return f" ({'; '.join(reasons)})" if reasons else ""


def short_reason(reason: str) -> str:
    """A reason for a table cell: each clause up to its first colon (``loadgen saturated: …``
    → ``loadgen saturated``); the sentences keep the whole reason."""
    plain = re.sub(r"\s*\([^()]*\)", "", reason)
    return "; ".join(part.split(": ")[0] for part in plain.split("; "))


WITHHELD = "withheld: see the sentence on answers that point different ways"
Keys = frozenset[tuple[str, str, float | None]]


def _held(cell: Ratio, key: tuple[str, str, float | None], withheld: Keys) -> Ratio:
    return Ratio(cell.text, WITHHELD) if key in withheld and cell.text != "–" else cell


def _capacity(run: Run, answer: RunAnswer, withheld: Keys) -> tuple[str, Row, list[Claim]]:
    what = "Capacity (closed loop" if answer.mode == "closed" else f"Throughput ({answer.mode} mode"
    load = f", {answer.scenario} scenario" + (
        f", {answer.users} users" if answer.mode == "closed" and answer.users else ""
    )
    variants = list(run.variants)
    measured = {c.variant: c for c in answer.capacities}
    figures = tuple(
        _cell(measured[v].rps, ",.0f")
        if v in measured
        else f"not measured{_invalid_reason(run, v)}"
        for v in variants
    )
    ratios = {r.variant: r for r in answer.ratios}
    cells = []
    claims = []
    for v in variants:
        if v == answer.reference:
            continue
        r = ratios.get(v)
        if r is None:
            cells.append(NO_RATIO)
            continue
        cells.append(_held(_ratio(r.ratio, r.p, widened=r.widened), (CAPACITY, v, None), withheld))
        claims.append(
            Claim(
                CAPACITY,
                f"the capacity ratio {v}/{r.reference} ({r.ratio.value:.2f}×)",
                v,
                r.reference,
                r.ratio.value,
                True,
                r.significant,
                0,
            )
        )
    row = Row(
        f"{what[0].upper()}{what[1:].split(' (')[0].lower()} (req/s)",
        CAPACITY,
        figures,
        tuple(cells),
    )
    head = f"{what}{load})"
    if not answer.capacities:
        why = _invalid_reason(run)
        return f"{head}: not measured: no repetition could be kept{why}.", row, claims
    if not answer.ratios:
        c = answer.capacities[0]
        return f"{head}: {c.variant} {_cell(c.rps, ',.0f')} req/s.", row, claims
    if len(answer.ratios) == 1:
        r = answer.ratios[0]
        mine, ref = measured[r.variant].rps.value, measured[r.reference].rps.value
        text = (
            f"{head}: {r.variant} serves {r.ratio.value:.2f}× {r.reference}'s requests per second"
        )
        text += _bounds(r.ratio, ".2f")
        if r.widened is not None and r.ratio.is_ci:
            text += (
                f", widened to {r.widened.low:.2f}–{r.widened.high:.2f} to cover wrk's "
                f"reading ({r.instruments})"
            )
        text += f", {_judged_words(cells[0])}"
        return f"{text}: {mine:,.0f} vs {ref:,.0f} req/s.", row, claims
    base = measured[answer.reference].rps.value
    parts = [
        f"{r.variant} {r.ratio.value:.2f}×{_bounds(r.ratio, '.2f')}, "
        f"{_judged_words(_held(_ratio(r.ratio, r.p, widened=r.widened), (CAPACITY, r.variant, None), withheld))}"
        for r in answer.ratios
    ]
    return (
        (f"{head}, relative to {answer.reference} ({base:,.0f} req/s): " + "; ".join(parts) + "."),
        row,
        claims,
    )


def _judged_words(r: Ratio) -> str:
    """The ratio's judgement as words in a sentence."""
    if r.judged.startswith("significant"):
        return "a significant difference" + r.judged.removeprefix("significant").split(";")[0]
    if r.judged.startswith("not significant"):
        return (
            "not a significant difference" + r.judged.removeprefix("not significant").split(";")[0]
        )
    if r.judged == WITHHELD:
        return "withheld (see below)"
    return r.judged.split(":")[0]  # "not judged": the bounds beside it say why


# --------------------------------------------------------------------------- equal load


def measured_values(v: openload.VariantLatency, metric: str) -> list[float]:
    """``metric`` of the windows that kept the rate and can hold it (``analysing.tails``): the
    values ``openload`` bases the variant's figure on."""
    return [
        w.values[metric]
        for w in v.windows
        if not w.overloaded
        and metric in w.values
        and w.holdings.get(metric)
        and w.holdings[metric].ok
    ]


def latency_ratio(
    v: openload.VariantLatency, ref: openload.VariantLatency, metric: str
) -> tuple[stats.Estimate, float] | None:
    """``metric`` of ``v`` over ``ref`` from the windows that hold it (as ``openload`` takes its
    p99 ratio), or None where either has no such figure or did not keep the rate."""
    if not (v.kept_up and ref.kept_up and metric in v.percentiles and metric in ref.percentiles):
        return None
    return stats.ratio_interval(measured_values(v, metric), measured_values(ref, metric))


def _latency_cell(v: openload.VariantLatency, metric: str) -> str:
    if v.kept_up:
        if metric in v.percentiles:
            est = v.percentiles[metric]
            text = _cell(est, _ms_fmt(est.value), " ms")
            return text + (" (widened)" if metric in v.widened else "")
        why = v.not_measured.get(metric)
        return f"not measured: {why}" if why else "–"
    if not v.n:
        return "not measured"
    held = [w for w in v.windows if w.overloaded and metric in w.values and w.holdings[metric].ok]
    if held:
        return f"≥ {min(w.values[metric] for w in held):,.1f} ms (overloaded)"
    return f"overloaded in {v.overloaded} of {v.n} windows"


def not_measured(variants: Sequence[openload.VariantLatency], metric: str) -> str:
    """``p99 not measured: at most 872 requests in a window, 1,000 needed`` (one reason for
    all), or each variant's reason; "" when every variant has it."""
    why = {v.variant: v.not_measured[metric] for v in variants if metric in v.not_measured}
    if not why:
        return ""
    label = tails.label(tails.NAMED[metric])
    if len(set(why.values())) == 1:
        return f"{label} not measured: {next(iter(why.values()))}"
    return f"{label} not measured: " + "; ".join(f"{v}: {reason}" for v, reason in why.items())


def _compared_metric(found: openload.RateLatency) -> str | None:
    """The tail the answer compares at a rate: p99, else the highest percentile every variant
    that kept the rate has."""
    kept = [v for v in found.variants if v.kept_up]
    if len(kept) < 2:
        return None
    for metric in (TAIL, *reversed([m for m in openload.SHOWN if m != TAIL])):
        if all(metric in v.percentiles for v in kept):
            return metric
    return None


def _equal_load(run: Run, answer: RunAnswer, withheld: Keys) -> tuple[str, list[Row], list[Claim]]:
    section = run.record.equal_load
    if section is not None and section.skipped:
        return f"Latency at equal offered load: not measured: {section.skipped}.", [], []
    rows: list[Row] = []
    claims: list[Claim] = []
    parts = []
    of = f" of {section.slowest}'s capacity" if section is not None and section.slowest else ""
    for rank, found in enumerate(sorted(answer.equal_load, key=lambda r: -r.rate), start=1):
        by_name = {v.variant: v for v in found.variants}
        ref = by_name.get(answer.reference)
        shown = [
            m
            for m in openload.SHOWN
            if m == TAIL or any(m in v.percentiles for v in found.variants)
        ]
        for metric in shown:
            label = tails.label(tails.NAMED[metric])
            figures = tuple(
                _latency_cell(by_name[v], metric) if v in by_name else "not measured"
                for v in run.variants
            )
            cells = []
            for name in run.variants:
                if name == answer.reference:
                    continue
                got = latency_ratio(by_name[name], ref, metric) if name in by_name and ref else None
                if got is None:
                    cells.append(NO_RATIO)
                    continue
                est, p = got
                cell = _ratio(est, p)
                if metric in by_name[name].widened or metric in ref.widened:  # type: ignore[union-attr]
                    cell = Ratio(cell.text, "not claimed: the two generators differ here")
                if metric == _compared_metric(found):
                    cell = _held(cell, (EQUAL_LOAD, name, found.rate), withheld)
                cells.append(cell)
                if metric == _compared_metric(found):
                    claims.append(
                        Claim(
                            EQUAL_LOAD,
                            f"its {label} at {found.rate:,.0f} req/s ({est.value:.2f}×)",
                            name,
                            answer.reference,
                            est.value,
                            False,
                            cell.significant,
                            rank,
                            rate=found.rate,
                            percentile=tails.NAMED[metric],
                        )
                    )
            rows.append(
                Row(
                    f"{label} at {found.rate:,.0f} req/s offered (ms)",
                    EQUAL_LOAD,
                    figures,
                    tuple(cells),
                )
            )
        parts.append(_rate_clause(found, answer.reference, of if not parts else "", withheld))
    if not parts:
        return "", rows, claims
    return (
        ("Latency at equal offered load, from the intended send time: " + "; ".join(parts) + "."),
        rows,
        claims,
    )


def _rate_clause(
    found: openload.RateLatency, reference: str, of: str, withheld: Keys = frozenset()
) -> str:
    """``at 464 req/s (80 % of django's capacity) fastapi's p99 is 0.38× django's [95 % CI
    0.22–0.66], a significant difference (p = 0.009): 6.5 vs 17.1 ms``."""
    at = f"at {found.rate:,.0f} req/s ({100 * found.fraction:g} %{of})"
    by_name = {v.variant: v for v in found.variants}
    said = []
    over = [v for v in found.variants if v.n and not v.kept_up]
    for v in over:
        said.append(
            f"{v.variant} did not keep the rate ({v.overloaded} of {v.n} windows "
            "overloaded): its latency is a lower bound, not compared"
        )
    metric = _compared_metric(found)
    ref = by_name.get(reference)
    if metric is not None and ref is not None and ref.kept_up:
        label = tails.label(tails.NAMED[metric])
        for v in found.variants:
            if v.variant == reference or not v.kept_up:
                continue
            got = latency_ratio(v, ref, metric)
            if got is None:
                continue
            est, p = got
            cell = _held(_ratio(est, p), (EQUAL_LOAD, v.variant, found.rate), withheld)
            mine, theirs = v.percentiles[metric].value, ref.percentiles[metric].value
            judged = _judged_words(cell)
            if cell.judged != WITHHELD and (metric in v.widened or metric in ref.widened):
                judged = "not claimed: the two generators differ on it"
            said.append(
                f"{v.variant}'s {label} is {est.value:.2f}× {reference}'s"
                f"{_bounds(est, '.2f')}, {judged}: {mine:.1f} vs {theirs:.1f} ms"
            )
    elif not over:
        said.append("no percentile was measured for every variant")
    if metric != TAIL:
        said += [text for text in [not_measured(found.variants, TAIL)] if text]
    return f"{at} " + ", and ".join(said) if said else at


# --------------------------------------------------------------------------- SLO


def _slo_cell(v: VariantSlo) -> str:
    b = v.bracket
    if not b.stable or b.low is None:
        why = v.why_not or "no stable answer"
        head, _, rest = why.partition(": ")
        return f"{head}: {short_reason(rest)}" if head == "not measured" else why
    if v.at_ceiling:
        return f"≥ {b.low:,.0f} (its whole capacity)"
    high = f"{b.high:,.0f}" if b.high is not None else "?"
    return f"{b.low:,.0f} (bracket {b.low:,.0f}–{high}{', confirmed' if v.confirmed else ''})"


def slo_ratio_cell(r: SloRatio) -> Ratio:
    """A ratio of two SLO answers: its bounds come from the searches' resolution, so it is
    "apart" (a difference) only where they exclude 1, and never called significant."""
    low = f"{r.low:.2f}" if r.low > 0 else "0"
    high = f"{r.high:.2f}" if math.isfinite(r.high) else "∞"
    apart = r.low > 1 or r.high < 1
    judged = "brackets apart: a difference" if apart else "brackets overlap: no difference shown"
    return Ratio(f"{r.value:.2f}× ({low}–{high})", judged, apart)


def _slo(run: Run, found: SloAnswer, withheld: Keys) -> tuple[str, Row | None, list[Claim]]:
    section = run.record.slo
    assert section is not None
    what = f"{tails.label(float(section.percentile))} ≤ {float(section.bound_ms):g} ms"
    if not found.variants:
        return found.sentence, None, []
    by_name = {v.variant: v for v in found.variants}
    reference = found.variants[0].variant
    figures = tuple(_slo_cell(by_name[v]) if v in by_name else "not measured" for v in run.variants)
    ratios = {r.variant: r for r in found.ratios}
    cells, claims = [], []
    for v in run.variants:
        if v == reference:
            continue
        r = ratios.get(v)
        cells.append(
            _held(slo_ratio_cell(r), (SLO, v, None), withheld) if r is not None else NO_RATIO
        )
        if r is not None:
            claims.append(
                Claim(
                    SLO,
                    f"the ratio of capacities within {what} ({r.value:.2f}×)",
                    v,
                    reference,
                    r.value,
                    True,
                    slo_ratio_cell(r).significant,
                    5,
                    percentile=float(section.percentile),
                )
            )
    row = Row(f"Capacity within {what} (req/s)", SLO, figures, tuple(cells))
    each = []
    for v in found.variants:
        b = v.bracket
        if not b.stable or b.low is None:
            each.append(f"{v.variant}: {v.why_not}")
        elif v.at_ceiling:
            each.append(f"{v.variant} holds it up to its whole capacity, {b.low:,.0f} req/s")
        else:
            high = f"{b.high:,.0f}" if b.high is not None else "?"
            each.append(
                f"{v.variant} holds {b.low:,.0f} req/s (missed by {high}; "
                f"{'confirmed' if v.confirmed else 'not confirmed'})"
            )
    text = f"Capacity within {what} (open model): " + "; ".join(each)
    for r in found.ratios:
        cell = _held(slo_ratio_cell(r), (SLO, r.variant, None), withheld)
        text += f"; {r.text()}, {_judged_words(cell)}"
    unstable = [v.variant for v in found.variants if not v.stable]
    if unstable and len(found.variants) > 1:
        text += f"; no ratio with {_join(unstable)}"
    return text + ".", row, claims


# --------------------------------------------------------------------------- cross-check


def _crosscheck(run: Run) -> tuple[str, Row | None]:
    section = run.record.open_crosscheck
    if section is None:
        return "", None
    if section.skipped:
        return f"Open-model cross-check: not measured: {section.skipped}.", None
    found = toolagreement.agreements(run.path, run.record)
    figures = []
    for v in run.variants:
        mine = [a for a in found if a.variant == v]
        counts = {
            k: sum(1 for a in mine if a.verdict == k)
            for k in (toolagreement.AGREE, toolagreement.DIFFER, toolagreement.UNDECIDED)
        }
        figures.append(" · ".join(f"{k} {n}" for k, n in counts.items()) if mine else "–")
    row = Row(
        f"Open-model cross-check ({section.tool}/Locust, ±{100 * toolagreement.AGREEMENT:g} %)",
        CROSSCHECK,
        tuple(figures),
        tuple(NO_RATIO for _ in run.variants[1:]),
    )
    judged = [a for a in found if a.verdict != toolagreement.NOT_MEASURED]
    agree = [a for a in judged if a.verdict == toolagreement.AGREE]
    differ = [a for a in judged if a.verdict == toolagreement.DIFFER]
    undecided = [a for a in judged if a.verdict == toolagreement.UNDECIDED]
    text = (
        f"Open-model cross-check ({section.tool} against Locust on the same services): they "
        f"agree within ±{100 * toolagreement.AGREEMENT:g} % on {len(agree)} of "
        f"{len(judged)} percentiles compared"
    )
    if differ:
        text += (
            "; they differ on "
            + ", ".join(
                f"{a.variant} {tails.label(tails.NAMED[a.metric])} at {a.rate:,.0f} req/s "
                f"({a.ratio.value:.2f}× [{a.ratio.low:.2f}–{a.ratio.high:.2f}])"
                for a in differ
            )
            + ", where the answer's interval is widened to cover both"
        )
    if undecided:
        text += f"; {len(undecided)} undecided (interval wider than the band)"
    return text + ".", row


# --------------------------------------------------------------------------- the verdict


def _closed_loop_claims(run: Run, answer: RunAnswer) -> list[Claim]:
    """Closed-loop p99 per variant against the reference: never an answer (Little's law),
    but a table shows it, so where it points the other way the verdict says why."""
    if answer.mode != "closed" or not answer.users:
        return []
    kept, _ = without_invalid(run)
    summary = summarise(repetition_metrics(kept))
    if summary.empty:
        return []
    p99 = summary[(summary["endpoint"] == ALL) & (summary["metric"] == "p99")]
    value = {str(r.variant): float(r.value) for r in p99.itertuples()}
    ref = value.get(answer.reference)
    out = []
    for v, mine in value.items():
        if v == answer.reference or ref is None or not (math.isfinite(mine) and ref > 0):
            continue
        out.append(
            Claim(
                CLOSED_LOOP,
                f"{v}'s closed-loop p99 ({mine:.1f} vs {ref:.1f} ms)",
                v,
                answer.reference,
                mine / ref,
                False,
                False,
                9,
                percentile=99.0,
            )
        )
    return out


def _answers(
    run: Run, answer: RunAnswer, withheld: Keys
) -> tuple[list[str], list[Row], list[Claim]]:
    """Every answer's sentence, rows and claims, with the ``withheld`` claims marked."""
    sentences: list[str] = []
    rows: list[Row] = []
    said, row, claims = _capacity(run, answer, withheld)
    sentences.append(said)
    rows.append(row)
    if run.record.equal_load is not None:
        said, more, found = _equal_load(run, answer, withheld)
        sentences += [said] if said else []
        rows += more
        claims += found
    if answer.slo is not None:
        said, one, found = _slo(run, answer.slo, withheld)
        sentences.append(said)
        rows += [one] if one is not None else []
        claims += found
    said, one = _crosscheck(run)
    sentences += [said] if said else []
    rows += [one] if one is not None else []
    return sentences, rows, claims


def headline(source: Run | Path, answer: RunAnswer | None = None) -> Headline:
    """The verdict of a plain run directory (or a loaded ``Run``)."""
    run = source if isinstance(source, Run) else load_run(Path(source))
    answer = answer or run_answer(run)
    if answer.reference not in run.variants and run.variants:  # no capacity was kept
        named = run.config.reference
        answer = dataclasses.replace(
            answer, reference=named if named in run.variants else run.variants[0]
        )
    _, _, claims = _answers(run, answer, frozenset())
    done: Reconciled = reconcile(run, answer, [*claims, *_closed_loop_claims(run, answer)])
    sentences, rows, _ = (
        _answers(run, answer, done.withheld)
        if done.withheld
        else _answers(run, answer, frozenset())
    )
    return Headline(
        tuple(run.variants), answer.reference, tuple(sentences), done.sentence, tuple(rows)
    )
