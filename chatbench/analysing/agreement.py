"""Do Locust and wrk agree? The paired judgement of a cross-check's windows.

Each pair of windows (one Locust, one wrk, back to back on the same service) gives one ratio
Locust/wrk; the answer per variant is their geometric mean with the 95 % t interval on the log
ratios (``stats.paired_ratio``: pairs measured back to back share the machine's state, as a
duet does). The tools agree when that interval lies within ±5 % (``measuring.crosscheck``'s
``AGREEMENT``).
"""

from __future__ import annotations

from chatbench.analysing import stats
from chatbench.measuring.crosscheck import Measurement
from chatbench.storing.crosschecks import Agreement


def agreement(variant: str, measurements: list[Measurement]) -> Agreement:
    """Pair up Locust and wrk windows by pair number and judge the log ratios."""
    by_pair: dict[int, dict[str, float]] = {}
    for m in measurements:
        if m.variant == variant:
            by_pair.setdefault(m.pair, {})[m.tool] = m.rps
    pairs = [p for p in sorted(by_pair) if {"locust", "wrk"} <= set(by_pair[p])]
    wrk = [by_pair[p]["wrk"] for p in pairs]
    locust = [by_pair[p]["locust"] for p in pairs]
    est, _ = stats.paired_ratio(wrk, locust)
    ratios = [round(b / a, 4) for a, b in zip(wrk, locust, strict=True) if a > 0]
    return Agreement(variant, ratios, est.value, est.low, est.high, est.n)
