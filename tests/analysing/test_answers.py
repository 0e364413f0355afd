"""The capacity ratio carries the Locust/wrk disagreement the run cites (``analysing.answers``)."""

from __future__ import annotations

import pytest

from chatbench.analysing import answers, stats
from chatbench.storing import record as rec


def test_a_disagreeing_crosscheck_widens_the_ratio_to_cover_wrks_reading() -> None:
    """Locust reads django 0.956× and fastapi 1.029× what wrk does (the 2026-11-30 cross-check):
    wrk's fastapi/django is the Locust ratio × 0.956 / 1.029, and with each factor anywhere in
    its interval the widened bounds reach low × 0.934 / 1.072 and high × 0.979 / 0.988."""
    ratio = stats.Estimate(1.86, 1.59, 2.17, 5, stats.WELCH_T_LOG)
    fastapi = answers.InstrumentBias(1.029, 0.988, 1.072, agrees=False)
    django = answers.InstrumentBias(0.956, 0.934, 0.979, agrees=False)
    wide = answers.widened(ratio, fastapi, django)
    assert wide.value == 1.86
    assert wide.low == pytest.approx(1.59 * 0.934 / 1.072)
    assert wide.high == pytest.approx(2.17)  # Locust's own high bound is the higher one here
    assert wide.low < ratio.low


def test_significance_needs_the_widened_interval_to_exclude_one_too() -> None:
    ratio = stats.Estimate(1.06, 1.01, 1.11, 5, stats.WELCH_T_LOG)
    plain = answers.CapacityRatio("fastapi", "django", ratio, 0.02)
    assert plain.significant
    wide = stats.Estimate(1.06, 0.97, 1.13, 5, stats.WELCH_T_LOG)
    carried = answers.CapacityRatio("fastapi", "django", ratio, 0.02, wide, "Locust/wrk …")
    assert not carried.significant
    said = answers._ratio_text(carried)
    assert "widened to 0.97–1.13 to cover wrk's reading (Locust/wrk …" in said
    assert said.endswith("not significant")


def test_the_biases_come_from_the_cited_crosscheck() -> None:
    cited = rec.CrossCheckCitation(variants={
        "django": {"ratio": 0.956, "low": 0.934, "high": 0.979, "agrees": False},
        "fastapi": {"ratio": 1.029, "low": 0.988, "high": 1.072, "agrees": False},
        "broken": {"ratio": "x"},
    })  # fmt: skip
    record = rec.RunRecord(crosscheck=cited)
    found = answers.instrument_biases(record)
    assert set(found) == {"django", "fastapi"} and not found["django"].agrees
    assert answers.instrument_biases(rec.RunRecord()) == {}
