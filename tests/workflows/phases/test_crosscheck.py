"""``--open-crosscheck`` (``workflows.phases.crosscheck``): a short real run whose equal-load rate
and its found SLO rate are measured again, Locust's windows interleaved with the open-model
generator's; and, without load, which rates an SLO answer adds as targets (its found rate, and
the rate above it below the ceiling; none for a swing)."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from chatbench.analysing import slo as slo_answer
from chatbench.analysing import toolagreement
from chatbench.analysing.answers import run_answer
from chatbench.configuration import settings as config
from chatbench.errors import UsageError
from chatbench.storing import crosschecks
from chatbench.storing import record as rec
from chatbench.workflows import bench
from chatbench.workflows import crosscheck as crosscheck_wf
from chatbench.workflows.phases import crosscheck

PROFILE = """\
scenario = "chat"
mode = "closed"
users = 4
warmup = 1
duration = 2
repeat = 1
processes = 1
settle = 0
equal_load = [0.5]
equal_load_warmup = 1
equal_load_duration = 2
window_max = 2
equal_load_repeat = 1
"""


def test_each_target_is_measured_in_interleaved_pairs_by_both_generators(
    pg_server_url: str, tmp_path: Path
) -> None:
    profile = tmp_path / "tiny.toml"
    profile.write_text(PROFILE)
    # A lax objective (p50 ≤ 2 s): kept up to the capacity, the search's ceiling, so its one
    # target beside the equal-load rate is the found rate (no rate above it to miss).
    cfg = config.build(str(profile), variants=("fastapi",), database_url=pg_server_url,
                       out_dir=tmp_path / "out", open_crosscheck=True, allow_unfair=True,
                       slo="p50=2000ms")  # fmt: skip
    outcome = bench.run(cfg, report=False)
    record = rec.load(outcome.run_dir)
    section = record.open_crosscheck
    assert section is not None and section.pairs == crosscheck.PAIRS
    target, *found = section.targets
    assert target.label == "equal load 50 %" and target.variants == ["fastapi"]
    # The found rate (and the rate above it, below the ceiling) is a target where the search
    # gave a stable answer; a busy machine's window can swing at the capacity, and then none.
    kept = {s.rate for s in record.slo.steps if s.outcome == "kept"}
    for t in found:
        assert t.label in ("found rate", "above the found rate") and t.variants == ["fastapi"]
    assert all(t.rate in kept for t in found if t.label == "found rate")
    assert len([t for t in found if t.label == "found rate"]) <= 1
    assert "undici" in section.tool and "evenly spaced arrivals" in section.tool
    # The independent generator's windows: one per pair and target, rows == creates in each.
    assert [w.pair for w in section.windows] == [1, 2, 3] * len(section.targets)
    assert all(w.values_ms.get("slo") for w in section.windows)
    assert all(w.integrity_ok and w.creates and w.creates > 0 for w in section.windows)
    assert all(w.values_ms.get("p50") for w in section.windows)
    # Locust's windows: a sub-run of its own, one repetition per pair, judged like a run.
    sub = rec.load(outcome.run_dir / target.directory)
    assert [r.repetition for r in sub.repetitions] == [1, 2, 3]
    assert all(x.ok for x in sub.integrity) and sub.status == "complete"
    # On a busy test machine the load generator may be judged saturated, which leaves windows
    # out (tested elsewhere): judged here with every window counted valid.
    valid = tmp_path / "valid"
    shutil.copytree(outcome.run_dir, valid)
    for meta in valid.rglob("meta.json"):
        kept = rec.load(meta.parent).but(invalid_repetitions=[])
        if kept.open_crosscheck is not None:
            kept = kept.but(open_crosscheck=kept.open_crosscheck.but(windows=[
                w.but(loadgen_problems=[]) for w in kept.open_crosscheck.windows]))  # fmt: skip
        rec.save(meta.parent, kept)
    found = toolagreement.agreements(valid, rec.load(valid))
    p50 = next(a for a in found if a.metric == "p50")
    assert p50.pairs == 3 and p50.ratio.n == 3
    said = " ".join(run_answer(valid).sentences)
    assert "Open-model cross-check (open-model generator on Node.js" in said
    # `chatbench crosscheck --open-model --from-run` keeps its judgement for later runs to cite.
    doc, path = crosscheck_wf.keep_open(valid, tmp_path / "kept")
    assert path.name.startswith("openmodel-chat-") and doc["sentence"].startswith("Open-model")
    cited = crosschecks.latest_open_for(tmp_path / "kept", "chat", ["fastapi"])
    assert cited is not None and cited["file"] == path.name and cited["agrees"] == doc["agrees"]
    assert crosschecks.latest_open_for(tmp_path / "kept", "chat", ["django"]) is None
    with pytest.raises(UsageError, match="has no open-model cross-check"):
        crosscheck_wf.keep_open(valid / target.directory, tmp_path / "kept")


def test_a_crosscheck_needs_open_model_answers_to_check() -> None:
    with pytest.raises(UsageError, match="--open-crosscheck"):
        config.build("smoke", open_crosscheck=True)


def _window(rate: float, outcome: str) -> slo_answer.SloWindow:
    return slo_answer.SloWindow(rate, outcome, 10.0 if outcome == slo_answer.KEPT else 90.0)


def _answer(*variants: slo_answer.VariantSlo) -> slo_answer.SloAnswer:
    return slo_answer.SloAnswer("p99=50ms", variants, (), "")


def test_a_stable_slo_answer_adds_its_found_rate_and_the_rate_above_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """django kept 400 and missed 440 (10 % above: the search's own high bound is the rate
    above); fastapi kept at its ceiling: the found rate alone; a swing: no target."""
    kept, missed = slo_answer.KEPT, slo_answer.MISSED
    django = slo_answer.VariantSlo("django", 900.0, (_window(200, kept), _window(400, kept),
                                   _window(440, missed)), 50.0, 99.0)  # fmt: skip
    fastapi = slo_answer.VariantSlo("fastapi", 800.0, (_window(400, kept), _window(800, kept)),
                                    50.0, 99.0)  # fmt: skip
    swinging = slo_answer.VariantSlo("django-ninja", 900.0, (_window(300, missed),
                                     _window(350, kept)), 50.0, 99.0)  # fmt: skip
    monkeypatch.setattr(slo_answer, "slo_answer", lambda *_: _answer(django, fastapi, swinging))
    record = rec.RunRecord.model_construct(equal_load=None)
    ctx = SimpleNamespace(recorder=SimpleNamespace(record=record), run_dir=tmp_path,
                          cfg=SimpleNamespace(window_max_s=7.5), specs={})  # fmt: skip
    chosen = crosscheck.targets(ctx)
    assert [(t.label, t.rate, t.variants) for t in chosen] == [
        ("found rate", 400, ["django"]),
        ("above the found rate", 440, ["django"]),
        ("found rate", 800, ["fastapi"]),
    ]
    assert [t.directory for t in chosen] == [
        "crosscheck/django-found-rate", "crosscheck/django-above-the-found-rate",
        "crosscheck/fastapi-found-rate",
    ]  # fmt: skip
    assert all(t.window_s == 7.5 for t in chosen)  # no SLO window measured: window_max
