"""The verdict's latency at equal offered load: its rows, its sentence clause and its claims.

Per rate, the percentiles ``openload`` measured (and always the tail the answers compare, p99,
whose "not measured" is part of the answer) with each ratio to the reference taken, like
``openload``'s own p99 ratio, over the windows that kept the rate and can hold the percentile
(``analysing.tails``). The sentence compares the tail: p99, else the highest percentile every
variant that kept the rate has.
"""

from __future__ import annotations

from collections.abc import Sequence

from chatbench.analysing import openload, stats, tails
from chatbench.analysing.answers import RunAnswer
from chatbench.presenting.reconcile import Claim
from chatbench.presenting.verdict_cells import (
    EQUAL_LOAD,
    NO_RATIO,
    WITHHELD,
    Keys,
    Ratio,
    Row,
    bounds,
    cell,
    held,
    judged_words,
    ms_fmt,
    ratio_cell,
)
from chatbench.storing.rundir import Run

# The percentiles the table shows at an equal offered load: those measured for some variant,
# and always the tail the answers compare (its "not measured" is part of the answer).
TAIL = openload.COMPARED


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
            text = cell(est, ms_fmt(est.value), " ms")
            return text + (" (widened)" if metric in v.widened else "")
        why = v.not_measured.get(metric)
        return f"not measured: {why.reason}" if why else "–"
    if not v.n:
        return "not measured"
    held = [w for w in v.windows if w.overloaded and metric in w.values and w.holdings[metric].ok]
    if held:
        return f"≥ {min(w.values[metric] for w in held):,.1f} ms (overloaded)"
    return f"overloaded in {v.overloaded} of {v.n} windows"


def not_measured(variants: Sequence[openload.VariantLatency], metric: str) -> str:
    """``p99 not measured: at most 872 requests in a window, 1,000 needed`` (one reason for
    all, as the answer's sentence says it: ``openload.not_measured_clauses``), or each
    variant's, named; "" when every variant has it."""
    return "; ".join(openload.not_measured_clauses(variants, metric))


def compared_metric(found: openload.RateLatency) -> str | None:
    """The tail the answer compares at a rate: p99, else the highest percentile every variant
    that kept the rate has."""
    kept = [v for v in found.variants if v.kept_up]
    if len(kept) < 2:
        return None
    for metric in (TAIL, *reversed([m for m in openload.SHOWN if m != TAIL])):
        if all(metric in v.percentiles for v in kept):
            return metric
    return None


def equal_load(run: Run, answer: RunAnswer, withheld: Keys) -> tuple[str, list[Row], list[Claim]]:
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
                cell = ratio_cell(est, p)
                if metric in by_name[name].widened or metric in ref.widened:  # type: ignore[union-attr]
                    cell = Ratio(cell.text, "not claimed: the two generators differ here")
                if metric == compared_metric(found):
                    cell = held(cell, (EQUAL_LOAD, name, found.rate), withheld)
                cells.append(cell)
                if metric == compared_metric(found):
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
    metric = compared_metric(found)
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
            cell = held(ratio_cell(est, p), (EQUAL_LOAD, v.variant, found.rate), withheld)
            mine, theirs = v.percentiles[metric].value, ref.percentiles[metric].value
            judged = judged_words(cell)
            if cell.judged != WITHHELD and (metric in v.widened or metric in ref.widened):
                judged = "not claimed: the two generators differ on it"
            said.append(
                f"{v.variant}'s {label} is {est.value:.2f}× {reference}'s"
                f"{bounds(est, '.2f')}, {judged}: {mine:.1f} vs {theirs:.1f} ms"
            )
    elif not over:
        said.append("no percentile was measured for every variant")
    if metric != TAIL:
        said += [text for text in [not_measured(found.variants, TAIL)] if text]
    return f"{at} " + ", and ".join(said) if said else at
