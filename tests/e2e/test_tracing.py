"""Issue 14, items 4 and 5, through the entry point on the real stack: one submission is one
trace (application, signer, submission, the MOFCOM call, status, the webhook delivery with its
traceparent, customs), found in the local trace store and printed by ``./dev trace``; and
every line the services write to their logs is JSON."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.status.support import Receiver
from tests.integration.submission.support import create_draft, wait_status
from tests.support import dev, eventually

# Serial: it follows every webhook delivery of one application and every line of every log. In the
# parallel phase one delivery of the application once carried another trace id (seen once, not
# explained yet: docs/architecture.md, tracing), so it runs alone until that is understood.
pytestmark = pytest.mark.serial

SERVICES = ("application", "signer", "submission", "status", "customs")


def _spans(path: Path, trace_id: str) -> list[dict[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if f'"trace_id": "{trace_id}"' in line]


async def test_one_submission_is_one_trace_across_every_service(
    stack: dict[str, str], enterprise_a: httpx.AsyncClient
) -> None:
    trace_id = os.urandom(16).hex()
    traceparent = {"traceparent": f"00-{trace_id}-{os.urandom(8).hex()}-01"}
    receiver = await Receiver().start()
    app_id = await create_draft(enterprise_a)
    subscription = None
    try:
        # Every application of the enterprise (one is followed by id only once submitted).
        r = await enterprise_a.post(
            "/api/v1/subscriptions", json={"url": receiver.url, "all_applications": True}
        )
        assert r.status_code == 201, r.text
        subscription = r.json()["id"]
        submitted = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit", headers=traceparent)
        assert submitted.status_code == 202, submitted.text
        app = await wait_status(enterprise_a, app_id, "license_issued", timeout=120)

        async def at_customs() -> bool:
            got = await enterprise_a.get(f"/api/v1/licenses/{app['license_no']}")
            return got.status_code == 200 and got.json().get("customs_status") == "stored"

        await eventually(at_customs, timeout=60, what="the license stored at Customs")

        # Every webhook delivery of this application carries the submission's trace.
        async def delivered() -> list[str] | None:
            mine = [x for x in receiver.accepted() if app_id in x.body.decode()]
            parents = [x.headers.get("traceparent", "") for x in mine]
            types = {json.loads(x.body).get("type") for x in mine}
            return parents if "application.license_issued" in types else None

        parents = await eventually(delivered, timeout=60, what="the license's webhook delivery")
        assert parents and all(trace_id in p for p in parents), parents

        store = Path(stack["AIL_TRACE_FILE"])

        def services_of(spans: list[dict[str, Any]]) -> set[str]:
            return {s["service"] for s in spans}

        async def complete() -> list[dict[str, Any]] | None:
            spans = _spans(store, trace_id)
            names = {(s["service"], s["name"]) for s in spans}
            webhook = any(s == "status" and n == "deliver webhook" for s, n in names)
            customs = any(s == "customs" and n == "deliver to Customs" for s, n in names)
            # Each service exports on its own schedule (every second): a consumer span may be in
            # the store before the span it continues (seen: "MOFCOM review result" a moment after
            # the consumers of its events). Wait for the tree to be whole, then check it below.
            ids = {s["span_id"] for s in spans} | {traceparent["traceparent"].split("-")[2]}
            whole = all(s["parent_span_id"] in ids for s in spans)
            return spans if set(SERVICES) <= services_of(spans) and webhook and customs and whole else None

        spans = await eventually(
            complete, timeout=30, interval=0.5, what=f"trace {trace_id} in every service"
        )
        by_id = {s["span_id"]: s for s in spans}
        # The MOFCOM call: an HTTP client span of the submission service, under "send to MOFCOM".
        sends = [s for s in spans if s["service"] == "submission" and s["name"] == "send to MOFCOM"]
        assert sends, "no MOFCOM send in the trace"
        mofcom_calls = [
            s
            for s in spans
            if s["kind"] == "client"
            and s["service"] == "submission"
            and s["parent_span_id"] in {x["span_id"] for x in sends}
            and "http" in json.dumps(s["attributes"])
        ]
        assert mofcom_calls, "the MOFCOM call is not in the trace"
        # The webhook POST is a client span under the delivery span.
        deliveries = {s["span_id"] for s in spans if s["name"] == "deliver webhook"}
        assert any(s["kind"] == "client" and s["parent_span_id"] in deliveries for s in spans)
        # Events continue the trace through Kafka: consumer spans in the consuming services.
        consumers = {s["service"] for s in spans if s["kind"] == "consumer"}
        assert {"signer", "submission", "status", "customs"} <= consumers, consumers
        # One tree: every span's parent is in the trace, but the root (the test's own parent).
        roots = [s for s in spans if s["parent_span_id"] not in by_id]
        assert {s["parent_span_id"] for s in roots} == {traceparent["traceparent"].split("-")[2]}, roots

        printed = dev("trace", trace_id, timeout=60)
        for service in SERVICES:
            assert f"{service}: " in printed, printed
        assert "send to MOFCOM" in printed and "deliver webhook" in printed
    finally:
        if subscription is not None:
            await enterprise_a.delete(f"/api/v1/subscriptions/{subscription}")
        await receiver.stop()


def test_every_service_log_line_is_json(stack: dict[str, str]) -> None:
    """Since each service's latest start (the ``=====`` line is ./dev's, between runs)."""
    logs = Path(stack["AIL_DEVSTACK_DIR"]) / "logs"
    for name in (*SERVICES, "stats", "sandbox-mofcom", "tracestore"):
        text = (logs / f"{name}.log").read_text(encoding="utf-8", errors="replace")
        # The service writes while this reads (other tests run beside it): a last line without
        # its newline is still being written, not a broken one.
        lines = text[: text.rfind("\n") + 1].splitlines()
        starts = [i for i, line in enumerate(lines) if line.startswith("===== ")]
        current = [line for line in lines[(starts[-1] + 1 if starts else 0) :] if line.strip()]
        assert current, f"{name}: nothing logged"
        for line in current:
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{name}.log has a line that is not JSON: {line[:300]!r}") from None
            assert isinstance(record, dict) and "event" in record and "level" in record, (name, line)
