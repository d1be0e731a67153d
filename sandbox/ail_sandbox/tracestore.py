"""The local trace store: an OTLP/HTTP receiver that keeps spans in a file, a stand-in for the
OpenTelemetry Collector + Jaeger of a deployment (deploy/k8s/30-config.yaml sends to
``otel-collector.observability:4318``). ``./dev up`` starts it; ``./dev trace TRACE_ID`` prints
a trace as a tree; ``GET /traces/{trace_id}`` gives its spans as JSON.

Why our own and not Jaeger or a collector: neither installs from a registry here in reasonable
time. Jaeger's all-in-one from the Go module proxy builds without its UI (the UI is a separate
JavaScript build, embedded from a git submodule the module zip does not carry) and takes many
minutes and hundreds of modules to compile; the collector needs its builder (ocb) plus a similar
build. The services' exporter is the same either way (OTLP over HTTP/protobuf), so pointing
``AIL_OTEL_ENDPOINT`` at a real collector needs no code change.

Run: ``python -m ail_sandbox.tracestore`` (port ``AIL_HTTP_PORT``; file ``AIL_TRACE_FILE``, default
``$AIL_DEVSTACK_DIR/traces.jsonl``). One JSON object a line per span: trace_id, span_id,
parent_span_id, name, kind, service, start/end (unix ns), status, attributes.

* ``POST /v1/traces``: OTLP ExportTraceServiceRequest (``application/x-protobuf``, gzip or not).
* ``GET /traces/{trace_id}``: the spans of one trace, ordered by start.
* ``GET /healthz``.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, HTTPException, Request, Response
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from ail_sandbox.tracetree import read_trace
from ail_shared import metrics
from ail_shared.logging import configure_logging, get_logger

log = get_logger("ail.tracestore")
MAX_BODY_BYTES = 16 * 1024 * 1024
_KINDS = {0: "unspecified", 1: "internal", 2: "server", 3: "client", 4: "producer", 5: "consumer"}


def trace_file() -> Path:
    explicit = os.environ.get("AIL_TRACE_FILE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("AIL_DEVSTACK_DIR", ".")) / "traces.jsonl"


def _value(v: dict[str, Any]) -> Any:
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in v:
            return v[key]
    if "intValue" in v:
        return int(v["intValue"])
    if "arrayValue" in v:
        return [_value(x) for x in v["arrayValue"].get("values", [])]
    return None


def _attrs(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {a["key"]: _value(a.get("value", {})) for a in items}


def spans_of(request: ExportTraceServiceRequest) -> list[dict[str, Any]]:
    """One flat dict per span of an OTLP export request (ids as lowercase hex)."""
    out: list[dict[str, Any]] = []
    for rs in request.resource_spans:
        resource = _attrs(MessageToDict(rs.resource).get("attributes", []))
        service = str(resource.get("service.name", "?"))
        for ss in rs.scope_spans:
            for sp in ss.spans:
                d = MessageToDict(sp)
                out.append(
                    {
                        "trace_id": sp.trace_id.hex(),
                        "span_id": sp.span_id.hex(),
                        "parent_span_id": sp.parent_span_id.hex() or None,
                        "name": sp.name,
                        "kind": _KINDS.get(sp.kind, str(sp.kind)),
                        "service": service,
                        "scope": ss.scope.name,
                        "start_ns": sp.start_time_unix_nano,
                        "end_ns": sp.end_time_unix_nano,
                        "status": {0: "unset", 1: "ok", 2: "error"}.get(sp.status.code, "?"),
                        "attributes": _attrs(d.get("attributes", [])),
                        "links": [lk.trace_id.hex() + "/" + lk.span_id.hex() for lk in sp.links],
                    }
                )
    return out


def create_app(path: Path | None = None) -> FastAPI:
    store = path or trace_file()
    store.parent.mkdir(parents=True, exist_ok=True)
    app = FastAPI(title="AIL local trace store", version="1.0.0")

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "file": str(store)}

    @app.post("/v1/traces")
    async def export(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, "export larger than 16 MiB")
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        req = ExportTraceServiceRequest()
        try:
            req.ParseFromString(body)
        except Exception as exc:  # noqa: BLE001 - a bad export is the sender's problem: 400
            raise HTTPException(400, f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
        spans = spans_of(req)
        if spans:
            with store.open("a", encoding="utf-8") as fh:
                fh.write("".join(json.dumps(s, ensure_ascii=False) + "\n" for s in spans))
        return Response(ExportTraceServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    @app.get("/traces/{trace_id}")
    async def get_trace(trace_id: str) -> dict[str, Any]:
        spans = read_trace(store, trace_id)
        if not spans:
            raise HTTPException(404, f"no spans of trace {trace_id}")
        return {"trace_id": trace_id, "spans": spans}

    metrics.instrument(app)  # /metrics, like every process of the stack (Prometheus scrapes it)
    return app


def main() -> None:
    configure_logging("tracestore", os.environ.get("AIL_LOG_LEVEL", "INFO"))
    port = int(os.environ.get("AIL_HTTP_PORT", "18210"))
    uvicorn.run(
        create_app(),
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":
    main()
