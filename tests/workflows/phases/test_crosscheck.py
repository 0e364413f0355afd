"""``--open-crosscheck`` (``workflows.phases.crosscheck``): a short real run whose equal-load rate
is measured again, Locust's windows interleaved with the open-model generator's."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
    assert "undici" in section.tool and "uniform arrivals" in section.tool
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
