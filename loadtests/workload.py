"""Workload files: the requests a Locust user sends, declared in TOML (docs/workloads.md).

The four built-in scenarios are workload files (``workloads/chat.toml`` ...); a team copies one
and describes its own API's traffic the same way. ``load(path)`` validates a file with pydantic
and checks what pydantic cannot (every template names a value that is set); ``Workload`` then
draws, per user and per request, the values and the request the locustfile sends::

    description = "Reads of random seeded rows"
    order = "sequence"                  # the requests in file order, again and again;
                                        # "weighted": each next one drawn by its weight
    [user]                              # per-user state, set once when the user starts
    session_id = "lg-{process}-{user:05d}"
    [values]                            # drawn for each request that names them
    message_id = { random_int = { from = 1, to = "seed_rows" } }
    content = { text = [20, 400] }      # 20..400 characters cut from the corpus
    role = { choice = ["user", "assistant"] }
    after_id = { captured = "new_id", back = 51 }   # the 51st newest id captured; unset before
    [[requests]]
    method = "GET"
    path = "/api/chat/messages/{message_id}"
    expect = 200                        # or [200, 404]; absent: any 2xx
    # name = "GET /api/chat/messages/{id}"   the label in every table; default METHOD + path
    # query = { session_id = "{session_id}", after_id = "{after_id}" }   (an unset value's
    #         parameter is left out)
    # headers = { Authorization = "Bearer {token}" }
    # json = { role = "{role}", content = "{content}" }   or  body = "raw {text}"
    # capture = { new_id = "id" }       keep the response's JSON field ``id`` as ``new_id``
    # weight = 3                        with order = "weighted"

Templates are Python format strings over the values, the ``[user]`` state, the captures and the
built-in names (``BUILTINS``): ``{name}`` or ``{name:05d}``; a JSON string that is exactly
``{name}`` keeps the value's type. Randomness comes from the user's own ``random.Random``, drawn
in a fixed order (the order the request names its values), so a seed gives the same requests.

Standard library, pydantic and the corpus only: the locustfile imports this module by path, the
harness as ``loadtests.workload`` (to refuse a bad file before anything starts).
"""

from __future__ import annotations

import random
import re
import string
import tomllib
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

try:  # by path from the locustfile, as a package module from the harness
    from corpus import make_content
except ImportError:  # pragma: no cover - the harness's import
    from loadtests.corpus import make_content

WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"
SUFFIX = ".toml"
# Names every template may use: the seeded data's shape and who is sending.
SEED_NUMBERS = ("seed_sessions", "seed_messages", "seed_rows")
BUILTINS = (*SEED_NUMBERS, "user", "worker", "process")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
GENERATORS = ("text", "random_int", "choice", "captured")


class WorkloadError(ValueError):
    """A workload file that cannot run: ``key`` is where in the file, ``reason`` why."""

    def __init__(self, path: str, key: str, reason: str) -> None:
        self.path, self.key, self.reason = path, key, reason
        where = f"key {key}: " if key else ""
        super().__init__(f"Workload file {path}: {where}{reason}.")


# -- the file, as pydantic validates it ----------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Text(_Strict):
    """``{ text = [LOW, HIGH] }``: LOW..HIGH characters cut from the corpus at a word."""

    text: tuple[int, int]

    @field_validator("text", mode="before")
    @classmethod
    def _pair(cls, value: object) -> object:
        ok = isinstance(value, list) and len(value) == 2
        if not ok or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ValueError("text takes [LOW, HIGH], two whole numbers of characters")
        if not 1 <= value[0] <= value[1] <= 4000:
            raise ValueError("text takes 1 <= LOW <= HIGH <= 4000 characters")
        return tuple(value)


def _bound(value: object) -> object:
    if isinstance(value, bool) or not (isinstance(value, int) or value in SEED_NUMBERS):
        raise ValueError(
            f"a bound is a whole number or one of {', '.join(SEED_NUMBERS)}, not {value!r}"
        )
    return value


Bound = Annotated[int | str, BeforeValidator(_bound)]


