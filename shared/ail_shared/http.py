"""FastAPI plumbing every service shares: lifespan (pool, outbox relay, consumers), auth
dependency, error format, tracing and request logs, health check, and ``serve()``.

Error body, always::

    {"error": {"code": "invalid_input", "message": "...",
               "details": [{"field": "goods.0.quantity", "reason": "...", "code": "..."}]}}

(``code`` only where the rule has one, e.g. the form rules of ``ail_shared.formrules``.)

Every request passes two checks before any route sees it (issue 10, item 7):

- ``BodyLimit`` (ASGI middleware): a body over ``MAX_BODY_BYTES`` is answered 413 in the error
  body above, before it is read into memory.
- ``guard_request`` (an app-wide dependency, so it runs after routing and can name path
  parameters): every path and query parameter, the headers we read and every string (and key)
  of a JSON body must be text PostgreSQL and UTF-8 can take (no NUL, no lone surrogate, valid
  UTF-8 in the URL), and every JSON number finite. All problems are named at once
  (``path.license_no``, ``query.serial_no``, ``X-Enterprise-Code``, ``goods.0.spec``), with 422.
  A query parameter the route does not declare is refused too (``query.license_no``: "unknown
  query parameter", issue 13 item 14): a misspelt or unsupported filter that were ignored would
  silently widen a query, and a widened query in front of a batch delete or submit is dangerous.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import asyncpg
import structlog
import uvicorn
from fastapi import Depends, FastAPI, Header, Request
from fastapi import HTTPException as FastAPIHTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ail_shared import metrics
from ail_shared.auth import ApiKeyAuthenticator, Tenant
from ail_shared.config import ServiceSettings
from ail_shared.consumer import EventConsumer
from ail_shared.db import create_pool
from ail_shared.errors import AilError, FieldProblem, InvalidInput, PayloadTooLarge
from ail_shared.inputs import MAX_BODY_BYTES, finite_problem, text_problem
from ail_shared.logging import configure_logging, get_logger
from ail_shared.openapi import describe, operation_id
from ail_shared.outbox import OutboxRelay, SetAsideHook
from ail_shared.sessions import CSRF_HEADER, SESSION_COOKIE, SessionStore
from ail_shared.telemetry import configure_tracing, instrument_app

log = get_logger("ail.http")


@dataclass
class Runtime:
    """What a running service holds: settings, pool, background workers."""

    settings: ServiceSettings
    schema: str
    pool: asyncpg.Pool | None = None
    auth: ApiKeyAuthenticator | None = None
    sessions: SessionStore | None = None
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    # The service's typed dependencies (its ``Deps``), set by its bootstrap; a service reads them
    # through a typed accessor of its own.
    deps: object = None

    def db(self) -> asyncpg.Pool:
        assert self.pool is not None, "pool not started"
        return self.pool


ConsumerFactory = Callable[[Runtime], list[EventConsumer]]
Hook = Callable[[Runtime], Awaitable[None]]


def problem(field_path: str, reason: str) -> FieldProblem:
    return FieldProblem(field_path, reason)


def detail(d: FieldProblem) -> dict[str, str]:
    """One entry of ``details``: field and reason, and the rule's code when it has one."""
    out = {"field": d.field, "reason": d.reason}
    if d.code is not None:
        out["code"] = d.code
    return out


def error_body(code: str, message: str, details: list[FieldProblem] | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": message,
            "details": [detail(d) for d in details or []],
        }
    }


