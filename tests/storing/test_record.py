"""The run record (``chatbench.storing.record``): one model, one version, one loader.

Every committed run directory (the test fixtures and the README's samples) is read through the
record and written back: the same keys, the same values, keys the record does not model
included. A record of another format version, or not a record at all, is refused in one
sentence; a new run's header names every key ``meta.json`` has always had.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from chatbench.configuration import settings as config
from chatbench.configuration import variants
from chatbench.errors import UsageError
from chatbench.provisioning import cpuplan
from chatbench.storing import record
from chatbench.storing.recording import header, variant_record
from tests.conftest import REPO_ROOT
from tests.fixtures.runs import RUN_SMALL, copy_run

COMMITTED = sorted(
    p.parent for p in [*(REPO_ROOT / "results" / "sample").rglob("meta.json"),
                       *(REPO_ROOT / "tests" / "fixtures").rglob("meta.json")]
)  # fmt: skip
# What a new run's record holds before anything is measured (the keys meta.json has had
# since format version 1; control, cache, suite and invalid_repetitions come when they apply).
HEADER_KEYS = {
    "config", "cpu_plan", "crosscheck", "error", "evidence", "fairness", "finished_at",
    "format_version", "git", "integrity", "machine", "packages", "postgres", "question",
    "repetitions", "run_id", "started_at", "status", "variants", "verify", "versions",
    "warnings",
}  # fmt: skip
HEADER_EVIDENCE_KEYS = {
    "affinity", "clone_checks", "loadgen_health", "order", "pauses", "peak_connections",
    "pg_settings_by_db", "service_probes", "sql", "sql_per_endpoint", "windows",
}  # fmt: skip


def _differences(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ: a key set, a length or a value."""
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} vs {len(b)} items"]
        return [d for i, (x, y) in enumerate(zip(a, b, strict=True)) for d in
                _differences(x, y, f"{path}[{i}]")]  # fmt: skip
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def test_every_committed_run_is_a_record_of_this_version() -> None:
    assert len(COMMITTED) >= 7, COMMITTED  # 2 fixtures + the default sample + 4 suites
    for run_dir in COMMITTED:
        assert record.load(run_dir).format_version == record.RUN_FORMAT_VERSION


@pytest.mark.parametrize("run_dir", COMMITTED, ids=lambda p: p.relative_to(REPO_ROOT).as_posix())
def test_a_committed_run_round_trips_through_the_record(run_dir: Path, tmp_path: Path) -> None:
    """Loaded and written back: meta.json's key sets and values do not change."""
    original = json.loads((run_dir / "meta.json").read_text())
    record.save(tmp_path, record.load(run_dir))
    written = json.loads((tmp_path / "meta.json").read_text())
    assert _differences(original, written) == []


def test_run_small_written_back_by_the_record_is_the_committed_file(tmp_path: Path) -> None:
    """The golden round trip on the small fixture, through a copy of its whole directory."""
    run_dir = copy_run("run_small", tmp_path / "run")
    rec = record.load(run_dir)
    assert rec.config.variants == ["django", "fastapi"] and rec.status == "complete"
    assert [i.ok for i in rec.integrity] == [True] * 4
    record.save(run_dir, rec)
    before = json.loads((RUN_SMALL / "meta.json").read_text())
    after = json.loads((run_dir / "meta.json").read_text())
    assert _differences(before, after) == []
    assert set(after["evidence"]) >= {"loadgen_cpu_budget_pct", "loadgen_peak_cpu"}  # kept


@pytest.mark.parametrize("version", [0, 2, "1", None])
def test_another_format_version_is_refused_in_one_sentence(tmp_path: Path, version) -> None:
    meta = json.loads((RUN_SMALL / "meta.json").read_text())
    meta["format_version"] = version
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError) as info:
        record.load(tmp_path)
    message = str(info.value)
    assert info.value.exit_code == 2 and message.count(".") <= 3 and "\n" not in message
    assert f"format version {version!r}, which this chatbench does not read" in message


def test_what_is_not_a_record_is_refused_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no meta.json"):
        record.load(tmp_path)
    (tmp_path / "meta.json").write_text("{torn")
    with pytest.raises(UsageError, match="meta.json is not valid JSON"):
        record.load(tmp_path)
    (tmp_path / "meta.json").write_text("[]")
    with pytest.raises(UsageError, match="meta.json has no config"):
        record.load(tmp_path)
    (tmp_path / "meta.json").write_text(json.dumps({"integrity": [{"variant": "x"}]}))
    with pytest.raises(UsageError, match=r"not a valid chatbench run \(meta.json integrity.0"):
        record.load(tmp_path)


def test_a_new_runs_header_names_every_key_meta_json_has_had() -> None:
    cfg = config.build("smoke", variants=("django", "fastapi"))
    rec = header(cfg, cpuplan.make_plan(), run_id="r", question="q?", crosscheck=None)
    doc = rec.dump()
    assert set(doc) == HEADER_KEYS
    assert set(doc["evidence"]) == HEADER_EVIDENCE_KEYS
    assert doc["config"] == json.loads(json.dumps(cfg.as_dict()))  # the config, whole
    assert doc["status"] == "running" and doc["crosscheck"] is None and doc["fairness"] == {}


@pytest.mark.parametrize(("label", "gc"), [("django", "default"), ("fastapi[gc=freeze]", "freeze")])
def test_a_variants_record_carries_its_gc_axis_value(label: str, gc: str) -> None:
    spec = variants.get(label)
    env = spec.service_env(database_url="postgresql://u:secret@h/d", port=1, cpus=1)
    recorded = variant_record(spec, env, processes=1, affinity=[0], interpreter="python")
    assert recorded.axes["gc"] == gc
    assert recorded.axes.keys() == {"server", "pool", "cache", "workers", "gc"}


def test_a_repetition_left_out_for_its_load_generator_says_so_by_a_flag() -> None:
    """The SLO search retries a window whose load generator fell behind; it reads this flag,
    and a record written before the flag existed reads as no such fault."""
    rec = record.load(RUN_SMALL)
    faults = [
        record.InvalidRepetition(variant="django", repetition=1, reason="x", loadgen_fault=True),
        record.InvalidRepetition.model_validate({"variant": "fastapi", "repetition": 2}),
    ]
    rec = rec.but(invalid_repetitions=faults)
    assert rec.loadgen_faults == {("django", 1)}
    assert rec.invalid == {("django", 1): "x", ("fastapi", 2): "invalid"}
    assert "loadgen_fault" not in faults[1].dump()  # an older record's keys stay as they were
