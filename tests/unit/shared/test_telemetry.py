"""Issue 14, item 4: the ``otlp`` exporter setting really sends spans (OTLP/HTTP protobuf) to a
receiver, and the local trace store keeps and prints them; background polls start no trace;
parked work continues the trace it was queued in. Item 5: library (stdlib) log lines are JSON
with the trace and span ids, and httpx's per-request lines are DEBUG."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from ail_sandbox.tracestore import spans_of
from ail_sandbox.tracetree import read_trace, render_tree
from ail_shared import logging as ail_logging
from ail_shared import telemetry


class _Receiver(BaseHTTPRequestHandler):
    bodies: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, str, bytes]]]]:
    _Receiver.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1/traces", _Receiver.bodies
    finally:
        server.shutdown()
        server.server_close()


def test_otlp_setting_sends_spans_to_a_receiver(receiver: tuple[str, list[tuple[str, str, bytes]]]) -> None:
    endpoint, bodies = receiver
    provider = telemetry.build_provider("submission", "otlp", endpoint)
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("send to MOFCOM") as parent:
        with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
            pass
    assert provider.force_flush(10_000)
    provider.shutdown()

    assert bodies, "no OTLP export arrived"
    path, content_type, body = bodies[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    req = ExportTraceServiceRequest()
    req.ParseFromString(body)
    spans = spans_of(req)
    trace_id = format(parent.get_span_context().trace_id, "032x")
    assert {s["name"] for s in spans} == {"send to MOFCOM", "POST"}
    assert {s["service"] for s in spans} == {"submission"}
    assert {s["trace_id"] for s in spans} == {trace_id}
    child = next(s for s in spans if s["name"] == "POST")
    assert child["parent_span_id"] == format(parent.get_span_context().span_id, "016x")
    assert child["kind"] == "client"


def test_the_trace_store_file_prints_as_a_tree(tmp_path: Path) -> None:
    memory = InMemorySpanExporter()
    provider = telemetry.build_provider("status")
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("ail.application process", kind=SpanKind.CONSUMER) as root:
        with tracer.start_as_current_span("deliver webhook"):
            pass
    trace_id = format(root.get_span_context().trace_id, "032x")
    lines = [
        {
            "trace_id": format(s.context.trace_id, "032x"),
            "span_id": format(s.context.span_id, "016x"),
            "parent_span_id": format(s.parent.span_id, "016x") if s.parent else None,
            "name": s.name,
            "kind": s.kind.name.lower(),
            "service": "status",
            "start_ns": s.start_time,
            "end_ns": s.end_time,
            "status": "unset",
        }
        for s in memory.get_finished_spans()
    ]
    store = tmp_path / "traces.jsonl"
    store.write_text("".join(json.dumps(x) + "\n" for x in lines))
    spans = read_trace(store, trace_id)
    assert len(spans) == 2
    tree = render_tree(spans).splitlines()
    assert tree[0].startswith("status: ail.application process [consumer]")
    assert tree[1].startswith("  status: deliver webhook [internal]")
    assert read_trace(store, "0" * 32) == []


def test_background_polls_start_no_trace_but_requests_and_events_do() -> None:
    memory = InMemorySpanExporter()
    provider = telemetry.build_provider("customs")
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
        pass  # a worker's poll query
    with tracer.start_as_current_span("GET /api/v1/licenses", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT):
            pass
    names = [(s.name, s.kind) for s in memory.get_finished_spans()]
    assert names == [("SELECT", SpanKind.CLIENT), ("GET /api/v1/licenses", SpanKind.SERVER)]


def test_statement_spans_are_dropped_or_sampled_but_every_root_span_stays() -> None:
    """Issue 16, fix 3: the per-statement PostgreSQL spans follow ``db_span_ratio`` (by trace,
    all or none); the request's and the event's spans, and an HTTP call's, are always kept."""
    pg = {"db.system": "postgresql", "db.statement": "SELECT 1"}

    def run(ratio: float, traces: int) -> list[tuple[str, SpanKind]]:
        memory = InMemorySpanExporter()
        provider = telemetry.build_provider("customs", db_span_ratio=ratio)
        provider.add_span_processor(SimpleSpanProcessor(memory))
        tracer = provider.get_tracer("test")
        for _ in range(traces):
            with tracer.start_as_current_span("GET /api/v1/licenses", kind=SpanKind.SERVER):
                for _ in range(3):
                    with tracer.start_as_current_span("SELECT", kind=SpanKind.CLIENT, attributes=pg):
                        pass
                with tracer.start_as_current_span("POST", kind=SpanKind.CLIENT):
                    pass
            with tracer.start_as_current_span("ail.application process", kind=SpanKind.CONSUMER):
                pass
        return [(s.name, s.kind) for s in memory.get_finished_spans()]

    light = run(0.0, 5)
    assert ("SELECT", SpanKind.CLIENT) not in light
    assert light.count(("GET /api/v1/licenses", SpanKind.SERVER)) == 5
    assert light.count(("ail.application process", SpanKind.CONSUMER)) == 5
    assert light.count(("POST", SpanKind.CLIENT)) == 5
    every = run(1.0, 5)
    assert every.count(("SELECT", SpanKind.CLIENT)) == 15
    some = run(0.5, 200).count(("SELECT", SpanKind.CLIENT))
    assert some % 3 == 0 and 0 < some < 600  # whole traces' statements, not every trace's