class IntRange(_Strict):
    from_: Bound = Field(alias="from")
    to: Bound | None = None  # inclusive
    below: Bound | None = None  # exclusive

    @model_validator(mode="after")
    def _one_end(self) -> IntRange:
        if (self.to is None) == (self.below is None):
            raise ValueError("random_int takes `from` and one of `to` (inclusive) or `below`")
        return self


class RandomInt(_Strict):
    """``{ random_int = { from = 1, to = "seed_rows" } }``: a whole number, uniform; a bound is
    a number or a name of the seeded data's shape (``SEED_NUMBERS``)."""

    random_int: IntRange


class Choice(_Strict):
    """``{ choice = ["user", "assistant"] }``: one of the items, uniform."""

    choice: tuple[str | int | float, ...] = Field(min_length=1)

    @field_validator("choice", mode="before")
    @classmethod
    def _items(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value


class Captured(_Strict):
    """``{ captured = "new_id", back = 51 }``: the ``back``-th newest value a request captured
    under that name (1: the newest); unset until that many were captured."""

    captured: str
    back: int = Field(1, ge=1, le=10_000)


Generator = Text | RandomInt | Choice | Captured
_BY_KEY: dict[str, type[_Strict]] = {
    "text": Text,
    "random_int": RandomInt,
    "choice": Choice,
    "captured": Captured,
}


def _generator(value: object) -> object:
    """A value table, by its one generator key; an unknown generator is named as such."""
    if isinstance(value, _Strict):
        return value
    if not isinstance(value, dict):
        raise ValueError(f"a value is a table like {{ text = [20, 400] }}, not {value!r}")
    found = [k for k in value if k in _BY_KEY]
    if len(found) != 1:
        unknown = next((k for k in value if k not in ("back",)), None)
        raise ValueError(
            f"unknown generator {unknown!r}; generators: {', '.join(GENERATORS)}"
            if not found
            else f"one generator per value, not {' and '.join(found)}"
        )
    return _BY_KEY[found[0]].model_validate(value)


GeneratorField = Annotated[Generator, BeforeValidator(_generator)]
UserValue = Annotated[
    str | Generator, BeforeValidator(lambda v: v if isinstance(v, str) else _generator(v))
]


def _statuses(value: object) -> object:
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(s, int) and not isinstance(s, bool) for s in items):
        raise ValueError(f"expected statuses are numbers like 201 or [200, 404], not {value!r}")
    if not all(100 <= s <= 599 for s in items):
        raise ValueError(f"expected statuses are HTTP statuses from 100 to 599, not {value!r}")
    return tuple(items)


class RequestEntry(_Strict):
    """One ``[[requests]]`` table."""

    name: str | None = Field(None, min_length=1)
    method: Literal[METHODS]  # type: ignore[valid-type]
    path: str = Field(pattern=r"^/")
    query: dict[str, str | int | float] = {}
    headers: dict[str, str] = {}
    json_: Any = Field(None, alias="json")
    body: str | None = None
    expect: Annotated[tuple[int, ...] | None, BeforeValidator(_statuses)] = None
    capture: dict[str, str] = {}
    weight: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one_body(self) -> RequestEntry:
        if self.json_ is not None and self.body is not None:
            raise ValueError("a request sends `json` or `body`, not both")
        return self

    @property
    def label(self) -> str:
        """The name every table gives it: ``name``, else ``METHOD path``."""
        return self.name or f"{self.method} {self.path}"


class WorkloadFile(_Strict):
    """A whole workload file."""

    description: str = ""
    order: Literal["sequence", "weighted"] = "sequence"
    user: dict[str, UserValue] = {}
    values: dict[str, GeneratorField] = {}
    requests: list[RequestEntry] = Field(min_length=1)


# -- templates ------------------------------------------------------------------------------------

_FORMATTER = string.Formatter()


def names_in(template: str) -> list[str]:
    """The value names a template uses, in order (``{a}/{b:05d}`` → [a, b]); a syntax error is
    a ValueError."""
    out = []
    for _, name, _, _ in _FORMATTER.parse(template):
        if name is not None:
            if not name.isidentifier():
                raise ValueError(f"{{{name}}} is not a value name")
            out.append(name)
    return out


