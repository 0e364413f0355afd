"""Is a window measured in steady state? Its first and last thirds, compared.

A window that starts while the service is still running its start-up collections has a first
third slower (or luckier) than its last; a service past them gives thirds that agree. Each
repetition's window is cut into thirds by the per-second series of its ``requests.json``
(successful latencies from the intended send time, µs HDR per endpoint and second); per
variant and percentile, the thirds' values over the repetitions get a 95 % interval each
(``stats.interval``: t on the logs, from 3 repetitions) and the last/first ratio a paired one
(``stats.paired_ratio``: thirds of one window share its machine). The thirds **agree** when
their two intervals overlap; the paired ratio says by how much they differ. Pure functions of a
run directory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from chatbench.analysing import stats
from chatbench.load import latency
from chatbench.storing.rundir import load_run

METRICS = {"p50": 50.0, "p99": 99.0}


@dataclass(frozen=True)
class Thirds:
    """One window's first and last thirds: percentile → ms, and the requests in each."""

    variant: str
    repetition: int
    first: dict[str, float]
    last: dict[str, float]
    first_requests: int
    last_requests: int


@dataclass(frozen=True)
class ThirdsAgreement:
    """Per variant and percentile: the first and last thirds over the repetitions."""

    variant: str
    metric: str
    first: stats.Estimate
    last: stats.Estimate
    ratio: stats.Estimate  # last / first, paired

    @property
    def agree(self) -> bool:
        """The two thirds' intervals overlap (a real interval each: n ≥ 3)."""
        a, b = self.first, self.last
        return a.is_ci and b.is_ci and a.low <= b.high and b.low <= a.high


def window_thirds(doc: latency.RequestsDocument) -> tuple[dict[str, float], dict[str, float], int, int]:  # fmt: skip
    """The first and last thirds' percentiles of one window (whole seconds: the series' unit)."""
    seconds = max(1, int(math.floor(doc.duration_s)))
    third = seconds / 3
    first, last = latency.new_histogram(), latency.new_histogram()
    for row in doc.series:
        if row.second < third:
            latency.add_into(first, latency.decode(row.hdr))
        elif row.second >= seconds - third and row.second < seconds:
            latency.add_into(last, latency.decode(row.hdr))
    qs = list(METRICS.values())
    a = latency.percentiles(first, qs) if first.get_total_count() else {}
    b = latency.percentiles(last, qs) if last.get_total_count() else {}
    name = {q: m for m, q in METRICS.items()}
    return ({name[q]: v for q, v in a.items()}, {name[q]: v for q, v in b.items()},
            first.get_total_count(), last.get_total_count())  # fmt: skip


def thirds(run_dir: Path) -> list[Thirds]:
    """Every repetition's thirds."""
    run = load_run(run_dir)
    out = []
    for rep in run.repetitions:
        doc = latency.read_requests(rep.path / "requests.json")  # rep.path: its directory
        first, last, n1, n2 = window_thirds(doc)
        out.append(Thirds(rep.variant, rep.repetition, first, last, n1, n2))
    return out


def agreements(found: list[Thirds]) -> list[ThirdsAgreement]:
    """Per variant and percentile, the thirds compared over the repetitions."""
    out = []
    for variant in dict.fromkeys(t.variant for t in found):
        mine = [t for t in found if t.variant == variant]
        for metric in METRICS:
            pairs = [(t.first[metric], t.last[metric]) for t in mine
                     if metric in t.first and metric in t.last]  # fmt: skip
            firsts = [a for a, _ in pairs]
            lasts = [b for _, b in pairs]
            ratio, _ = stats.paired_ratio(firsts, lasts)
            out.append(ThirdsAgreement(variant, metric, stats.interval(firsts),
                                       stats.interval(lasts), ratio))  # fmt: skip
    return out