def test_parked_work_continues_the_trace_it_was_queued_in(monkeypatch: pytest.MonkeyPatch) -> None:
    memory = InMemorySpanExporter()
    provider = telemetry.build_provider("status")
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("test")
    # continue_trace takes its tracer from the global provider, which OpenTelemetry lets a process
    # set only once (another test of the same worker may have): this test's provider stands in.
    monkeypatch.setattr(telemetry, "tracer", provider.get_tracer)
    with tracer.start_as_current_span("consume"):
        stored = telemetry.stored_trace_context()
    assert telemetry.trace_id_of(stored)
    # Later, in the worker's task, with another span current (e.g. a callback's server span):
    with tracer.start_as_current_span("POST /internal/mofcom/results", kind=SpanKind.SERVER) as server:
        with telemetry.continue_trace(stored, "deliver webhook") as span:
            ctx = span.get_span_context()
    assert format(ctx.trace_id, "032x") == telemetry.trace_id_of(stored)
    delivered = next(s for s in memory.get_finished_spans() if s.name == "deliver webhook")
    assert [link.context.span_id for link in delivered.links] == [server.get_span_context().span_id]
    # Nothing stored (a row from before): a child of the current span, not a new trace.
    with tracer.start_as_current_span("request") as outer:
        with telemetry.continue_trace({}, "work") as span:
            assert span.get_span_context().trace_id == outer.get_span_context().trace_id


def test_library_log_lines_are_json_with_trace_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    ail_logging.configure_logging("customs", "INFO")
    provider = telemetry.build_provider("customs")
    try:
        with provider.get_tracer("t").start_as_current_span("request", kind=SpanKind.SERVER) as span:
            logging.getLogger("uvicorn.error").info("Application startup complete.")
            logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1/feed "HTTP/1.1 200 OK"')
            logging.getLogger("faust.app").warning("rebalancing")
            try:
                raise RuntimeError("boom")
            except RuntimeError:
                logging.getLogger("aiokafka").exception("fetch failed")
        ail_logging.configure_logging("customs", "DEBUG")
        logging.getLogger("httpx").info('HTTP Request: GET http://127.0.0.1/feed "HTTP/1.1 200 OK"')
    finally:
        ail_logging.configure_logging("test", "INFO")
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    trace_id = format(span.get_span_context().trace_id, "032x")
    by_logger = [(x["logger"], x["level"]) for x in lines]
    # httpx's request line: not at INFO; at DEBUG, as a debug line.
    assert by_logger == [
        ("uvicorn.error", "info"),
        ("faust.app", "warning"),
        ("aiokafka", "error"),
        ("httpx", "debug"),
    ]
    assert all(x["service"] == "customs" for x in lines)
    assert all(x["trace_id"] == trace_id and len(x["span_id"]) == 16 for x in lines[:3])
    assert "RuntimeError: boom" in lines[2]["exception"]


class _Log:
    def __init__(self) -> None:
        self.lines: list[tuple[str, str, dict[str, object]]] = []

    def debug(self, event: str, **kw: object) -> None:
        self.lines.append(("debug", event, kw))

    def warning(self, event: str, **kw: object) -> None:
        self.lines.append(("warning", event, kw))


class _Conn:
    def __init__(self, new: bool) -> None:
        self.new = new

    async def fetchval(self, *args: object) -> int | None:
        return 1 if self.new else None  # the inbox claim


async def test_a_consumer_logs_each_applied_event_at_debug(monkeypatch: pytest.MonkeyPatch) -> None:
    import uuid
    from dataclasses import dataclass

    from ail_shared import consumer as consumer_module
    from ail_shared.events import ApplicationSubmitted, envelope_for

    fake = _Log()
    monkeypatch.setattr(consumer_module, "log", fake)
    event = ApplicationSubmitted(
        application_id=str(uuid.uuid4()),
        serial_no="NA26000000000001",
        enterprise_code="1100776367555",
        submission_id=str(uuid.uuid4()),
        snapshot={},
    )
    env = envelope_for(event, aggregate_id=event.application_id, tenant=event.enterprise_code)
    applied: list[object] = []

    async def handler(conn: object, env: object, ev: object) -> None:
        applied.append(ev)

    @dataclass
    class Rec:
        topic: str = "ail.application"
        partition: int = 2
        offset: int = 41
        key: bytes | None = None
        value: bytes | None = None
        headers: object = ()

    c = consumer_module.EventConsumer(
        name="status.lifecycle",
        topics=["ail.application"],
        handlers={ApplicationSubmitted: handler},
        pool=None,  # type: ignore[arg-type]
        schema="status",
        bootstrap="",
    )
    assert await c._apply_in(_Conn(new=True), env, event, Rec()) == "applied"  # type: ignore[arg-type]
    assert await c._apply_in(_Conn(new=False), env, event, Rec()) == "duplicate"  # type: ignore[arg-type]
    assert [(level, name) for level, name, _ in fake.lines] == [
        ("debug", "event_applied"),
        ("debug", "event_duplicate"),
    ]
    where = fake.lines[0][2]
    assert (
        where["event_id"] == str(env.event_id)
        and where["offset"] == 41
        and where["topic"] == "ail.application"
    )
    assert applied == [event]
