"""The availability check's fast path against the full route (issue 16): the same requests, valid,
edge-valid and hostile, sent to the customs app with the fast path on and off, must get the same
status, body and the headers that matter; the fast path must keep the server span (continuing a
``traceparent``), the request line's ``X-Request-Id`` echo and the route's HTTP metrics.

Both apps are the customs service's own ASGI app (``bootstrap``) on the stack's PostgreSQL,
driven in this process without their lifespan: no relay, consumer or worker starts (they only
read), so this is safe beside other tests. The license, the keys and the session are this
test's own (or the demo enterprises', only read)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY

from ail_customs.bootstrap import bootstrap
from ail_customs.config import Settings
from ail_customs.entrypoints.fast_availability import ROUTE, SPAN_NAME
from ail_shared.auth import ApiKeyAuthenticator, new_api_key
from ail_shared.db import create_pool
from ail_shared.sessions import SESSION_COOKIE, SessionStore
from tests.integration.customs.support import ENTERPRISE_A, licensed, new_license_no
from tests.support import eventually

FAST_SCOPE = "ail_customs.fast_availability"
COMPARED_HEADERS = ("content-type", "content-length", "x-request-id", "allow")


@dataclass
class Apps:
    fast: FastAPI
    full: FastAPI
    spans: InMemorySpanExporter


@pytest.fixture(scope="module")
async def apps(pg_dsn: str) -> AsyncIterator[Apps]:
    pool = await create_pool(pg_dsn, min_size=1, max_size=4)
    built = []
    for fast in (True, False):
        app = bootstrap(Settings(pg_dsn=pg_dsn, otel_exporter="none", fast_availability=fast))
        runtime = app.state.runtime
        runtime.pool, runtime.auth, runtime.sessions = pool, ApiKeyAuthenticator(pool), SessionStore(pool)
        built.append(app)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    spans = InMemorySpanExporter()
    processor = SimpleSpanProcessor(spans)
    provider.add_span_processor(processor)
    try:
        yield Apps(built[0], built[1], spans)
    finally:
        processor.shutdown()  # stops recording into this exporter
        await pool.close()
        # Building the apps ran the service's configure_tracing in this test process, which
        # instruments httpx for the whole process: a later test's own traceparent header would
        # be replaced by a dropped client span's (tests/e2e/test_tracing.py failed after this
        # module in one process). This module's requests were the only ones meant to be traced.
        HTTPXClientInstrumentor().uninstrument()


async def ask(app: FastAPI, path: str, headers: list[tuple[str, str]]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://customs") as client:
        request = client.build_request("GET", path)
        request.headers = httpx.Headers([*request.headers.multi_items(), *headers])
        return await client.send(request)


def http_requests(status: str) -> float:
    return (
        REGISTRY.get_sample_value(
            "ail_http_requests_total", {"method": "GET", "route": ROUTE, "status": status}
        )
        or 0.0
    )


async def test_the_fast_path_answers_exactly_as_the_full_route(
    apps: Apps,
    demo: dict[str, Any],
    entry_url: str,
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    db: asyncpg.Pool,
) -> None:
    lic = await licensed(kafka_producer, customs_sandbox, quantity=Decimal("1000"))
    no = lic.license_no

    async def issued() -> bool:
        return await db.fetchval("SELECT 1 FROM customs.licenses WHERE license_no = $1", no) is not None

    await eventually(issued, timeout=60, what=f"license {no} in the customs ledger")

    key_a = demo["enterprises"][0]["api_key"]
    key_b = demo["enterprises"][1]["api_key"]
    agency = demo["agency"]["api_key"]
    raw, key_id, digest = new_api_key()
    await db.execute(
        "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label, revoked_at)"
        " VALUES ($1, $2, 'enterprise', $3, 'fast-availability-test', now())",
        key_id,
        digest,
        ENTERPRISE_A,
    )
    revoked = raw
    password = next(a for a in demo["console"]["accounts"] if a["username"] == "demo-ent-a")["password"]
    async with httpx.AsyncClient(base_url=entry_url, timeout=30) as browser:
        r = await browser.post("/api/v1/session", json={"username": "demo-ent-a", "password": password})
        assert r.status_code == 200, r.text
        cookie = browser.cookies.get(SESSION_COOKIE)
    assert cookie

    base = f"/api/v1/licenses/{no}/availability"
    bearer = [("Authorization", f"Bearer {key_a}")]
    trace_id, parent_id = os.urandom(16).hex(), os.urandom(8).hex()
    tp = f"00-{trace_id}-{parent_id}-01"
    cases: list[tuple[str, list[tuple[str, str]], int, bool]] = [
        # (path, headers, the status, answered by the fast path)
        # valid and edge-valid: answered by the fast path
        (f"{base}?quantity=10", bearer, 200, True),
        (f"{base}?quantity=10", [("X-API-Key", key_a)], 200, True),
        (f"{base}?quantity=1.5000&on=2026-12-01", bearer, 200, True),
        (f"{base}?on=2026-12-01&quantity=0.0001", bearer, 200, True),
        (f"{base}?quantity=999999999999.9999", bearer, 200, True),  # the largest: cannot cover
        (f"{base}?quantity=1000&on=9998-12-31", bearer, 200, True),  # past validity
        (f"{base}?quantity=1050&on=1900-01-01", bearer, 200, True),
        (f"{base}?quantity=007", bearer, 200, True),
        (f"{base}?quantity=10", [*bearer, ("X-Request-Id", "fast-avail-1")], 200, True),
        (f"{base}?quantity=10", [*bearer, ("traceparent", tp)], 200, True),
        (f"{base}?quantity=10", [("Authorization", f"bearer {key_a}"), ("X-API-Key", "ail_x_y")], 200, True),
        (
            f"{base}?quantity=10",
            [("Authorization", f"Bearer {agency}"), ("X-Enterprise-Code", ENTERPRISE_A)],
            200,
            True,
        ),
        (f"{base}?quantity=10", [("Authorization", f"Bearer {agency}")], 200, True),
        # a session: the full route's, also beside a key (which wins there)
        (f"{base}?quantity=10", [("Cookie", f"{SESSION_COOKIE}={cookie}")], 200, False),
        (f"{base}?quantity=10", [*bearer, ("Cookie", f"{SESSION_COOKIE}={cookie}")], 200, False),
        (f"{base}?quantity=10", [("Cookie", f"{SESSION_COOKIE}=nonsense")], 401, False),
        # tenancy and credentials
        (f"{base}?quantity=10", [("Authorization", f"Bearer {key_b}")], 404, False),
        (f"/api/v1/licenses/{new_license_no()}/availability?quantity=10", bearer, 404, False),
        (
            f"{base}?quantity=10",
            [("Authorization", f"Bearer {key_b}"), ("X-Enterprise-Code", ENTERPRISE_A)],
            403,
            False,
        ),
        (
            f"{base}?quantity=10",
            [("Authorization", f"Bearer {agency}"), ("X-Enterprise-Code", "9999999999999")],
            403,
            False,
        ),
        (f"{base}?quantity=10", [("Authorization", f"Bearer {revoked}")], 401, False),
        (f"{base}?quantity=10", [("Authorization", f"Bearer {key_a[:-2]}zz")], 401, False),
        (f"{base}?quantity=10", [("Authorization", "Bearer nonsense")], 401, False),
        (f"{base}?quantity=10", [("Authorization", "Basic YTpi")], 401, False),
        (f"{base}?quantity=10", [], 401, False),
        (f"{base}?quantity=10", [*bearer, *bearer], 200, False),  # the first, as Starlette reads it
        # bad parameters and hostile input: the route's 422s
        (f"{base}", bearer, 422, False),
        (f"{base}?quantity=", bearer, 422, False),
        (f"{base}?quantity=0", bearer, 422, False),
        (f"{base}?quantity=-5", bearer, 422, False),
        (f"{base}?quantity=abc", bearer, 422, False),
        (f"{base}?quantity=1e3", bearer, 200, False),  # pydantic reads 1000
        (f"{base}?quantity=1.12345", bearer, 422, False),
        (f"{base}?quantity=1000000000000", bearer, 422, False),
        (f"{base}?quantity=10&on=2026-02-30", bearer, 422, False),
        (f"{base}?quantity=10&on=", bearer, 422, False),
        (f"{base}?quantity=10&on=1899-12-31", bearer, 422, False),
        (f"{base}?quantity=10&page=2", bearer, 422, False),
        (f"{base}?quantity=10&quantity=20", bearer, 200, False),  # the last
        (f"{base}?quantity=10%00", bearer, 422, False),
        (f"{base}?quantity=10&x%FF=1", bearer, 422, False),
        ("/api/v1/licenses/26AA%FF/availability?quantity=10", bearer, 422, False),
        ("/api/v1/licenses/26AA%00/availability?quantity=10", bearer, 422, False),
        (f"/api/v1/licenses/{'A' * 65}/availability?quantity=10", bearer, 422, False),
        (f"{base}/?quantity=10", bearer, 307, False),
        (f"{base}?quantity=10", [*bearer, ("X-Enterprise-Code", "")], 200, False),
        (f"{base}?quantity=10", [*bearer, ("X-Request-Id", "a\x01b")], 200, True),
    ]
    fast_before = http_requests("200")
    oks = 0

    def fast_spans() -> list[ReadableSpan]:
        return [
            s
            for s in apps.spans.get_finished_spans()
            if s.instrumentation_scope is not None and s.instrumentation_scope.name == FAST_SCOPE
        ]

    for path, headers, expected, by_fast_path in cases:
        taken = len(fast_spans())
        fast, full = await ask(apps.fast, path, headers), await ask(apps.full, path, headers)
        what = f"GET {path} {[h for h, _ in headers]}"
        assert (fast.status_code, fast.content) == (full.status_code, full.content), what
        for name in COMPARED_HEADERS:
            if name == "x-request-id" and not any(h.lower() == "x-request-id" for h, _ in headers):
                assert fast.headers.get(name) and full.headers.get(name), what  # a new one each
                continue
            assert fast.headers.get_list(name) == full.headers.get_list(name), (what, name)
        assert fast.status_code == expected, (what, fast.text)
        # The fast path answered exactly the cases it should (its span), the full stack the rest.
        assert len(fast_spans()) - taken == (1 if by_fast_path else 0), what
        oks += fast.status_code == 200
    # Each 200 counted once by each app with the route's labels, whichever path answered it.
    assert http_requests("200") - fast_before == 2 * oks

    spans: list[ReadableSpan] = list(apps.spans.get_finished_spans())
    mine = fast_spans()
    for span in mine:
        assert span.kind == trace.SpanKind.SERVER and span.attributes is not None
        assert span.attributes["http.route"] == ROUTE and span.attributes["http.status_code"] == 200
    # The traceparent is continued alike, with the same request attributes.
    continued = [s for s in spans if s.context is not None and s.context.trace_id == int(trace_id, 16)]
    fast_span = next(s for s in continued if s in mine)
    full_span = next(s for s in continued if s not in mine and s.name == SPAN_NAME)
    for span in (fast_span, full_span):
        assert span.parent is not None and span.parent.span_id == int(parent_id, 16)
    ignored = {"net.peer.port", "client.port"}
    assert {k: v for k, v in (fast_span.attributes or {}).items() if k not in ignored} == {
        k: v for k, v in (full_span.attributes or {}).items() if k not in ignored
    }
