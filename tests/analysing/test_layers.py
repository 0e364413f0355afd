"""The layer table: frames to layers, innermost frame in a layer, shares that sum to 1."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatbench.analysing import layers
from chatbench.analysing.layers import (
    LAYER_KEYS,
    OTHER,
    attribute,
    layer_samples,
    parse_collapsed,
    shares,
)

GUNICORN = "ThreadWorker.handle (gunicorn/workers/gthread.py:553)"
HANDLER = "BaseHandler.get_response (django/core/handlers/base.py:140)"
SERIALIZER = "Serializer.data (rest_framework/serializers.py:573)"
FIELD = "Field.__init__ (rest_framework/fields.py:335)"
DEEPCOPY = "deepcopy (copy.py:146)"
QUERY = "QuerySet.filter (django/db/models/query.py:1495)"
WAIT = "Connection.wait (psycopg/connection.py:495)"
BURN = "burn_cpu (impl_fastapi/injectors.py:27)"
PROCESS = 'process 31915:"/venv/bin/python -m gunicorn impl_django.project.wsgi:application"'


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        (GUNICORN, "server"),
        ("RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py:524)", "server"),
        (HANDLER, "framework"),
        ("Router.__call__ (starlette/routing.py:715)", "framework"),
        ("APIView.dispatch (rest_framework/views.py:523)", "framework"),  # DRF views: framework
        (SERIALIZER, "serialisation"),  # ... but its serializers: the longer prefix wins
        ("BaseModel.model_validate (pydantic/main.py:792)", "serialisation"),
        (QUERY, "orm"),
        ("Session.execute (sqlalchemy/orm/session.py:2362)", "orm"),
        (WAIT, "driver"),
        ("PreparedStatement.__do_execute (asyncpg/prepared_stmt.py:257)", "driver"),
        ("JSONEncoder.encode (json/encoder.py:200)", "json"),
        # orjson and pydantic-core are C: their callers are the JSON layer's frames.
        ("ORJSONRenderer.render (impl_django/chat/negotiation.py:28)", "json"),
        ("messages_json (impl_fastapi/schemas.py:131)", "json"),
        ("TypeAdapter.dump_json (pydantic/type_adapter.py:651)", "json"),
        # ... and only those functions: the rest of the same file is the service's own code.
        ("storable_text (impl_fastapi/schemas.py:66)", "own"),
        (BURN, "own"),
        (DEEPCOPY, None),
        ("Runner.run (asyncio/runners.py:118)", None),
    ],
)
def test_a_frame_belongs_to_the_layer_of_its_longest_matching_entry(frame: str, expected) -> None:
    function, path = layers.split_frame(frame)
    assert layers.layer_of_frame(function, path) == expected


def test_split_frame_reads_py_spy_frames_and_skips_process_frames() -> None:
    assert layers.split_frame(QUERY) == ("QuerySet.filter", "django/db/models/query.py")
    assert layers.split_frame("_path_stat (<frozen importlib._bootstrap_external>:147)") == (
        "_path_stat", "<frozen importlib._bootstrap_external>")  # fmt: skip
    assert layers.split_frame(PROCESS) is None


def test_a_sample_goes_to_its_innermost_frame_in_a_layer() -> None:
    # The leaf is the standard library (a DRF field deep-copying itself): the nearest caller
    # in a layer decides, not the outermost (gunicorn) and not "other".
    assert attribute((GUNICORN, HANDLER, SERIALIZER, FIELD, DEEPCOPY)) == "serialisation"
    assert attribute((GUNICORN, HANDLER, QUERY, WAIT)) == "driver"
    assert attribute((GUNICORN, HANDLER)) == "framework"
    assert attribute((PROCESS, "_run_module_as_main (<frozen runpy>:198)")) == OTHER
    assert attribute(()) == OTHER


def test_parse_collapsed_drops_process_frames_and_malformed_lines() -> None:
    text = "\n".join([
        f"{PROCESS};{GUNICORN};{HANDLER} 7",
        f"{PROCESS};{GUNICORN};{HANDLER};{QUERY} 3",
        "",
        "no count here",
        f"{PROCESS} 2",
    ])  # fmt: skip
    stacks = parse_collapsed(text)
    assert stacks == [((GUNICORN, HANDLER), 7), ((GUNICORN, HANDLER, QUERY), 3), ((), 2)]
    counts = layer_samples(stacks)
    assert set(counts) == set(LAYER_KEYS)
    assert counts["framework"] == 7 and counts["orm"] == 3 and counts[OTHER] == 2
    assert sum(counts.values()) == 12


def test_shares_sum_to_one_and_scale_to_milliseconds() -> None:
    found = shares({"framework": 6, "orm": 3, "own": 1})
    assert sum(found.shares.values()) == pytest.approx(1.0)
    assert found.shares["framework"] == pytest.approx(0.6)
    assert found.total_samples == 10
    ms = found.ms_per_request(2.0)
    assert ms["orm"] == pytest.approx(0.6) and sum(ms.values()) == pytest.approx(2.0)
    empty = shares({})
    assert empty.total_samples == 0 and set(empty.shares.values()) == {0.0}


def test_the_table_names_every_layer_once_with_its_label() -> None:
    assert len(set(LAYER_KEYS)) == len(LAYER_KEYS)
    assert LAYER_KEYS[-1] == OTHER
    every_prefix = [p for layer in layers.LAYERS for p in layer.prefixes]
    assert len(every_prefix) == len(set(every_prefix))  # one layer per module path


def test_docs_list_every_layer_with_its_label_and_paths() -> None:
    """docs/cpu-profile.md's table is this table: a layer or path added here and not there
    (or the reverse) fails."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cpu-profile.md").read_text()
    rows = {
        cells[0].strip("` "): cells
        for line in doc.splitlines()
        if line.startswith("| `")
        and len(cells := [c.strip() for c in line.strip("|").split("|")]) == 3
    }
    assert list(rows) == list(LAYER_KEYS)
    for layer in layers.LAYERS:
        _, label, paths = rows[layer.key]
        assert label == layer.label
        listed = [p.strip("` ") for p in paths.split(",")] if paths != "—" else []
        assert listed == list(layer.prefixes)
