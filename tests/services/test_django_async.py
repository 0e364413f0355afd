"""django-async is async: coroutine views and middleware, thread hops only where Django takes them.

``tests/django_hops.py`` drives the real ASGI application in-process and records every
``sync_to_async`` call (one thread hop each) while a request is served. Django's ASGI handler
hops on its own around every request, whatever the views: the ``request_started`` signal before,
closing the response after, and logging a response of status >= 400. Inside that, the handler
chain (middleware and view) of django-async must hop exactly once per query, the async ORM's
own ``sync_to_async`` (Django 5.2), and nowhere else. ``django[server=asgi]`` (the sync DRF views
under the same server) is the control: there the view and its render are hops.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest
from django.core.cache.backends.redis import RedisSerializer

from chatbench.configuration import variants
from chatbench.provisioning.cache import ValkeyServer
from tests.conftest import REPO_ROOT
from tests.provisioning.test_cache import _conversation

BEFORE = "Signal.asend.<locals>.sync_send"  # ASGIHandler: request_started.asend (sync receivers)
AFTER = "HttpResponseBase.close"  # ASGIHandler: sync_to_async(response.close)
ERROR_LOG = "log_response"  # BaseHandler.get_response_async, status >= 400

# django-async: the hops inside the handler chain, per endpoint: one per query, each the sync
# QuerySet method that Django's async one (aget, acreate, adelete, async for) runs in a thread.
ASYNC_CHAIN_HOPS = {
    "GET /health": ["select_one"],  # SELECT 1 through sync_to_async, as the async ORM does
    "POST messages": ["QuerySet.create"],  # acreate
    "GET history": ["QuerySet._fetch_all"],  # [m async for m in page]
    "GET by id": ["QuerySet.get"],  # aget_object_or_404
    "DELETE by id": ["QuerySet.delete"],  # filter().adelete()
    "GET missing id": ["QuerySet.get"],
    "POST invalid": [],  # refused before any query
    "GET /openapi.json": [],
    "GET /docs": [],
}


def _hops(clone_db, name: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The probe's JSON for variant ``name`` (plus ``extra`` environment) on a fresh database."""
    url = clone_db(
        "t_hops_" + "".join(c if c.isalnum() else "_" for c in name) + str(len(extra or {}))
    )
    env = variants.get(name).service_env(database_url=url, port=1, cpus=1, extra=extra)
    done = subprocess.run(
        [sys.executable, "-m", "tests.services.django_hops"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def async_hops(clone_db) -> dict[str, Any]:
    return _hops(clone_db, "django-async")


@pytest.fixture(scope="module")
def sync_hops(clone_db) -> dict[str, Any]:
    return _hops(clone_db, "django[server=asgi]")


def test_async_views_hop_only_for_their_queries(async_hops) -> None:
    requests = async_hops["requests"]
    assert set(requests) == set(ASYNC_CHAIN_HOPS)
    for label, seen in requests.items():
        assert seen["status"] < 500, label
        error = [ERROR_LOG] if seen["status"] >= 400 else []
        expected = [BEFORE, *ASYNC_CHAIN_HOPS[label], *error, AFTER]
        assert seen["hops"] == expected, f"{label}: {seen['hops']} != {expected}"


def test_injectors_add_no_hop_but_their_query(clone_db) -> None:
    """The A/B regression injectors run on the loop too: the extra SELECT 1 is one more hop
    on /api/ requests (a query, as every query), the CPU burn none."""
    injected = _hops(
        clone_db, "django-async", {"CHATBENCH_EXTRA_QUERY": "1", "CHATBENCH_BURN_US": "100"}
    )
    for label, seen in injected["requests"].items():
        api = label not in ("GET /health", "GET /openapi.json", "GET /docs")
        extra = ["select_one"] if api else []
        error = [ERROR_LOG] if seen["status"] >= 400 else []
        expected = [BEFORE, *extra, *ASYNC_CHAIN_HOPS[label], *error, AFTER]
        assert seen["hops"] == expected, f"{label}: {seen['hops']} != {expected}"


def test_sync_views_under_asgi_hop_for_the_view_and_its_render(sync_hops) -> None:
    """The control: the same instrument sees a sync view as a hop (and DRF's render as another)."""
    for label, seen in sync_hops["requests"].items():
        chain = [hop for hop in seen["hops"] if hop not in (BEFORE, AFTER, ERROR_LOG)]
        assert len(chain) == 2, f"{label}: {seen['hops']}"
        assert chain[1] == "SimpleTemplateResponse.render"
        assert not any(hop.startswith("QuerySet.") for hop in chain)  # queries ran inside the view


def test_both_view_modes_serve_the_same_openapi_document(async_hops, sync_hops) -> None:
    document = async_hops["openapi"]
    assert {"/api/chat/messages", "/api/chat/messages/{id}", "/health"} <= set(document["paths"])
    assert document == sync_hops["openapi"]


def test_async_views_refuse_to_run_under_wsgi() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none",
        "CHATBENCH_SERVER": "gthread",
        "CHATBENCH_DJANGO_VIEWS": "async",
    }
    done = subprocess.run(
        [sys.executable, "-c", "import impl_django.project.wsgi"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "CHATBENCH_DJANGO_VIEWS=async needs CHATBENCH_SERVER=asgi or granian." in done.stderr


def _cache_after_conversation(start_variant, valkey: ValkeyServer, name: str) -> dict[str, Any]:
    """Run the read-your-writes conversation of test_cache on ``name`` with a cold Valkey; the
    keys it leaves, each with (has a TTL, value as Django's serializer reads it)."""
    valkey.flush()
    server = start_variant(
        f"{name}[cache=valkey]",
        db_name=f"t_cache_modes_{name.replace('-', '_')}",
        extra_env={"CHATBENCH_CACHE_URL": valkey.url, "CHATBENCH_CACHE_TTL": "60"},
    )
    try:
        _conversation(server.base_url, "cache-modes")
    finally:
        server.stop()
    client, serializer = valkey.client(), RedisSerializer()
    left = {}
    for key in sorted(k.decode() for k in client.keys("*")):
        value = serializer.loads(client.get(key))
        if isinstance(value, list):  # a history page: created_at differs between runs
            value = [{k: v for k, v in row.items() if k != "created_at"} for row in value]
        left[key] = (0 < client.ttl(key) <= 60, value)
    return left


def test_cache_is_the_same_in_both_view_modes(start_variant, tmp_path) -> None:
    """Same keys, values, TTLs and invalidation after the same conversation (which itself
    asserts read-your-writes at each step); the async views write through redis.asyncio."""
    with ValkeyServer.start(tmp_path / "valkey") as valkey:
        sync_left = _cache_after_conversation(start_variant, valkey, "django")
        async_left = _cache_after_conversation(start_variant, valkey, "django-async")
    assert async_left == sync_left
    assert async_left["chatbench:histver:cache-modes"] == (False, 3)  # 2 creates + 1 delete
    assert any(key.startswith("chatbench:hist:cache-modes:3:") for key in async_left)
