"""Thread hops of the Django service under ASGI, per request: run as ``python -m tests.services.django_hops``.

Run in a subprocess with a variant's service environment (Django's settings are per process).
It imports the real ASGI application (``impl_django.project.asgi``: the body-size guard in front
of Django's ``ASGIHandler``), drives one request per endpoint through it in-process with
``httpx.ASGITransport``, and records every call of ``asgiref.sync.SyncToAsync`` made while each
request is served: each such call runs its function in a worker thread, one thread hop. Prints
one JSON object: ``{"requests": {label: {"status": int, "hops": [qualified name of each hopped
function]}}, "openapi": the OpenAPI document it served}``.

Every request is sent twice and the second is recorded, so one-time work (the first
connection, lazy imports) is not counted as the request's.
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from asgiref.sync import SyncToAsync

HOPS: list[str] = []
_original_call = SyncToAsync.__call__


async def _counting_call(self: SyncToAsync, *args: Any, **kwargs: Any) -> Any:
    HOPS.append(getattr(self.func, "__qualname__", None) or type(self.func).__qualname__)
    return await _original_call(self, *args, **kwargs)


async def _measure() -> dict[str, Any]:
    import httpx

    from impl_django.project.asgi import application

    session = f"hops-{os.getpid()}"
    body = {"role": "user", "content": "hop", "session_id": session}
    results: dict[str, dict[str, Any]] = {}
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://hops") as client:

        async def record(label: str, method: str, path: str, **kw: Any) -> httpx.Response:
            await client.request(method, path, **kw)  # warm-up, not recorded
            HOPS.clear()
            response = await client.request(method, path, **kw)
            results[label] = {"status": response.status_code, "hops": list(HOPS)}
            if response.status_code >= 500:
                raise SystemExit(f"{label}: {response.status_code} {response.text[:2000]}")
            return response

        await record("GET /health", "GET", "/health")
        created = await record("POST messages", "POST", "/api/chat/messages", json=body)
        message_id = created.json()["id"]
        await record("GET history", "GET", "/api/chat/messages", params={"session_id": session})
        await record("GET by id", "GET", f"/api/chat/messages/{message_id}")
        victim = (await client.post("/api/chat/messages", json=body)).json()["id"]
        HOPS.clear()
        response = await client.delete(f"/api/chat/messages/{victim}")
        results["DELETE by id"] = {"status": response.status_code, "hops": list(HOPS)}
        await record("GET missing id", "GET", "/api/chat/messages/999999999")
        await record("POST invalid", "POST", "/api/chat/messages", json={"role": "x"})
        document = await record("GET /openapi.json", "GET", "/openapi.json")
        await record("GET /docs", "GET", "/docs")
    return {"requests": results, "openapi": document.json()}


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impl_django.project.settings")
    SyncToAsync.__call__ = _counting_call  # type: ignore[method-assign]
    print(json.dumps(asyncio.run(_measure())))


if __name__ == "__main__":
    main()