def _strings(obj: object, key: str) -> Iterator[tuple[str, str]]:
    """Every string inside a JSON template, with its key in the file."""
    if isinstance(obj, str):
        yield key, obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from _strings(v, f"{key}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _strings(v, f"{key}.{i}")


def request_templates(entry: RequestEntry, index: int) -> Iterator[tuple[str, str, bool]]:
    """(key in the file, template, whether an unset value drops it instead of the request), in
    the order the request's values are drawn."""
    key = f"requests.{index}"
    yield f"{key}.path", entry.path, False
    for name, value in entry.query.items():
        if isinstance(value, str):
            yield f"{key}.query.{name}", value, True
    for name, value in entry.headers.items():
        yield f"{key}.headers.{name}", value, False
    for where, value in _strings(entry.json_, f"{key}.json"):
        yield where, value, False
    if entry.body is not None:
        yield f"{key}.body", entry.body, False


# -- loading and checking --------------------------------------------------------------------------


def path_of(scenario: str) -> Path:
    """The built-in workload file of a scenario (``chat`` → workloads/chat.toml)."""
    return WORKLOADS_DIR / f"{scenario}{SUFFIX}"


def load(path: str | Path) -> Workload:
    """The workload in the TOML file at ``path``; every mistake is a ``WorkloadError`` naming
    the file and the key."""
    path = Path(path)
    shown = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise WorkloadError(shown, "", f"cannot be read ({reason})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise WorkloadError(shown, "", f"is not valid TOML ({exc})") from None
    try:
        entry = WorkloadFile.model_validate(data)
    except ValidationError as exc:
        raise _sentence(shown, exc) from None
    check(entry, shown)
    return Workload(path.stem, entry)


def _sentence(path: str, exc: ValidationError) -> WorkloadError:
    error = exc.errors()[0]
    parts = [str(p) for p in error["loc"] if not (isinstance(p, str) and ("[" in p or "(" in p))]
    key = ".".join(parts)
    if error["type"] == "extra_forbidden":
        return WorkloadError(path, "", f"unknown key {key!r}")
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message[0].lower() + message[1:] if message else "invalid value"
    return WorkloadError(path, key, message.rstrip("."))


def check(entry: WorkloadFile, path: str) -> None:
    """What pydantic cannot see: every template names a value that is set, every ``captured``
    a capture some request makes, and weights only where the order uses them."""
    captures = {name for r in entry.requests for name in r.capture}
    user_names: list[str] = []
    for name, value in entry.user.items():
        if isinstance(value, str):
            _names_set(path, f"user.{name}", value, {*BUILTINS, *user_names})
        elif isinstance(value, Captured):
            reason = "a user's state is set when it starts, before anything is captured"
            raise WorkloadError(path, f"user.{name}", reason)
        user_names.append(name)
    for name, value in entry.values.items():
        if isinstance(value, Captured) and value.captured not in captures:
            listed = f" (captured: {', '.join(sorted(captures))})" if captures else ""
            reason = f"no request captures {value.captured!r}{listed}"
            raise WorkloadError(path, f"values.{name}.captured", reason)
    known = {*BUILTINS, *user_names, *entry.values, *captures}
    for index, request in enumerate(entry.requests):
        for key, template, _ in request_templates(request, index):
            _names_set(path, key, template, known)
        if request.weight is not None and entry.order != "weighted":
            reason = 'a weight needs order = "weighted"'
            raise WorkloadError(path, f"requests.{index}.weight", reason)
    clash = set(entry.values) & ({*BUILTINS, *user_names} | captures)
    if clash:
        raise WorkloadError(
            path, f"values.{sorted(clash)[0]}", "is already a built-in, user or captured name"
        )


def _names_set(path: str, key: str, template: str, known: set[str]) -> None:
    try:
        names = names_in(template)
    except ValueError as exc:
        raise WorkloadError(path, key, f"{template!r} is not a template ({exc})") from None
    for name in names:
        if name not in known:
            raise WorkloadError(
                path, key, f"names {name!r}, which is not set (set: {', '.join(sorted(known))})"
            )


# -- running ----------------------------------------------------------------------------------------
# A request is compiled once, when the file is loaded, so that drawing one costs a few
# microseconds: the load generator's CPU is what limits how much load it can make.

UNSET = object()
_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*\Z")  # needs no percent-encoding in a query


class _Unset(Exception):
    """A template named a captured value that is not there yet."""


@dataclass(slots=True)
class Request:
    """One request, ready to send."""

    label: str
    method: str
    path: str  # with the query string
    headers: dict[str, str]
    json: Any
    body: bytes | None
    expect: tuple[int, ...] | None
    capture: Mapping[str, str]


@dataclass
class UserState:
    """One user's own values: its ``[user]`` state, what it captured, where its sequence is,
    and how it draws each ``[values]`` entry (bounds resolved for its seeded data)."""

    values: dict[str, Any]
    captured: dict[str, deque[Any]] = field(default_factory=dict)
    step: int = 0
    drawers: dict[str, Callable[[random.Random], Any]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Template:
    text: str
    names: tuple[str, ...]
    whole: str | None  # the one name, when the template is exactly ``{name}``

    @classmethod
    def of(cls, text: str) -> _Template:
        names = tuple(dict.fromkeys(names_in(text)))
        whole = names[0] if len(names) == 1 and text == f"{{{names[0]}}}" else None
        return cls(text, names, whole)

    def fill(self, values: Mapping[str, Any]) -> Any:
        if self.whole is not None:
            return values[self.whole]  # keeps its type in JSON
        return self.text.format_map(values) if self.names else self.text


def _compiled_json(obj: Any) -> Any:
    if isinstance(obj, str):
        return _Template.of(obj)
    if isinstance(obj, dict):
        return {k: _compiled_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_compiled_json(v) for v in obj]
    return obj


def _filled(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, _Template):
        return node.fill(values)
    if isinstance(node, dict):
        return {k: _filled(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_filled(v, values) for v in node]
    return node


def _quoted(value: object) -> str:
    text = str(value)
    return text if _PLAIN.match(text) else quote(text, safe="")


class _Compiled:
    """One ``[[requests]]`` entry, its templates parsed: the names it draws, in order, and which
    of them only query parameters use (an unset one leaves its parameter out)."""

    def __init__(self, entry: RequestEntry, index: int) -> None:
        self.entry = entry
        self.label, self.method = entry.label, entry.method
        self.expect, self.capture = entry.expect, entry.capture
        self.path = _Template.of(entry.path)
        self.query = [
            (quote(name, safe=""), _Template.of(v) if isinstance(v, str) else _quoted(v))
            for name, v in entry.query.items()
        ]
        self.headers = {name: _Template.of(v) for name, v in entry.headers.items()}
        self.json = _compiled_json(entry.json_) if entry.json_ is not None else None
        self.body = _Template.of(entry.body) if entry.body is not None else None
        ordered: list[str] = []
        required: set[str] = set()
        for _, template, optional in request_templates(entry, index):
            names = names_in(template)
            ordered += names
            if not optional:
                required.update(names)
        self.names = tuple(dict.fromkeys(ordered))
        self.required = frozenset(required)


class Workload:
    """A validated workload file, ready to run: ``start`` a user, then ``next_request`` after
    ``next_request``, and ``captured`` with each answer."""

    def __init__(self, name: str, entry: WorkloadFile) -> None:
        self.name = name
        self.entry = entry
        self.requests = [_Compiled(r, i) for i, r in enumerate(entry.requests)]
        self.labels = tuple(dict.fromkeys(r.label for r in entry.requests))
        # How many of each capture a user keeps: as far back as any value looks.
        self.keep: dict[str, int] = {n: 1 for r in entry.requests for n in r.capture}
        for value in entry.values.values():
            if isinstance(value, Captured):
                self.keep[value.captured] = max(self.keep[value.captured], value.back)
        self._weights = [r.weight or 1.0 for r in entry.requests]
        self._indices = range(len(self.requests))

    def start(self, rng: random.Random, builtins: Mapping[str, Any]) -> UserState:
        """A new user's state: the built-in names and its ``[user]`` values, in file order;
        a ``random_int`` whose range is empty here (too little seeded data) is a ValueError."""
        values = dict(builtins)
        state = UserState(values, {n: deque(maxlen=k) for n, k in self.keep.items()})
        for name, value in self.entry.values.items():
            state.drawers[name] = self._drawer(name, value, values, state)
        for name, value in self.entry.user.items():
            if isinstance(value, str):
                values[name] = value.format(**values)
            else:
                values[name] = self._drawer(name, value, values, state)(rng)
        return state

    def next_request(self, state: UserState, rng: random.Random) -> Request:
        """The user's next request: the next in the sequence (or drawn by weight), its values
        drawn; a request that names a captured value not there yet is passed over."""
        for _ in self._indices:
            if self.entry.order == "weighted":
                index = rng.choices(self._indices, self._weights)[0]
            else:
                index, state.step = state.step, (state.step + 1) % len(self.requests)
            try:
                return self._render(self.requests[index], state, rng)
            except _Unset:
                continue
        raise ValueError(
            f"workload {self.name}: every request names a captured value no request has "
            "captured yet"
        )

    def captured(self, state: UserState, request: Request, answer: object) -> None:
        """Keep the fields ``request`` captures from its JSON ``answer``."""
        if not isinstance(answer, dict):
            return
        for name, key in request.capture.items():
            value: object = answer
            for part in key.split("."):
                value = value.get(part, UNSET) if isinstance(value, dict) else UNSET
            if value is not UNSET:
                state.captured[name].append(value)

    # -- drawing ----------------------------------------------------------------------------

    def _drawer(
        self, name: str, value: Generator, values: Mapping[str, Any], state: UserState
    ) -> Callable[[random.Random], Any]:
        """How one user draws ``value``: a function of its random generator."""
        if isinstance(value, Text):
            low, high = value.text
            return lambda rng: make_content(rng, low, high)
        if isinstance(value, RandomInt):
            spec = value.random_int

            def number(bound: int | str) -> int:
                return int(values[bound]) if isinstance(bound, str) else bound

            low = number(spec.from_)
            stop = number(spec.to) + 1 if spec.to is not None else number(spec.below)  # type: ignore[arg-type]
            if stop <= low:
                raise ValueError(
                    f"workload {self.name}: value {name} draws from an empty range "
                    f"({low}..{stop - 1}); seed more rows (seed_sessions, seed_messages)"
                )
            return lambda rng: rng.randrange(low, stop)
        if isinstance(value, Choice):
            items = value.choice
            return lambda rng: rng.choice(items)
        held, back = state.captured[value.captured], value.back

        def captured(rng: random.Random) -> Any:
            if len(held) < back:
                raise _Unset
            return held[-back]

        return captured

    def _render(self, request: _Compiled, state: UserState, rng: random.Random) -> Request:
        drawers, own, captured = state.drawers, state.values, state.captured
        values: dict[str, Any] = {}
        unset: set[str] = set()
        for name in request.names:  # drawn in the order the request names them
            try:
                if name in drawers:
                    values[name] = drawers[name](rng)
                elif name in own:
                    values[name] = own[name]
                elif captured[name]:
                    values[name] = captured[name][-1]
                else:
                    raise _Unset
            except _Unset:
                if name in request.required:
                    raise
                unset.add(name)
        path = request.path.fill(values)
        if request.query:
            params = []
            for name, value in request.query:
                if isinstance(value, str):
                    params.append(f"{name}={value}")
                elif not unset.intersection(value.names):  # an unset value's parameter is left out
                    params.append(f"{name}={_quoted(value.fill(values))}")
            if params:
                path = f"{path}?{'&'.join(params)}"
        return Request(
            request.label,
            request.method,
            str(path),
            {name: str(t.fill(values)) for name, t in request.headers.items()},
            _filled(request.json, values) if request.json is not None else None,
            str(request.body.fill(values)).encode() if request.body is not None else None,
            request.expect,
            request.capture,
        )
