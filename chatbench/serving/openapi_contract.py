"""The contract from the services' own documents: schemathesis against each variant's OpenAPI
document, and the variants under comparison held to answering alike.

The bundled contract (``verify.smoke_check``) knows the ChatMessage API; a team's own pair of
services has only its documents. So, for services that are already running:

1. each service's document is read (``VariantSpec.openapi_path``, ``/openapi.json`` unless its
   variant file says otherwise) and schemathesis generates, for every operation it lists, a
   fixed number of valid requests and of invalid ones, from a fixed seed (``probes``);
2. every generated request, from every document, is sent to every service in the same order
   (each service has its own clone of the same data, so each sees the same history);
3. each service's answers to the requests its own document generated are checked against that
   document by schemathesis's response checks (no 5xx, documented status, content type,
   headers and schema, invalid data refused, valid data accepted): ``Violation``;
4. every request must get the same status from every service, and a success the same JSON
   body once ids and timestamps are masked (``mask``): ``Difference``. Error bodies are only
   held to each service's own document: their wording is the framework's.

Only response checks run: a check that sends requests of its own would give one service a
history the others lack.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis.errors import Unsatisfiable
from schemathesis import checks as st_checks
from schemathesis.core.failures import Failure, FailureGroup

from chatbench.errors import ServerError

EXAMPLES = 10  # generated requests per operation and kind (valid, invalid)
SEED = 20261207
TIMEOUT_S = 10.0
MASKED = "<masked>"
# A value that differs between two services holding the same data for reasons of their own.
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:?\d\d)?$")
ID_KEYS = ("id",)
# Response checks only: none sends a request of its own.
CHECKS = (
    st_checks.not_a_server_error,
    st_checks.status_code_conformance,
    st_checks.content_type_conformance,
    st_checks.response_headers_conformance,
    st_checks.response_schema_conformance,
    st_checks.negative_data_rejection,
    st_checks.positive_data_acceptance,
)
KINDS = {
    "valid": schemathesis.GenerationMode.POSITIVE,
    "invalid": schemathesis.GenerationMode.NEGATIVE,
}


@dataclass(frozen=True)
class Service:
    """A running service and where its OpenAPI document is."""

    name: str
    base_url: str
    openapi_path: str = "/openapi.json"


@dataclass(frozen=True)
class Probe:
    """One generated request: which document and operation it came from, valid or invalid."""

    source: str  # the service whose document generated it
    operation: str  # "POST /api/chat/messages"
    kind: str  # "valid" | "invalid"
    case: Any = field(compare=False, repr=False)  # schemathesis's Case

    @property
    def request(self) -> str:
        """The request as a line: method, path and query."""
        query = f"?{httpx.QueryParams(self.case.query)}" if self.case.query else ""
        return f"{self.case.method} {self.case.formatted_path}{query}"


@dataclass(frozen=True)
class Answer:
    """A service's answer, as compared: the status and, for a success, the masked body."""

    status: int
    body: Any = None

    def describe(self) -> str:
        shown = json.dumps(self.body, ensure_ascii=False) if self.body is not None else ""
        return f"{self.status} {shown[:120]}".rstrip()


@dataclass(frozen=True)
class Difference:
    """A request the services did not answer alike."""

    probe: Probe
    answers: Mapping[str, Answer]

    def sentence(self) -> str:
        said = "; ".join(f"{name} {a.describe()}" for name, a in self.answers.items())
        return f"{self.probe.request} ({self.probe.kind}, from {self.probe.source}): {said}"


@dataclass(frozen=True)
class Violation:
    """An answer that breaks its own service's document."""

    service: str
    probe: Probe
    check: str
    message: str

    def sentence(self) -> str:
        return f"{self.service}: {self.probe.request}: {self.check}: {self.message}"


@dataclass(frozen=True)
class ContractReport:
    """What the check found for one set of services."""

    services: tuple[str, ...]
    operations: Mapping[str, int]  # per service: operations its document lists
    probes: int
    differences: tuple[Difference, ...] = ()
    violations: tuple[Violation, ...] = ()
    seed: int = SEED
    examples: int = EXAMPLES

    @property
    def ok(self) -> bool:
        return not self.differences and not self.violations

    def summary(self) -> str:
        """One sentence: what was checked and what was found."""
        checked = (
            f"{self.probes} requests generated from the OpenAPI documents of "
            f"{', '.join(self.services)} ({self.examples} valid and {self.examples} invalid per "
            f"operation, seed {self.seed})"
        )
        if self.ok:
            return f"{checked}: every service answered every one alike and as its document says."
        return (
            f"{checked}: {len(self.differences)} answered differently, "
            f"{len(self.violations)} answers broke their own document."
        )

    def as_dict(self) -> dict[str, Any]:
        """For meta.json: the counts and the first findings as sentences."""
        return {
            "services": list(self.services),
            "operations": dict(self.operations),
            "probes": self.probes,
            "seed": self.seed,
            "examples": self.examples,
            "ok": self.ok,
            "differences": [d.sentence() for d in self.differences[:20]],
            "violations": [v.sentence() for v in self.violations[:20]],
        }


