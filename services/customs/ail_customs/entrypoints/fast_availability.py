"""A lighter path for the platform's hottest read (issue 16): ``GET
/api/v1/licenses/{license_no}/availability``, answered before the FastAPI stack when it is the
common, well-formed case.

Why: the customs process spent ~2.6 ms of CPU per check (docs/performance.md, session 8), most
of it in the layers around the route (the OpenTelemetry ASGI middleware and its route lookup,
Starlette's and FastAPI's middlewares, dependency solving, the request guard), not in the route.

What it answers itself: a ``GET`` of exactly that path (the license number plain ASCII, no
percent-encoding), a query of exactly ``quantity`` and optionally ``on``, each once, valid per
the route's own types (``PositiveQuantity``, ``Day``, ``IdentifierText``), an API key in
``Authorization: Bearer`` or ``X-API-Key`` (at most one of each), at most one
``X-Enterprise-Code``, no cookie, no body, the headers the request guard reads valid text; and
then only when the key is valid and the license is found and the caller's (a 200). Everything
else, including every refusal found by the read (401, 403, 404) and any failure, is handed to
the full app unchanged, which reads again and answers as it always has: every error answer is
the full route's by construction, and so is the scoping (another tenant's license is its 404).

What it keeps of every request, from the same homes as the full stack: authentication and the
tenant check (``queries.license_for_caller``: ``Caller.tenant_and``, no cache), the answer
(``api.availability_answer``, rendered by the same ``JSONResponse``), the server span (the
caller's ``traceparent`` continued, the ASGI instrumentation's request attributes, the route's
span name and ``http.route``), the ``http_request`` log line and the ``X-Request-Id`` echo
(``ail_shared.http.log_request`` / ``with_request_id``), the HTTP metrics with the route's
labels (``ail_shared.metrics.observe_http``). The span and the timings start when the request
arrives; the span is created once the read has succeeded (with that start time), so a request
handed on leaves no span of its own, only the full app's. Per-statement PostgreSQL spans
(``otel_db_span_ratio`` > 0) are not recorded for the fast path's read: it runs before its span.

Switched off with ``AIL_FAST_AVAILABILITY=false`` (then every check takes the full route).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

import structlog
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from opentelemetry import propagate, trace
from opentelemetry.instrumentation.asgi import asgi_getter, collect_request_attributes, set_status_code
from opentelemetry.trace import SpanKind
from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ail_customs.adapters import queries
from ail_customs.entrypoints import api
from ail_shared.http import READ_HEADERS, Caller, api_key_of, log_request, request_id_of, with_request_id
from ail_shared.inputs import Day, IdentifierText, PositiveQuantity, text_problem
from ail_shared.metrics import observe_http

ROUTE = "/api/v1/licenses/{license_no}/availability"
SPAN_NAME = f"GET {ROUTE}"
_PREFIX, _SUFFIX = ROUTE.split("{license_no}")
_QUERY_NAMES = frozenset({"quantity", "on"})  # what the route declares (tests/unit/customs checks)

# Pre-filters only: what passes them is then validated by the route's own types, and what fails
# either is the full route's to answer (its 422 names the field and the reason).
_LICENSE_NO = re.compile(r"[0-9A-Za-z_-]+\Z")
_QUANTITY = re.compile(rb"[0-9]{1,20}(?:\.[0-9]{1,20})?\Z")
_DAY = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")
_KEY = re.compile(r"[\x21-\x7e]+\Z")  # printable ASCII, no space: anything else, the full route
_LICENSE_NO_TYPE: TypeAdapter[str] = TypeAdapter(IdentifierText)
_QUANTITY_TYPE: TypeAdapter[Decimal] = TypeAdapter(PositiveQuantity)
_DAY_TYPE: TypeAdapter[date] = TypeAdapter(Day)

_CREDENTIALS = (b"authorization", b"x-api-key", b"x-enterprise-code")
_GUARDED = frozenset(h.lower().encode() for h in READ_HEADERS)  # the request guard's text checks
_NOT_HERE = (b"cookie", b"transfer-encoding")  # a session, or a body: the full route's

_tracer = trace.get_tracer("ail_customs.fast_availability")


@dataclass(frozen=True)
class Check:
    """A request the fast path may answer (before the read)."""

    license_no: str
    quantity: Decimal
    on: date | None
    raw_key: str
    named_enterprise: str | None


def eligible(scope: Scope) -> Check | None:
    """The check ``scope`` asks for when it is the common, well-formed case; None for anything
    the full route must answer. Pure: no I/O, no clock."""
    if scope["type"] != "http" or scope.get("method") != "GET" or scope.get("root_path"):
        return None
    path = scope.get("path", "")
    if not (path.startswith(_PREFIX) and path.endswith(_SUFFIX)):
        return None
    license_no = path[len(_PREFIX) : -len(_SUFFIX)]
    raw_path = scope.get("raw_path")
    if not _LICENSE_NO.match(license_no) or (raw_path is not None and raw_path != path.encode()):
        return None
    query = _query(scope.get("query_string", b""))
    headers = _headers(scope["headers"])
    if query is None or headers is None:
        return None
    try:
        license_no = _LICENSE_NO_TYPE.validate_python(license_no)
        quantity = _QUANTITY_TYPE.validate_python(query[0].decode())
        on = _DAY_TYPE.validate_python(query[1].decode()) if query[1] is not None else None
    except ValidationError:
        return None
    raw_key = api_key_of(headers.get(b"authorization"), headers.get(b"x-api-key"))
    named = headers.get(b"x-enterprise-code")
    if raw_key is None or not _KEY.match(raw_key) or named == "":
        return None
    return Check(license_no, quantity, on, raw_key, named)


def _query(raw: bytes) -> tuple[bytes, bytes | None] | None:
    """(quantity, on) when the query is exactly those, each once and plain (no encoding)."""
    quantity: bytes | None = None
    on: bytes | None = None
    for pair in raw.split(b"&"):
        name, _, value = pair.partition(b"=")
        if name == b"quantity" and quantity is None and _QUANTITY.match(value):
            quantity = value
        elif name == b"on" and on is None and _DAY.match(value):
            on = value
        else:
            return None
    return None if quantity is None else (quantity, on)


def _headers(raw: Any) -> dict[bytes, str] | None:
    """The credential headers (latin-1, as Starlette reads them) when each is sent at most once,
    no cookie or body is, and every header the request guard reads is valid text."""
    found: dict[bytes, str] = {}
    for name, value in raw:
        if name in _CREDENTIALS:
            if name in found:
                return None
            found[name] = value.decode("latin-1")
        elif name in _NOT_HERE or (name == b"content-length" and value != b"0"):
            return None
        if name in _GUARDED and text_problem(value.decode("latin-1")) is not None:
            return None
    return found


class AvailabilityFastPath:
    """ASGI middleware around the customs app's whole stack (``ail_shared.http.wrap_outermost``):
    answers the eligible availability checks (see the module docstring), hands on the rest."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        # The route it stands in for must be the one it was written for (its query names: a
        # unit test); scope["route"] is set to it, as the router sets it.
        route = next(
            (r for r in api.router.routes if isinstance(r, APIRoute) and r.endpoint is api.availability),
            None,
        )
        if route is None or route.path != ROUTE or route.methods != {"GET"}:
            raise RuntimeError(f"the availability fast path expects the route GET {ROUTE}")
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        check = eligible(scope)
        if check is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        start_ns = time.time_ns()
        day = check.on or api.today_in_china()
        try:
            caller = Caller(Request(scope), check.raw_key, check.named_enterprise)
            _, lic = await queries.license_for_caller(caller, check.license_no)
            body = api.availability_answer(check.license_no, check.quantity, day, lic)
        except Exception:  # noqa: BLE001 - a refusal (401/403/404) or a failure: the full route's answer
            await self.app(scope, receive, send)
            return
        await self._answer(scope, receive, send, JSONResponse(body), started, start_ns)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        response: JSONResponse,
        started: float,
        start_ns: int,
    ) -> None:
        request_id = request_id_of(scope)
        attributes = collect_request_attributes(scope)  # type: ignore[no-untyped-call]
        attributes["http.route"] = ROUTE
        span = _tracer.start_span(
            SPAN_NAME,
            context=propagate.extract(cast(dict[str, Any], scope), getter=asgi_getter),
            kind=SpanKind.SERVER,
            attributes=attributes,
            start_time=start_ns,
        )
        scope["route"] = self.route

        status = 500  # what the metrics record when sending fails before the answer starts

        async def send_answer(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                message = with_request_id(message, request_id)
                status = int(message["status"])
                if span.is_recording():
                    set_status_code(span, status)  # type: ignore[no-untyped-call]
                log_request(scope, status, request_id, started)
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            with trace.use_span(span, end_on_exit=True, record_exception=True):
                await response(scope, receive, send_answer)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")
            observe_http("GET", ROUTE, status, started)
