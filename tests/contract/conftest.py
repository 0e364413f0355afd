"""Fixtures of the contract suite: every variant in the registry (and both frameworks on granian),
each a real server.

Each variant is started once per test session (gunicorn / uvicorn through its command line, on
its own database cloned from the seeded template) and shared by every test; tests keep apart by
using their own session ids. A new registry entry is covered without touching the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from chatbench.configuration import variants
from chatbench.serving import servers

# Every registry variant, and the server held constant across frameworks (server=granian).
VARIANTS: list[str] = [
    *variants.REGISTRY,
    "django[server=granian]",
    "django-async[server=granian]",
    "fastapi[server=granian]",
]


@pytest.fixture(scope="session")
def get_service(start_variant) -> Callable[[str], servers.RunningServer]:
    """Start a variant on first use and keep it for the session (a failed start is not retried)."""
    started: dict[str, servers.RunningServer] = {}
    failed: dict[str, BaseException] = {}

    def get(name: str) -> servers.RunningServer:
        if name in failed:
            pytest.fail(f"the {name} service did not start: {failed[name]}", pytrace=False)
        if name not in started:
            try:
                started[name] = start_variant(name)
            except Exception as exc:
                failed[name] = exc
                detail = getattr(exc, "detail", None) or ""
                pytest.fail(f"the {name} service did not start: {exc}\n{detail}", pytrace=False)
        server = started[name]
        server.check_alive()
        return server

    return get


@pytest.fixture(scope="session", params=VARIANTS)
def service(request: pytest.FixtureRequest, get_service) -> servers.RunningServer:
    """One running variant (``base_url``, ``database_url``); tests run once per variant."""
    return get_service(request.param)


@pytest.fixture(scope="session")
def all_services(get_service) -> dict[str, servers.RunningServer]:
    """Every variant running at the same time, in registry order."""
    return {name: get_service(name) for name in VARIANTS}


@pytest.fixture
def client(service: servers.RunningServer) -> Iterator[httpx.Client]:
    # No redirects: a slashed path must answer like the canonical one, not redirect to it.
    with httpx.Client(base_url=service.base_url, timeout=20.0, follow_redirects=False) as c:
        yield c
