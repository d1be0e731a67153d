"""OpenTelemetry set-up and W3C trace-context propagation through HTTP, the outbox and Kafka.

The trace context travels in the envelope (``trace_context``) *and* as Kafka headers, so a
consumer continues the producer's trace: HTTP -> outbox -> Kafka -> consumer -> HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
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

_configured = False


def configure_tracing(service: str, exporter: str = "none", endpoint: str = "") -> None:
    """Install a tracer provider once per process. ``exporter`` is none, console or otlp."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter == "otlp":  # pragma: no cover - needs a collector; package is optional
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore
            OTLPSpanExporter,
        )

        span_exporter: SpanExporter = OTLPSpanExporter(endpoint=endpoint or None)
        provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def current_trace_context() -> dict[str, str]:
    """The current context as W3C headers (``traceparent``, ``tracestate``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def context_from_kafka_headers(headers: Sequence[tuple[str, bytes]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        if key in ("traceparent", "tracestate") and value is not None:
            out[key] = value.decode(errors="replace")
    return out


@contextmanager
def continue_trace(carrier: dict[str, str], span_name: str, **attributes: Any) -> Iterator[Any]:
    """Start a span whose parent is the context in ``carrier`` (if any)."""
    ctx = propagate.extract(carrier)
    token = otel_context.attach(ctx)
    try:
        with tracer("ail").start_as_current_span(span_name, attributes=attributes) as span:
            yield span
    finally:
        otel_context.detach(token)
