"""Each variant's OpenAPI document tells the truth: what it states, and schemathesis against it.

Two parts. The documents state the contract's rules (statuses, the NUL rule, lengths, ranges,
required parameters, the links a created message leads to), checked on the document each variant
serves. Then a conformance fuzzer holds each variant to its own document: ``schemathesis run``
with every check (``--checks all``) over the coverage, fuzzing and stateful phases (the examples
phase has nothing to run: the documents hold no examples), bounded (``MAX_EXAMPLES`` cases per
operation and phase), reproducible (a fixed seed, no example database carried between runs),
failing on any finding, with schemathesis's own report as the failure message.

The fuzzer runs against a server of its own per variant, on its own clone of the seeded
template: it deletes whatever ids it guesses, seeded ones included, which other contract tests
read from the shared servers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatbench.configuration import variants
from tests.conftest import db_suffix
from tests.contract.conftest import VARIANTS

SEED = 20261130
MAX_EXAMPLES = 10
# The server=granian variants serve the registry's applications on another server: the same
# phases and checks over every operation, with fewer cases each, to keep the suite short.
SERVER_ONLY_MAX_EXAMPLES = 5
PHASES = "coverage,fuzzing,stateful"
NO_NUL = "^[^\\u0000]*$"
BIGINT_MAX = 2**63 - 1

# Every status each operation answers, in every document (405 is in the description: it is
# what a method the document does not list gets).
STATUSES = {
    "create_message": {"201", "413", "414", "422", "431", "503"},
    "list_messages": {"200", "414", "422", "431", "503"},
    "read_message": {"200", "404", "414", "431", "503"},
    "delete_message": {"204", "404", "414", "431", "503"},
    "health": {"200", "414", "431", "503"},
}
# What a created message (201) and a read one (200) link to, and from which response field.
LINKS = {
    ("create_message", "201"): {
        ("read_message", "$response.body#/id"),
        ("delete_message", "$response.body#/id"),
        ("list_messages", "$response.body#/session_id"),
    },
    ("read_message", "200"): {
        ("delete_message", "$response.body#/id"),
        ("list_messages", "$response.body#/session_id"),
    },
}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {op["operationId"]: op for ops in document["paths"].values() for op in ops.values()}


def _constraints(schema: dict[str, Any]) -> dict[str, Any]:
    keys = ("type", "minimum", "maximum", "minLength", "maxLength", "pattern", "enum")
    return {key: schema[key] for key in keys if key in schema}


def test_document_states_every_rule_and_status(service) -> None:
    document = httpx.get(f"{service.base_url}/openapi.json", timeout=20).json()
    operations = _operations(document)
    assert {op: set(operations[op]["responses"]) for op in STATUSES} == STATUSES

    history = {p["name"]: p for p in operations["list_messages"]["parameters"]}
    assert history["session_id"]["required"] is True
    assert _constraints(history["session_id"]["schema"]) == {
        "type": "string", "minLength": 1, "maxLength": 64, "pattern": NO_NUL,
    }  # fmt: skip
    assert _constraints(history["limit"]["schema"]) == {
        "type": "integer", "minimum": 1, "maximum": 200,
    }  # fmt: skip
    assert _constraints(history["after_id"]["schema"]) == {
        "type": "integer", "minimum": 0, "maximum": BIGINT_MAX,
    }  # fmt: skip
    for op in ("read_message", "delete_message"):
        (path_id,) = operations[op]["parameters"]
        assert path_id["in"] == "path" and path_id["required"] is True
        assert _constraints(path_id["schema"]) == {
            "type": "integer", "minimum": 1, "maximum": BIGINT_MAX,
        }  # fmt: skip

    body = operations["create_message"]["requestBody"]
    assert body["required"] is True
    schema = _resolve(document, body["content"]["application/json"]["schema"])
    fields = {name: _resolve(document, s) for name, s in schema["properties"].items()}
    writable = {name for name, s in fields.items() if not s.get("readOnly")}
    assert writable == {"role", "content", "session_id"}
    assert writable <= set(schema["required"])
    assert _constraints(fields["role"]) == {
        "type": "string", "enum": ["user", "assistant", "system"],
    }  # fmt: skip
    assert _constraints(fields["content"]) == {
        "type": "string", "minLength": 1, "maxLength": 32768, "pattern": NO_NUL,
    }  # fmt: skip
    assert _constraints(fields["session_id"]) == _constraints(history["session_id"]["schema"])

    # Errors: 422 is a list of {type, loc, msg}, every other one {"detail": "<phrase>"}.
    for op, statuses in STATUSES.items():
        for status in statuses - {"200", "201", "204", "503"}:
            content = operations[op]["responses"][status]["content"]["application/json"]
            error = _resolve(document, content["schema"])
            if status == "422":
                entry = _resolve(document, error["properties"]["detail"]["items"])
                assert {"type", "loc", "msg"} <= set(entry["required"]), entry
            else:
                assert error["properties"]["detail"]["type"] == "string", (op, status)

    for (op, status), expected in LINKS.items():
        links = operations[op]["responses"][status]["links"].values()
        found = set()
        for link in links:
            (expression,) = link["parameters"].values()  # exactly the parameter it needs
            target = operations[link["operationId"]]
            names = {p["name"] for p in target["parameters"] if p.get("required")}
            assert set(link["parameters"]) == names, (link, names)
            found.add((link["operationId"], expression))
        assert found == expected


def _schemathesis(
    base_url: str, workdir: Path, max_examples: int = MAX_EXAMPLES
) -> tuple[dict[str, Any], str]:
    """Run schemathesis once; (its JSON report, its terminal output)."""
    report = workdir / "schemathesis.json"
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", f"{base_url}/openapi.json",
        "--checks", "all",
        "--phases", PHASES,
        "--max-examples", str(max_examples),
        "--seed", str(SEED),
        "--generation-database", "none",
        "--workers", "1",
        "--request-timeout", "20",
        "--no-color",
        "--report", "json", "--report-json-path", str(report),
    ]  # fmt: skip
    # cwd: schemathesis writes its reports and caches under the working directory.
    done = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=180, check=False
    )
    output = done.stdout + done.stderr
    assert report.exists(), f"schemathesis wrote no report (exit {done.returncode}):\n{output}"
    return json.loads(report.read_text()), output


@pytest.mark.parametrize("name", VARIANTS)
def test_schemathesis_finds_nothing(name: str, start_variant, tmp_path: Path) -> None:
    server = start_variant(name, db_name=f"t_conformance_{db_suffix(name)}")
    examples = MAX_EXAMPLES if name in variants.REGISTRY else SERVER_ONLY_MAX_EXAMPLES
    try:
        report, output = _schemathesis(server.base_url, tmp_path, examples)
        server.check_alive()
    finally:
        server.stop()
    detail = f"schemathesis on {name}:\n{output[-12000:]}"
    assert report["exit_code"] == 0 and report["complete"], detail
    assert report["failures"] == [] and report["errors"] == [], detail
    assert report["operations"]["tested"] == report["operations"]["total"] == 5, detail
    ran = {phase: p["status"] for phase, p in report["phases"].items() if p["status"] != "skip"}
    assert ran == dict.fromkeys(PHASES.split(","), "success"), detail
    # Bounded, but not empty.
    assert report["test_cases"]["generated"] >= 20 * examples, detail
