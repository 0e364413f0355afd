"""Every variant's description is a claim: each part is observed on the real thing.

A registry variant's description is composed from its ``Claims`` (server, route handlers, ORM or
session and driver, connections). Per variant, one test starts the service through its command
line and reads the server from what it answers, and reads the other parts from the app objects
imported (in a subprocess, ``tests/variant_probe.py``) with the exact environment the harness
gave that service. The per-query thread hops of django-async's async ORM are counted in
tests/services/test_django_async.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping

import httpx
import pytest

from chatbench.configuration import variants
from chatbench.configuration.variants import REGISTRY, Claims
from chatbench.serving import servers
from tests.conftest import REPO_ROOT


def _probe(framework: str, env: Mapping[str, str]) -> dict[str, str]:
    done = subprocess.run(
        [sys.executable, "-m", "tests.services.variant_probe", framework],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _server_seen(server: servers.RunningServer) -> str:
    """The HTTP server as a client sees it: its ``Server`` header, and for gunicorn the worker
    class, told apart by keep-alive (sync workers close every connection, gthread keeps it)."""
    with httpx.Client(base_url=server.base_url, timeout=20) as client:
        response = client.get("/health")
    assert response.status_code == 200
    name = response.headers.get("server", "").split("/")[0].lower()
    if name == "gunicorn":
        kept = response.headers.get("connection", "").lower() != "close"
        return "gunicorn gthread" if kept else "gunicorn sync"
    return name


@pytest.mark.parametrize("name", list(REGISTRY))
def test_description_is_what_runs(start_variant, name: str) -> None:
    spec = REGISTRY[name]
    assert spec.claims is not None, f"{name} has no claims to check"
    assert spec.description == spec.claims.sentence()
    server = start_variant(name, db_name=f"t_claims_{name.replace('-', '_')}")
    try:
        seen = Claims(server=_server_seen(server), **_probe(spec.framework, server.env))
    finally:
        server.stop()
    assert seen == spec.claims


@pytest.mark.parametrize(
    ("name", "env_of"),
    [
        ("django", "django-async"),
        ("django-async", "django"),
        ("django-ninja", "django"),
        ("fastapi", "fastapi-sync"),
        ("fastapi-sync", "fastapi-seed"),
        ("fastapi-seed", "fastapi"),
    ],
)
def test_the_probe_tells_variants_apart(name: str, env_of: str) -> None:
    """Given another variant's environment, the observed parts no longer match the claims: the
    check above would fail if a variant's env stopped selecting what its description says."""
    claims = REGISTRY[name].claims
    assert claims is not None
    env = REGISTRY[env_of].service_env(
        database_url="postgresql://nobody@127.0.0.1:9/none", port=1, cpus=1
    )
    seen = _probe(REGISTRY[name].framework, env)
    observed = (seen["stack"], seen["handlers"], seen["data"])
    assert observed != (claims.stack, claims.handlers, claims.data)


def test_axis_variants_drop_the_base_claims() -> None:
    spec = variants.get("django[pool=none]")
    assert spec.claims is None
    assert spec.description.endswith("except as set by pool=none")