def document(service: Service, *, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """The service's OpenAPI document; a ServerError naming the service when there is none."""
    url = service.base_url.rstrip("/") + service.openapi_path
    try:
        resp = httpx.get(url, timeout=timeout_s)
        resp.raise_for_status()
        doc = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise ServerError(
            f"The {service.name} service serves no OpenAPI document at {service.openapi_path} "
            f"({type(exc).__name__}: {exc}); give its path as openapi_path in its variant file."
        ) from None
    if not isinstance(doc, dict) or "paths" not in doc:
        raise ServerError(f"{url} is not an OpenAPI document (it has no 'paths').")
    return doc


def probes(source: str, doc: Mapping[str, Any], *, examples: int, seed: int) -> list[Probe]:
    """Requests generated from one document: ``examples`` valid and invalid ones for every
    operation, the same for the same document and seed."""
    schema = schemathesis.openapi.from_dict(dict(doc))
    # In the document's own order (schemathesis's may change from one process to the next):
    # the same requests, sent in the same order, every time.
    position = {key: i for i, key in enumerate(_paths(doc))}
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: position.get((op.method.lower(), op.path), len(position)),
    )
    out: list[Probe] = []
    for operation in operations:
        label = f"{operation.method.upper()} {operation.path}"
        for kind, mode in KINDS.items():
            for case in _draw(operation.as_strategy(generation_mode=mode), examples, seed):
                out.append(Probe(source, label, kind, case))
    return out


def _draw(strategy: Any, examples: int, seed: int) -> list[Any]:
    found: list[Any] = []

    @hypothesis_seed(seed)
    @settings(
        max_examples=examples,
        phases=[Phase.generate],
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(case: Any) -> None:
        found.append(case)

    # An operation without inputs has no invalid request: Unsatisfiable, and nothing to send.
    with contextlib.suppress(Unsatisfiable):
        collect()
    return found[:examples]


def mask(body: Any) -> Any:
    """A JSON body with what legitimately differs between services replaced by a mark: the
    value of every ``id`` key and every string that is a timestamp."""
    if isinstance(body, dict):
        return {k: MASKED if k in ID_KEYS else mask(v) for k, v in body.items()}
    if isinstance(body, list):
        return [mask(v) for v in body]
    if isinstance(body, str) and TIMESTAMP.match(body):
        return MASKED
    return body


def _answer(resp: Any) -> Answer:
    if not 200 <= resp.status_code < 300:
        return Answer(resp.status_code)
    try:
        return Answer(resp.status_code, mask(resp.json()))
    except ValueError:
        return Answer(resp.status_code, resp.text)


def _violations(service: str, probe: Probe, resp: Any) -> list[Violation]:
    try:
        probe.case.validate_response(resp, checks=list(CHECKS))
    except FailureGroup as group:
        return [
            Violation(service, probe, getattr(f, "title", type(f).__name__), _text(f))
            for f in group.exceptions
        ]
    except Failure as failure:
        return [Violation(service, probe, failure.title, _text(failure))]
    return []


def _text(failure: BaseException) -> str:
    message = getattr(failure, "message", "") or str(failure)
    return " ".join(str(message).split())[:300]


def compare(
    services: Iterable[Service], *, examples: int = EXAMPLES, seed: int = SEED
) -> ContractReport:
    """Generate from every service's document, send everything to every service in the same
    order, and report what differs and what breaks a service's own document."""
    services = tuple(services)
    documents = {s.name: document(s) for s in services}
    generated = [
        p
        for name, doc in documents.items()
        for p in probes(name, doc, examples=examples, seed=seed)
    ]
    operations = {name: len(list(_paths(doc))) for name, doc in documents.items()}
    answers: dict[str, list[Answer]] = {}
    violations: list[Violation] = []
    for service in services:
        got: list[Answer] = []
        for probe in generated:
            resp = probe.case.call(base_url=service.base_url, timeout=TIMEOUT_S)
            got.append(_answer(resp))
            if probe.source == service.name:
                violations += _violations(service.name, probe, resp)
        answers[service.name] = got
    differences = []
    for index, probe in enumerate(generated):
        seen = {name: got[index] for name, got in answers.items()}
        if len(set(map(_comparable, seen.values()))) > 1:
            differences.append(Difference(probe, seen))
    return ContractReport(
        services=tuple(documents),
        operations=operations,
        probes=len(generated),
        differences=tuple(differences),
        violations=tuple(violations),
        seed=seed,
        examples=examples,
    )


def _comparable(answer: Answer) -> str:
    return json.dumps([answer.status, answer.body], sort_keys=True, ensure_ascii=False)


def _paths(doc: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    for path, item in doc.get("paths", {}).items():
        for method in item:
            if method in methods:
                yield method, path
