"""Where the CPU goes: py-spy's sampled stacks, attributed to the layers of a web service.

``LAYERS`` is THE table (README and docs/cpu-profile.md describe it): each layer with the
module paths that belong to it, as py-spy prints them (``django/db/models/query.py``,
``impl_fastapi/routes.py``; site-packages and the source root left out). A frame belongs to
the layer of the longest prefix its path starts with, so ``rest_framework/serializers.py``
(validation and serialisation) wins over ``rest_framework/`` (framework). An entry
``path::function`` names one function and wins over every prefix: the services encode JSON with
orjson and pydantic-core, C code that leaves no frame of its own, so the function that calls
them (``ORJSONRenderer.render``, ``messages_json``) is the JSON layer's frame.

**Attribution.** A sample is one stack of one thread, root first. It goes to the layer of its
*innermost frame that belongs to a layer*: the leaf when the leaf is, say, SQLAlchemy; for a
leaf in the standard library (``copy.deepcopy`` under a DRF field, ``selectors`` under
uvicorn's event loop, ``threading`` under gunicorn's workers) the nearest caller that belongs
to one. A stack with no such frame (an import, the interpreter starting) is ``other``.
The leaf alone would put the standard library's helpers in ``other`` and hide who called them.

**From samples to milliseconds.** py-spy runs with ``--gil`` (``serving.profiler``): a sample is
the stack of a thread holding its process's GIL, kernel time spent holding it included (a
``time.thread_time()`` loop's system calls). A layer's share of the service's CPU is its share
of the samples, and its CPU per request that share × the service's measured CPU per request
(``analysing.cpu_profile``). CPU spent with the GIL released (most socket reads and writes,
libpq waiting for Postgres) has no sample: it is spread over the layers in proportion, and the
report states the profiled window's system CPU share beside the table.

Pure functions: text in, counts and shares out; nothing here reads files or knows a run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

OTHER = "other"


@dataclass(frozen=True)
class Layer:
    key: str
    label: str
    prefixes: tuple[str, ...]


# THE layer table. Order = the order of tables and stacked bars (server first, own code last).
LAYERS: tuple[Layer, ...] = (
    Layer("server", "HTTP server (gunicorn, uvicorn, granian, h11/httptools)",
          ("gunicorn/", "uvicorn/", "granian/", "h11/", "httptools/", "uvloop/")),
    Layer("framework", "framework: routing and middleware (Django handlers, DRF views, Ninja, "
          "Starlette, FastAPI routing)",
          ("django/", "rest_framework/", "adrf/", "ninja/", "starlette/", "fastapi/", "asgiref/",
           "anyio/")),
    Layer("serialisation", "validation and serialisation (DRF serializers, pydantic)",
          ("rest_framework/serializers.py", "rest_framework/fields.py",
           "rest_framework/relations.py", "rest_framework/validators.py",
           "rest_framework/utils/serializer_helpers.py", "rest_framework/utils/field_mapping.py",
           "rest_framework/utils/model_meta.py", "adrf/serializers.py", "pydantic/",
           "pydantic_core/", "fastapi/_compat", "fastapi/encoders.py")),
    Layer("orm", "ORM (django.db, SQLAlchemy orm/core)", ("django/db/", "sqlalchemy/")),
    Layer("driver", "database driver (psycopg, asyncpg)",
          ("psycopg/", "psycopg_c/", "psycopg_binary/", "psycopg_pool/", "asyncpg/")),
    Layer("json", "JSON encode/decode (json, orjson and pydantic-core callers, DRF renderers "
          "and parsers)",
          # pydantic-core's dump_json serialises and encodes in one C call, as orjson.dumps
          # does behind the services' own renderers: the JSON layer on both sides.
          ("json/", "orjson/", "ujson/", "rest_framework/renderers.py",
           "rest_framework/parsers.py", "rest_framework/utils/encoders.py",
           "rest_framework/utils/json.py", "starlette/requests.py::Request.json",
           "impl_django/chat/negotiation.py::ORJSONRenderer.render",
           "impl_django/chat/negotiation.py::JSONParser.parse",
           "impl_fastapi/schemas.py::message_json", "impl_fastapi/schemas.py::messages_json",
           "pydantic/type_adapter.py::TypeAdapter.dump_json")),
    Layer("own", "the service's own code (impl_*)", ("impl_django/", "impl_fastapi/")),
    Layer(OTHER, "other Python (no frame in a layer above)", ()),
)  # fmt: skip
LAYER_KEYS = tuple(layer.key for layer in LAYERS)
LABELS = {layer.key: layer.label for layer in LAYERS}
_FUNCTIONS = {p: layer.key for layer in LAYERS for p in layer.prefixes if "::" in p}
# Longest prefix first, so the first match is the most specific one.
_PREFIXES = sorted(
    ((p, layer.key) for layer in LAYERS for p in layer.prefixes if "::" not in p),
    key=lambda x: -len(x[0]),
)


def split_frame(frame: str) -> tuple[str, str] | None:
    """(function, file) of one py-spy frame: ``"QuerySet.filter (django/db/models/query.py:1495)"``
    → (``QuerySet.filter``, ``django/db/models/query.py``); None for py-spy's
    ``process 12:"…"`` root frames and anything else without a file."""
    if frame.startswith("process ") or not frame.endswith(")") or " (" not in frame:
        return None
    cut = frame.rindex(" (")
    inside = frame[cut + 2 : -1]
    path, colon, line = inside.rpartition(":")
    return frame[:cut], (path if colon and line.isdigit() else inside)


def layer_of_frame(function: str, path: str) -> str | None:
    """The layer of one frame (None: none; the standard library, for instance)."""
    named = _FUNCTIONS.get(f"{path}::{function}")
    if named is not None:
        return named
    for prefix, key in _PREFIXES:
        if path.startswith(prefix):
            return key
    return None


def attribute(stack: Iterable[str]) -> str:
    """The layer of one sampled stack (root first): its innermost frame in a layer, else
    ``other`` (see the module docstring)."""
    for frame in reversed(list(stack)):
        parts = split_frame(frame)
        key = layer_of_frame(*parts) if parts else None
        if key is not None:
            return key
    return OTHER


def parse_collapsed(text: str) -> list[tuple[tuple[str, ...], int]]:
    """py-spy's ``--format raw`` output (collapsed stacks, ``frame;frame;… count`` a line) as
    (stack without its ``process`` frames, count) pairs; blank or malformed lines skipped."""
    out = []
    for line in text.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = tuple(f for f in stack.split(";") if not f.startswith("process "))
        out.append((frames, int(count)))
    return out


def layer_samples(stacks: Iterable[tuple[tuple[str, ...], int]]) -> dict[str, int]:
    """Samples per layer (every key of ``LAYER_KEYS``, zeros included)."""
    counts: Counter[str] = Counter()
    for stack, n in stacks:
        counts[attribute(stack)] += n
    return {key: counts.get(key, 0) for key in LAYER_KEYS}


@dataclass(frozen=True)
class LayerShares:
    """One variant's CPU by layer: ``shares`` (fractions of its samples, summing to 1 over
    ``LAYER_KEYS``, all 0 without samples) from ``samples``."""

    samples: Mapping[str, int]
    shares: Mapping[str, float]

    @property
    def total_samples(self) -> int:
        return sum(self.samples.values())

    def ms_per_request(self, cpu_ms_per_request: float) -> dict[str, float]:
        """Each layer's CPU milliseconds per request: its share × the CPU per request."""
        return {k: self.shares[k] * cpu_ms_per_request for k in LAYER_KEYS}


def shares(samples: Mapping[str, int]) -> LayerShares:
    """Each layer's share of the samples (see the module docstring)."""
    counts = {k: int(samples.get(k, 0)) for k in LAYER_KEYS}
    total = sum(counts.values())
    return LayerShares(counts, {k: counts[k] / total if total else 0.0 for k in LAYER_KEYS})