def _loc_to_path(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    return ".".join(parts) or "<body>"


# -- request guard -------------------------------------------------------------------------------
# Headers a route of ours reads; the others are nginx's and the HTTP stack's business.
READ_HEADERS = ("X-Enterprise-Code", "Idempotency-Key", "Last-Event-ID", "X-Request-Id", "X-CSRF-Token")
_JSON_DEPTH_MAX = 32  # the deepest model (contract -> part -> field) is 3; lists add 1 each


def _url_text_problems(raw: bytes, where: str) -> list[FieldProblem]:
    """Percent-decoded bytes of a query string must be UTF-8 text: Starlette would otherwise
    replace a bad byte (or an encoded surrogate, ``%ED%A0%80``) with U+FFFD and search for that."""
    problems: list[FieldProblem] = []
    for pair in raw.split(b"&"):
        if not pair:
            continue
        name, _, value = pair.partition(b"=")
        # The name as Starlette shows it; U+FFFD for bad bytes, NUL escaped, so it can be echoed.
        label = urllib.parse.unquote(name.decode("latin-1").replace("+", " "), errors="replace")
        label = label.replace("\x00", "\\u0000")
        for part, what in ((name, "the name"), (value, "the value")):
            decoded = urllib.parse.unquote_to_bytes(part.replace(b"+", b" "))
            try:
                reason = text_problem(decoded.decode("utf-8"))
            except UnicodeDecodeError as e:
                reason = (
                    f"is not valid UTF-8 (byte {decoded[e.start]:#04x} at position {e.start}):"
                    " percent-encode UTF-8 text"
                )
            if reason is not None:
                problems.append(FieldProblem(f"{where}.{label}", f"{what} {reason}"))
    return problems


def _json_problems(value: Any, path: str, problems: list[FieldProblem], depth: int = 0) -> None:
    if depth > _JSON_DEPTH_MAX:
        problems.append(FieldProblem(path or "<body>", f"nested deeper than {_JSON_DEPTH_MAX} levels"))
        return
    if isinstance(value, str):
        reason = text_problem(value)
        if reason is not None:
            problems.append(FieldProblem(path or "<body>", reason))
    elif isinstance(value, float):
        reason = finite_problem(value)
        if reason is not None:
            problems.append(FieldProblem(path or "<body>", reason))
    elif isinstance(value, dict):
        for k, v in value.items():
            key_reason = text_problem(k)
            if key_reason is not None:
                problems.append(FieldProblem(path or "<body>", f"a field name {key_reason}"))
                continue
            _json_problems(v, f"{path}.{k}" if path else k, problems, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _json_problems(v, f"{path}.{i}" if path else str(i), problems, depth + 1)


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def _declared_query_names(dependant: Any, into: set[str]) -> set[str]:
    """The query parameter names (aliases) a route and all its dependencies declare."""
    for param in dependant.query_params:
        into.add(param.alias)
    for sub in dependant.dependencies:
        _declared_query_names(sub, into)
    return into


_DECLARED: dict[int, frozenset[str]] = {}  # per route object: the walk is done once


def _unknown_query_problems(request: Request) -> list[FieldProblem]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    if dependant is None:
        return []
    declared = _DECLARED.get(id(route))
    if declared is None:
        declared = _DECLARED[id(route)] = frozenset(_declared_query_names(dependant, set()))
    unknown = sorted({name for name in request.query_params if name not in declared})
    if not unknown:
        return []
    allowed = ", ".join(sorted(declared)) or "none"
    return [
        FieldProblem(f"query.{name}", f"unknown query parameter; this endpoint takes: {allowed}")
        for name in unknown
    ]


async def guard_request(request: Request) -> None:
    """Refuse text no route could store or answer (see the module docstring), all at once."""
    problems: list[FieldProblem] = []
    raw_path: bytes = request.scope.get("raw_path") or request.url.path.encode()
    try:
        urllib.parse.unquote_to_bytes(raw_path).decode("utf-8")
        path_utf8 = True
    except UnicodeDecodeError:
        path_utf8 = False  # the server put U+FFFD where the bad bytes were
    for name, value in request.path_params.items():
        if isinstance(value, str):
            reason = text_problem(value)
            if reason is None and not path_utf8 and "\ufffd" in value:
                reason = "is not valid UTF-8: percent-encode UTF-8 text"
            if reason is not None:
                problems.append(FieldProblem(f"path.{name}", reason))
    problems += _url_text_problems(request.scope.get("query_string", b""), "query")
    if not problems:  # a name that is not text is named above already
        problems += _unknown_query_problems(request)
    for header in READ_HEADERS:
        value = request.headers.get(header)
        if value is not None:
            reason = text_problem(value)
            if reason is not None:
                problems.append(FieldProblem(header, reason))
    if request.method in ("POST", "PUT", "PATCH") and _is_json(request.headers.get("content-type")):
        body = await request.body()  # already read (and cached) by FastAPI when the route has a body
        if body:
            try:
                parsed = await request.json()
            except ValueError:
                parsed = None  # FastAPI answers invalid JSON itself, naming the position
            _json_problems(parsed, "", problems)
    if problems:
        raise InvalidInput(f"{len(problems)} field(s) invalid", problems)


class BodyLimit:
    """ASGI middleware: 413 for a request body over ``limit`` bytes, before reading it all.

    A declared ``Content-Length`` over the limit is refused at once; a chunked body is counted
    as it arrives and refused when it passes the limit (FastAPI reads the body before calling a
    route, so nothing has been done yet)."""

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    def _refusal(self, size: str) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is {size}; at most {self.limit} bytes are accepted"
            " (attachments at most 1 MiB each; see docs/limits.md for every field's limit)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > self.limit:
            exc = self._refusal(f"{int(length)} bytes")
            response = JSONResponse(error_body(exc.code, exc.message), status_code=exc.status_code)
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    # FastAPI re-raises its HTTPException from the body read as it is (any other
                    # exception would become a 400 "error parsing the body").
                    raise FastAPIHTTPException(413, self._refusal(f"over {self.limit} bytes").message)
            return message

        await self.app(scope, counted, send)


def request_id_of(scope: Scope) -> str:
    """The request's id: its ``X-Request-Id`` (the first one) or a new one."""
    return (
        next((v for k, v in scope["headers"] if k == b"x-request-id"), b"").decode("latin-1")
        or uuid.uuid4().hex
    )


def with_request_id(message: Message, request_id: str) -> Message:
    """The ``http.response.start`` message with ``X-Request-Id: request_id`` (echoed, replacing
    one the app set)."""
    headers = [(k, v) for k, v in message.get("headers", ()) if k != b"x-request-id"]
    headers.append((b"x-request-id", request_id.encode("latin-1")))
    return {**message, "headers": headers}


def log_request(scope: Scope, status: int, request_id: str, started: float) -> None:
    """The one ``http_request`` line of a request (``started``: its ``time.perf_counter()``)."""
    log.info(
        "http_request",
        method=scope.get("method"),
        path=scope.get("path"),
        status=status,
        request_id=request_id,
        ms=round((time.perf_counter() - started) * 1000, 2),
    )


class RequestLog:
    """ASGI middleware: binds the request id to the logs of the request (``X-Request-Id`` or a
    new one), echoes it in the response and logs one ``http_request`` line per request (not
    ``/healthz``). The server span is the FastAPI instrumentation's (``instrument_app``): this
    runs inside it, so the request line carries its trace and span ids. (A service's fast path
    outside the stack, e.g. the customs availability check, uses the same three functions.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        started = time.perf_counter()
        logged = scope.get("path") != "/healthz"

        async def echo_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = with_request_id(message, request_id)
                # Logged when the answer starts, as before (a stream's line does not wait for
                # its end); no line when the app raised first (the server logs it, answers 500).
                if logged:
                    log_request(scope, int(message["status"]), request_id, started)
            await send(message)

        structlog.contextvars.bind_contextvars(request_id=request_id)
        try:
            await self.app(scope, receive, echo_request_id)
        finally:
            structlog.contextvars.unbind_contextvars("request_id")


def wrap_outermost(app: FastAPI, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
    """Put ``wrap`` around ``app``'s whole middleware stack, outside even the OpenTelemetry
    server span (``instrument_app``; call this after :func:`create_app`). For a service's fast
    path that answers one hot, well-formed request itself and hands every other one to the
    stack unchanged (issue 16: the customs availability check). Inside ``Starlette.__call__``,
    so ``scope["app"]`` is set; the same technique as the instrumentation's own wrapping."""
    build = app.build_middleware_stack

    def build_wrapped() -> ASGIApp:
        return wrap(build())

    app.build_middleware_stack = build_wrapped  # type: ignore[method-assign]


def create_app(
    *,
    settings: ServiceSettings,
    schema: str,
    title: str,
    description: str = "",
    routers: list[Any] = (),  # type: ignore[assignment]
    consumers: ConsumerFactory | None = None,
    on_startup: list[Hook] = (),  # type: ignore[assignment]
    on_shutdown: list[Hook] = (),  # type: ignore[assignment]
    on_set_aside: SetAsideHook | None = None,
) -> FastAPI:
    configure_logging(settings.service_name, settings.log_level)
    configure_tracing(
        settings.service_name, settings.otel_exporter, settings.otel_endpoint, settings.otel_db_span_ratio
    )
    runtime = Runtime(settings=settings, schema=schema)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.pool = await create_pool(
            settings.pg_dsn, min_size=settings.pg_pool_min, max_size=settings.pg_pool_max
        )
        runtime.auth = ApiKeyAuthenticator(runtime.pool)
        runtime.sessions = SessionStore(runtime.pool)
        if settings.run_outbox_relay:
            runtime.relay = OutboxRelay(
                dsn=settings.pg_dsn,
                bootstrap=settings.kafka_bootstrap,
                schema=schema,
                on_set_aside=on_set_aside,
            )
            runtime.tasks.append(asyncio.create_task(runtime.relay.run(), name="outbox-relay"))
        metrics.add_sampler("outbox", metrics.outbox_sampler(runtime.pool, schema, runtime.relay))
        for hook in on_startup:
            await hook(runtime)
        if consumers is not None:
            runtime.consumers = consumers(runtime)
            for c in runtime.consumers:
                runtime.tasks.append(asyncio.create_task(c.run(), name=f"consumer-{c.name}"))
        log.info("service_started", schema=schema, port=settings.http_port)
        try:
            yield
        finally:
            for c in runtime.consumers:
                c.stop()
            if runtime.relay:
                runtime.relay.stop()
            for hook in on_shutdown:
                with contextlib.suppress(Exception):
                    await hook(runtime)
            for t in runtime.tasks:
                t.cancel()
            await asyncio.gather(*runtime.tasks, return_exceptions=True)
            await runtime.pool.close()

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan,
        dependencies=[Depends(guard_request)],
        generate_unique_id_function=operation_id,
    )
    # The project's conventions (our error body, security, Location): ail_shared.openapi.
    app.openapi = lambda: describe(app, auth=(get_tenant, get_caller))  # type: ignore[method-assign]
    app.state.runtime = runtime
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)
    # Outermost, so BodyLimit's 413s are counted too; /metrics on the service port only, which
    # nginx does not route (see ail_shared.metrics).
    metrics.instrument(app)

    # The request line (a plain ASGI middleware: ``@app.middleware("http")`` ran every request
    # through a task group and memory streams of its own, a large share of a small read's CPU;
    # issue 16, the availability check).
    app.add_middleware(RequestLog)

    @app.exception_handler(AilError)
    async def ail_error(_: Request, exc: AilError) -> JSONResponse:
        details = exc.problems if isinstance(exc, InvalidInput) else []
        return JSONResponse(error_body(exc.code, exc.message, details), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        details = [FieldProblem(_loc_to_path(tuple(e["loc"])), e["msg"]) for e in exc.errors()]
        return JSONResponse(
            error_body("invalid_input", f"{len(details)} field(s) invalid", details),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = PayloadTooLarge.code if exc.status_code == 413 else "http_error"
        return JSONResponse(
            error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    async def health() -> dict[str, Any]:
        assert runtime.pool is not None
        try:
            await asyncio.wait_for(runtime.pool.fetchval("SELECT 1"), 2.0)
            database: dict[str, Any] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - reported, not raised: see /healthz
            database = {"ok": False, "error": repr(exc)}
        waiting = [c.waiting_since for c in runtime.consumers if c.waiting_since is not None]
        if waiting:
            database["waiting_for_database_since"] = min(waiting).isoformat()
        return {
            "status": "ok" if database["ok"] and not waiting else "waiting_for_database",
            "service": settings.service_name,
            "database": database,
            "relay_published": runtime.relay.published if runtime.relay else None,
            "relay_set_aside": runtime.relay.set_aside if runtime.relay else None,
            "consumers": _consumer_health(runtime.consumers),
        }

    # Liveness: 200 while the process runs, even during a database outage (restarting the
    # service would not bring PostgreSQL back, and the consumers hold their position); the body
    # says what it is waiting for. Readiness (/readyz) is 503 until the database answers.
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, Any]:
        return await health()

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        body = await health()
        return JSONResponse(body, status_code=200 if body["database"]["ok"] else 503)

    for router in routers:
        app.include_router(router)
    instrument_app(app)
    return app


def _consumer_health(consumers: list[EventConsumer]) -> dict[str, dict[str, Any]]:
    """One entry per consumer group: the members of a group (same name) added up; the group
    waits for the database since its earliest waiting member."""
    out: dict[str, dict[str, Any]] = {}
    for c in consumers:
        e = out.setdefault(
            c.name,
            {
                "members": 0,
                "ready": True,
                "applied": 0,
                "duplicates": 0,
                "dead_letters": 0,
                "waiting_for_database_since": None,
                "last_error": None,
            },
        )
        e["members"] += 1
        e["ready"] = e["ready"] and c.ready.is_set()
        e["applied"] += c.stats.applied
        e["duplicates"] += c.stats.duplicates
        e["dead_letters"] += len(c.stats.dead_letters)
        if c.waiting_since is not None:
            since = c.waiting_since.isoformat()
            if e["waiting_for_database_since"] is None or since < e["waiting_for_database_since"]:
                e["waiting_for_database_since"] = since
            e["last_error"] = c.last_error
    return out


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


async def runtime_dependency(request: Request) -> Runtime:
    """``get_runtime`` as a dependency. Every dependency is ``async``: FastAPI runs a plain
    ``def`` one in a worker thread, a hand-off and back on every request (issue 16: the drafts'
    and the statistics' profiles showed it; tests/unit/test_async_dependencies.py keeps it so)."""
    return get_runtime(request)


async def get_pool(request: Request) -> asyncpg.Pool:
    return get_runtime(request).db()


@dataclass(frozen=True)
class Caller:
    """Who is asking, before any look-up: the credentials of one request. :meth:`tenant` is what
    :func:`get_tenant` returns; :meth:`tenant_and` authenticates and reads one value of the
    route in a single statement (issue 16: a hot read such as the availability check pays one
    round trip, not two). Routes take it as :data:`CurrentCaller`."""

    request: Request
    raw_key: str | None
    named_enterprise: str | None

    @property
    def _cookie(self) -> str | None:
        # A key wins over a cookie, so a machine client is never subject to the browser's CSRF rule.
        return None if self.raw_key else self.request.cookies.get(SESSION_COOKIE)

    async def tenant(self) -> Tenant:
        runtime = get_runtime(self.request)
        cookie = self._cookie
        if cookie:
            assert runtime.sessions is not None
            return await runtime.sessions.tenant(
                cookie,
                method=self.request.method,
                csrf_token=self.request.headers.get(CSRF_HEADER),
                named_enterprise=self.named_enterprise,
            )
        assert runtime.auth is not None
        return await runtime.auth.tenant(self.raw_key, self.named_enterprise)

    async def tenant_and(self, item_sql: str, *args: Any) -> tuple[Tenant, Mapping[str, Any] | None]:
        """The tenant and the row ``item_sql`` reads (``ApiKeyAuthenticator.tenant_and``:
        parameters from ``$2``, NOT filtered on the tenant: check it against the tenant), or
        None when it reads none. An API key: one statement. A session cookie: its own look-up,
        then the read."""
        runtime = get_runtime(self.request)
        if self._cookie:
            tenant = await self.tenant()
            row = await runtime.db().fetchrow(
                f"SELECT item.* FROM (SELECT $1::text) AS unused, LATERAL ({item_sql}) AS item", "", *args
            )
            return tenant, row
        assert runtime.auth is not None
        tenant, joined = await runtime.auth.tenant_and(self.raw_key, self.named_enterprise, item_sql, *args)
        return tenant, joined if any(
            v is not None for k, v in joined.items() if not k.startswith("auth_")
        ) else None


async def get_caller(
    request: Request,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_api_key: Annotated[str | None, Header(include_in_schema=False)] = None,
    x_enterprise_code: Annotated[
        str | None,
        Header(description="Agencies: the enterprise this request acts for (13-digit code)"),
    ] = None,
) -> Caller:
    """An API key (``Authorization: Bearer`` or ``X-API-Key``) or, when none is sent, the
    operator's session cookie (``ail_shared.sessions``): the same tenant scoping either way.
    ``async`` although it awaits nothing: FastAPI runs a plain ``def`` dependency in a worker
    thread, which cost the availability check more than its query (issue 16)."""
    return Caller(request, api_key_of(authorization, x_api_key), x_enterprise_code)


def api_key_of(authorization: str | None, x_api_key: str | None) -> str | None:
    """The API key a request presents: ``Authorization: Bearer <key>`` wins over ``X-API-Key``."""
    raw = x_api_key
    if authorization and authorization.lower().startswith("bearer "):
        raw = authorization[7:]
    return raw or None


async def get_tenant(caller: Annotated[Caller, Depends(get_caller)]) -> Tenant:
    """The caller's tenant (``get_caller``: an API key or the operator's session cookie, the same
    scoping either way). A key wins over a cookie, so a machine client is never subject to the
    browser's CSRF rule."""
    return await caller.tenant()


Pool = Annotated[asyncpg.Pool, Depends(get_pool)]
CurrentTenant = Annotated[Tenant, Depends(get_tenant)]
CurrentCaller = Annotated[Caller, Depends(get_caller)]
RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]


# How long an idle keep-alive connection stays open. It must outlast the entry point's (nginx
# keeps idle upstream connections UPSTREAM_KEEPALIVE_SECONDS, scripts/devstack/nginx.py; the
# ingress controller 60 s): the proxy then always closes first. With uvicorn's default (5 s) a
# request nginx sent on a connection uvicorn was closing got "connection reset by peer", a 502
# that nginx does not retry for a POST (seen in CI, session 8: POST /api/v1/applications).
KEEP_ALIVE_SECONDS = 75


def serve(app_factory: Callable[[], FastAPI], settings: ServiceSettings) -> None:
    """Run a service under uvicorn on its configured port."""
    uvicorn.run(
        app_factory(),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=10,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
