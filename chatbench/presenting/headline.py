"""The verdict a run opens with, in the report and the terminal: a sentence per answer, a table.

The answers, in order, each only when the run measured it: **capacity** (closed loop),
**latency at equal offered load**, **capacity under the latency objective** (``--slo``) and the
**open-model cross-check** (``--open-crosscheck``). Every figure carries the interval
``analysing`` gave it (a 95 % CI, a range of 2, the search's bracket) or says "not measured"
and why; every ratio says whether the difference is significant. Where two answers point
different ways, one more sentence says why from the data, or withholds the weaker answer
(``presenting.reconcile``). Everything comes from ``analysing.answers.run_answer``: nothing
here measures or judges again. The table's cells are written by ``verdict_cells``; the
latency at equal load, the answer with the most rows, by ``equal_load_answer``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import tails, toolagreement
from chatbench.analysing.answers import RunAnswer, run_answer
from chatbench.analysing.slo import SloAnswer, SloRatio, VariantSlo
from chatbench.analysing.tables import repetition_metrics, summarise, without_invalid
from chatbench.configuration.endpoints import ALL
from chatbench.presenting import equal_load_answer
from chatbench.presenting.reconcile import CLOSED_LOOP, Claim, Reconciled, reconcile
from chatbench.presenting.verdict_cells import (
    CAPACITY,
    CROSSCHECK,
    NO_RATIO,
    SLO,
    Keys,
    Ratio,
    Row,
    bounds,
    cell,
    held,
    join,
    judged_words,
    ratio_cell,
    short_reason,
)
from chatbench.storing.rundir import Run, load_run
from loadtests.arrivals import words as arrival_words


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


def _capacity(run: Run, answer: RunAnswer, withheld: Keys) -> tuple[str, Row, list[Claim]]:
    what = "Capacity (closed loop" if answer.mode == "closed" else f"Throughput ({answer.mode} mode"
    load = f", {answer.scenario} scenario" + (
        f", {answer.users} users" if answer.mode == "closed" and answer.users else ""
    )
    variants = list(run.variants)
    measured = {c.variant: c for c in answer.capacities}
    figures = tuple(
        cell(measured[v].rps, ",.0f") if v in measured else f"not measured{_invalid_reason(run, v)}"
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
        cells.append(
            held(ratio_cell(r.ratio, r.p, widened=r.widened), (CAPACITY, v, None), withheld)
        )
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
        return f"{head}: {c.variant} {cell(c.rps, ',.0f')} req/s.", row, claims
    if len(answer.ratios) == 1:
        r = answer.ratios[0]
        mine, ref = measured[r.variant].rps.value, measured[r.reference].rps.value
        text = (
            f"{head}: {r.variant} serves {r.ratio.value:.2f}× {r.reference}'s requests per second"
        )
        text += bounds(r.ratio, ".2f")
        if r.widened is not None and r.ratio.is_ci:
            text += (
                f", widened to {r.widened.low:.2f}–{r.widened.high:.2f} to cover wrk's "
                f"reading ({r.instruments})"
            )
        text += f", {judged_words(cells[0])}"
        return f"{text}: {mine:,.0f} vs {ref:,.0f} req/s.", row, claims
    base = measured[answer.reference].rps.value
    parts = [
        f"{r.variant} {r.ratio.value:.2f}×{bounds(r.ratio, '.2f')}, "
        f"{judged_words(held(ratio_cell(r.ratio, r.p, widened=r.widened), (CAPACITY, r.variant, None), withheld))}"
        for r in answer.ratios
    ]
    return (
        (f"{head}, relative to {answer.reference} ({base:,.0f} req/s): " + "; ".join(parts) + "."),
        row,
        claims,
    )


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
            held(slo_ratio_cell(r), (SLO, v, None), withheld) if r is not None else NO_RATIO
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
    arrivals = arrival_words(run.record.config.arrivals)
    text = f"Capacity within {what} (open model, {arrivals}): " + "; ".join(each)
    for r in found.ratios:
        cell = held(slo_ratio_cell(r), (SLO, r.variant, None), withheld)
        text += f"; {r.text()}, {judged_words(cell)}"
    unstable = [v.variant for v in found.variants if not v.stable]
    if unstable and len(found.variants) > 1:
        text += f"; no ratio with {join(unstable)}"
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
        said, more, found = equal_load_answer.equal_load(run, answer, withheld)
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
