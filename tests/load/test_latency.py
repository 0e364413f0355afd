"""The ``requests.json`` document (``chatbench.load.latency``): read once into a typed model,
its format version checked, merged from per-process files, written back byte for byte."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from chatbench.load import latency
from chatbench.storing.rundir import RunDirectoryError, load_run
from loadtests.recorder import CREATE, Recorder
from tests.fixtures.runs import FIXTURES, copy_run

REPO = FIXTURES.parent.parent
HISTORY = "GET /api/chat/messages"
T0 = 1000.0


def committed_files() -> list[Path]:
    """Every requests.json committed under results/ and tests/fixtures/."""
    return sorted((*REPO.glob("results/**/requests.json"), *FIXTURES.glob("**/requests.json")))


def test_every_committed_requests_file_reads_and_writes_back_byte_for_byte(
    tmp_path: Path,
) -> None:
    files = committed_files()
    assert len(files) > 8, files  # the sample runs and both fixture runs
    for i, path in enumerate(files):
        doc = latency.read_requests(path)
        assert doc.format_version == latency.REQUESTS_FORMAT_VERSION
        copy = latency.write_requests(doc, tmp_path / f"{i}.json")
        assert copy.read_bytes() == path.read_bytes(), path


def a_file(tmp_path: Path, **changes: object) -> Path:
    """A copy of a fixture's requests.json with ``changes`` to its top-level keys (None: drop)."""
    doc = json.loads((FIXTURES / "run_small/raw/django/rep-1/requests.json").read_text())
    for key, value in changes.items():
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
    path = tmp_path / "requests.json"
    path.write_text(json.dumps(doc))
    return path


def test_an_unknown_format_version_is_refused_in_one_sentence(tmp_path: Path) -> None:
    path = a_file(tmp_path, format_version=2)
    with pytest.raises(latency.RequestsFileError) as info:
        latency.read_requests(path)
    assert str(info.value) == f"{path}: requests format_version 2, expected 1"
    # A document of another version cannot be built in memory either.
    fields = latency.read_requests(a_file(tmp_path)).dump()
    with pytest.raises(ValidationError, match="format_version 2, expected 1"):
        latency.RequestsDocument.model_validate({**fields, "format_version": 2})


def test_a_malformed_file_names_the_field(tmp_path: Path) -> None:
    with pytest.raises(latency.RequestsFileError, match=r"requests\.json: measure_start: "):
        latency.read_requests(a_file(tmp_path, measure_start=None))
    with pytest.raises(latency.RequestsFileError, match=r"requests\.json: surprise: Extra "):
        latency.read_requests(a_file(tmp_path, surprise=1))
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(latency.RequestsFileError, match="cannot read requests file"):
        latency.read_requests(tmp_path / "broken.json")


def test_a_run_with_an_unknown_requests_version_is_not_loaded(tmp_path: Path) -> None:
    run_dir = copy_run("run_small", tmp_path / "run")
    assert len(load_run(run_dir).repetitions) == 4
    path = run_dir / "raw/fastapi/rep-2/requests.json"
    path.write_text(path.read_text().replace('"format_version": 1', '"format_version": 9'))
    with pytest.raises(RunDirectoryError, match="requests format_version 9, expected 1"):
        load_run(run_dir)


def process_doc(pid: int, creates: int, reads: int) -> latency.RequestsDocument:
    """One Locust process's file: a warm-up POST, then ``creates`` POSTs and ``reads`` history
    reads (5 ms each) spread over the first two seconds of a 3 s window; the third saw nothing."""
    rec = Recorder()
    rec.start(T0, {"warmup_s": 1.0, "measure_s": 3.0, "scenario": "chat", "mode": "closed"})
    names = [CREATE] * creates + [HISTORY] * reads
    moments = [(T0 + 0.5, CREATE)] + [
        (T0 + 1.0 + 2.0 * i / len(names), name) for i, name in enumerate(names)
    ]
    with pytest.MonkeyPatch.context() as mp:
        for now, name in moments:
            mp.setattr("loadtests.recorder.time.time", lambda now=now: now)
            rec.on_request("POST" if name == CREATE else "GET", name, 5.0, 10)
    doc = rec.to_doc(now=T0 + 4.0)
    doc["processes"] = [pid]
    return latency.parse_requests(doc)


def test_merge_adds_up_the_processes_and_writes_what_it_holds(tmp_path: Path) -> None:
    a, b = process_doc(1, creates=30, reads=10), process_doc(2, creates=20, reads=40)
    merged = latency.merge_requests([a, b])
    assert merged.processes == (1, 2)
    assert merged.endpoints[CREATE].count == 50 and merged.endpoints[HISTORY].count == 50
    assert merged.completed == 100 and merged.failures == 0
    assert merged.all_endpoints_histogram().get_total_count() == 100
    assert merged.endpoint_histogram(CREATE).get_total_count() == 50
    assert merged.endpoint_histogram("DELETE /api/chat/messages/{id}").get_total_count() == 0
    assert merged.successful_creates == 50 and merged.warmup_successful_creates == 2
    assert merged.successful_creates_total == 52
    assert merged.outside_window.warmup[CREATE].count == 2
    assert merged.totals[CREATE].count == 52
    # Every second of the window for every endpoint: the idle third second counts 0.
    for name in (CREATE, HISTORY):
        rows = [r for r in merged.series if r.endpoint == name]
        assert [r.second for r in rows] == [0, 1, 2] and rows[2].count == 0
        assert sum(r.count for r in rows) == 50
    assert [p.count for p in merged.per_process] == [40, 60]
    assert merged.loop_lag is not None and merged.loop_lag.processes == 2
    path = latency.write_requests(merged, tmp_path / "requests.json")
    assert latency.read_requests(path) == merged
    with pytest.raises(latency.RequestsFileError, match="no request files"):
        latency.merge_requests([])
