"""``ail_shared.http.RequestLog`` (issue 16: a plain ASGI middleware in place of
``@app.middleware("http")``): the request id reaches the request's logs and the response, one
line per request when the answer starts, none for ``/healthz``."""

from __future__ import annotations

import httpx
import structlog
from starlette.types import Receive, Scope, Send

from ail_shared import http
from ail_shared.logging import get_logger


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    bound = structlog.contextvars.get_contextvars().get("request_id", "")
    await send(
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"x-request-id", b"from-the-route"), (b"x-bound", str(bound).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def test_the_request_id_is_bound_echoed_and_logged_once() -> None:
    lines: list[dict[str, object]] = []

    class Log:
        def info(self, event: str, **kw: object) -> None:
            lines.append({"event": event, **kw})

    setattr(http, "log", Log())  # noqa: B010 - the module's logger, restored below
    try:
        transport = httpx.ASGITransport(app=http.RequestLog(_app))
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            given = await client.get("/api/v1/x", headers={"X-Request-Id": "abc123"})
            fresh = await client.post("/api/v1/y")
            await client.get("/healthz")
    finally:
        setattr(http, "log", get_logger("ail.http"))  # noqa: B010
    assert given.status_code == 201 and given.text == "ok"
    assert given.headers.get_list("x-request-id") == ["abc123"]  # ours, the route's replaced
    assert given.headers["x-bound"] == "abc123"  # bound for the request's own log lines
    new_id = fresh.headers["x-request-id"]
    assert len(new_id) == 32 and fresh.headers["x-bound"] == new_id
    assert [(x["event"], x["method"], x["path"], x["status"], x["request_id"]) for x in lines] == [
        ("http_request", "GET", "/api/v1/x", 201, "abc123"),
        ("http_request", "POST", "/api/v1/y", 201, new_id),
    ]
    assert structlog.contextvars.get_contextvars().get("request_id") is None
