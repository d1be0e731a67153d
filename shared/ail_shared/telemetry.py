"""OpenTelemetry set-up and W3C trace-context propagation through HTTP, the outbox, Kafka and
parked work, so that one submission is one trace (issue 14, item 4).

How a trace travels:

* HTTP in: ``opentelemetry-instrumentation-fastapi`` (``instrument_app``) opens the server span
  from the caller's ``traceparent``. HTTP out: ``opentelemetry-instrumentation-httpx`` puts the
  current ``traceparent`` on every request (MOFCOM, Customs, webhook deliveries). PostgreSQL:
  ``opentelemetry-instrumentation-asyncpg`` spans each statement, only in the share of traces
  the setting ``otel_db_span_ratio`` keeps (default 0: none, the instrumentation not installed;
  issue 16, fix 3).
* Kafka: ``outbox.write_events`` stores the context of the transaction that writes an event in
  the envelope (``trace_context``) and in the row's headers; the relay sends those headers with
  the record; ``consumer.EventConsumer`` continues it (``continue_trace``, a CONSUMER span).
  Our own propagation, not an aiokafka instrumentation: the relay publishes long after (and in
  another task than) the transaction that wrote the event, so only the stored context is right.
* Parked work (a submission waiting to be sent to MOFCOM, a license waiting for Customs, a
  webhook delivery): the row stores ``stored_trace_context()`` when it is written, and the
  worker that takes it up later continues it (``continue_trace``).

Spans that start a trace of their own from a background poll (a database query or an HTTP call
with no parent: the relay's and workers' polls, the customs feed) are not sampled
(``_ROOT_SAMPLER``): they would bury the traces that matter.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.util.types import Attributes

_configured = False
# Paths whose server spans are not recorded: probes and scrapes, many a minute.
EXCLUDED_URLS = "/healthz,/readyz,/metrics"
# How often the batch processor sends (ms): short, so a trace is complete in the store a moment
# after the request (the SDK's default is 5 s).
EXPORT_DELAY_MS = 1000


class _NoBackgroundRoots(Sampler):
    """Root spans: drop CLIENT spans (a query or an outbound call with no parent is a poll of a
    background loop), keep the rest (an incoming request, a consumed event, a worker's item)."""

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        if kind == SpanKind.CLIENT:
            return SamplingResult(Decision.DROP)
        return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)

    def get_description(self) -> str:
        return "NoBackgroundRoots"


_ROOT_SAMPLER = _NoBackgroundRoots()


class _LightStatements(Sampler):
    """Every request's, event's and worker item's span as ``ParentBased(_NoBackgroundRoots)``
    decides; the per-statement PostgreSQL spans (asyncpg) only in ``ratio`` of the traces (by
    trace id, so a trace has all its statements or none). Issue 16, fix 3: encoding and exporting
    one span per statement was ~9% of every service's CPU; the root spans stay."""

    def __init__(self, ratio: float) -> None:
        self.ratio = min(1.0, max(0.0, ratio))
        self.spans = ParentBased(root=_ROOT_SAMPLER)
        self.statements = TraceIdRatioBased(self.ratio)

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decided = self.spans.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )
        if (
            kind == SpanKind.CLIENT
            and attributes
            and attributes.get("db.system", attributes.get("db.system.name")) == "postgresql"
            and decided.decision == Decision.RECORD_AND_SAMPLE
            and self.ratio < 1.0
        ):
            kept = self.statements.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )
            if kept.decision != Decision.RECORD_AND_SAMPLE:
                return SamplingResult(Decision.DROP)
        return decided

    def get_description(self) -> str:
        return f"LightStatements({self.ratio})"


def build_provider(
    service: str, exporter: str = "none", endpoint: str = "", db_span_ratio: float = 1.0
) -> TracerProvider:
    """The tracer provider for ``service``: ``exporter`` is none, console or otlp (OTLP over
    HTTP/protobuf to ``endpoint``, e.g. ``http://collector:4318/v1/traces``); ``db_span_ratio``
    the share of traces that keep their per-statement PostgreSQL spans."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": service}), sampler=_LightStatements(db_span_ratio)
    )
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        span_exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint or None, timeout=5)
        provider.add_span_processor(BatchSpanProcessor(span_exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    return provider


def configure_tracing(
    service: str, exporter: str = "none", endpoint: str = "", db_span_ratio: float = 1.0
) -> None:
    """Install the tracer provider and the httpx instrumentation, once per process, and the
    asyncpg one unless ``db_span_ratio`` is 0 (then no statement is wrapped at all: the
    instrumentation's own cost per statement, attributes and context, is gone too)."""
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(build_provider(service, exporter, endpoint, db_span_ratio))
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument()
    if db_span_ratio > 0:
        from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

        AsyncPGInstrumentor().instrument()  # type: ignore[no-untyped-call]
    _configured = True


def instrument_app(app: Any) -> None:
    """Server spans for a FastAPI app, from the caller's ``traceparent``."""
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls=EXCLUDED_URLS, exclude_spans=["receive", "send"])


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_context() -> dict[str, str]:
    """The current context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def stored_trace_context() -> dict[str, str]:
    """What a row of parked work stores so that the worker taking it up continues this trace
    (``{}`` outside any trace)."""
    return current_trace_context()


def trace_id_of(carrier: Mapping[str, str] | None) -> str | None:
    """The 32-hex trace id in a W3C carrier, or None."""
    parts = (carrier or {}).get("traceparent", "").split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def context_from_kafka_headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        if key in ("traceparent", "tracestate") and value is not None:
            out[key] = value.decode(errors="replace")
    return out


@contextmanager
def continue_trace(
    carrier: Mapping[str, str] | None,
    span_name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, Any] | None = None,
    **more: Any,
) -> Iterator[Any]:
    """Start a span whose parent is the context in ``carrier``; with an empty carrier (work
    queued outside any trace, or before traces were stored), a child of the current span. The
    span that was current (e.g. the server span of a callback MOFCOM sent) is kept as a link."""
    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid and carrier else None
    ctx = propagate.extract(dict(carrier)) if carrier else otel_context.get_current()
    token = otel_context.attach(ctx)
    try:
        attrs = {k: v for k, v in {**(attributes or {}), **more}.items() if v is not None}
        with tracer("ail").start_as_current_span(span_name, kind=kind, attributes=attrs, links=links) as span:
            yield span
    finally:
        otel_context.detach(token)
