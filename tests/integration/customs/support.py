"""Helpers for the customs tests: publish what the submission service would publish onto the
real ail.submission topic, drive the Customs sandbox, and read the customs API."""

from __future__ import annotations

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ail_shared import topics
from ail_shared.events import (
    ApplicationSummary,
    Envelope,
    LicenseIssued,
    ReviewResultReceived,
    SubmissionAccepted,
    envelope_for,
)
from tests.support import eventually

ENTERPRISE_A = "1100776367555"
ENTERPRISE_B = "3100123456789"


@dataclass
class IssuedLicense:
    application_id: str
    license_no: str
    serial_no: str
    form_no: str
    enterprise_code: str
    year: int
    applied_at: datetime


def new_license_no() -> str:
    return f"26AA{uuid.uuid4().hex[:8].upper()}"


async def publish(producer: Any, *envelopes: Envelope) -> None:
    for env in envelopes:
        await producer.send_and_wait(topics.SUBMISSION, value=env.to_bytes(), key=env.aggregate_id.encode())


async def approve(
    producer: Any,
    *,
    enterprise: str = ENTERPRISE_A,
    year: int = 2026,
    applied_at: datetime | None = None,
    license_no: str | None = None,
    commodity_code: str = "2601111000",
    quantity: Decimal = Decimal("1000"),
    one_batch: bool = False,
) -> IssuedLicense:
    """SubmissionAccepted + ReviewResultReceived(second, passed): an approved application."""
    app_id = str(uuid.uuid4())
    serial_no = f"NA{year % 100:02d}{random.randrange(10**14):014d}"
    form_no = f"{year % 100:02d}{enterprise}{random.randrange(10**6):06d}"
    license_no = license_no or new_license_no()
    applied_at = applied_at or datetime.now(UTC) - timedelta(days=3)
    accepted = SubmissionAccepted(
        application_id=app_id, submission_id="s-1", form_no=form_no, applied_at=applied_at
    )
    review = ReviewResultReceived(
        application_id=app_id,
        form_no=form_no,
        stage="second",
        result="passed",
        opinion="同意",
        license_no=license_no,
        reviewed_at=applied_at + timedelta(days=1),
        application=ApplicationSummary(
            enterprise_code=enterprise,
            serial_no=serial_no,
            year=year,
            commodity_code=commodity_code,
            commodity_name="非合金生铁",
            unit="千克",
            total_quantity=quantity,
            one_batch_one_license=one_batch,
        ),
    )
    await publish(
        producer,
        envelope_for(accepted, aggregate_id=app_id, tenant=enterprise, occurred_at=applied_at),
        envelope_for(review, aggregate_id=app_id, tenant=enterprise, occurred_at=review.reviewed_at),
    )
    return IssuedLicense(app_id, license_no, serial_no, form_no, enterprise, year, applied_at)


async def issue(
    producer: Any,
    app: IssuedLicense,
    *,
    quantity: Decimal = Decimal("1000"),
    one_batch: bool = False,
    commodity_code: str = "2601111000",
    valid_until: date | None = None,
    tolerance: Decimal | None = None,
    issued_at: datetime | None = None,
) -> LicenseIssued:
    issued_at = issued_at or app.applied_at + timedelta(days=2)
    event = LicenseIssued(
        application_id=app.application_id,
        enterprise_code=app.enterprise_code,
        form_no=app.form_no,
        license_no=app.license_no,
        issued_at=issued_at,
        valid_until=valid_until or (datetime.now(UTC) + timedelta(days=150)).date(),
        commodity_code=commodity_code,
        commodity_name="非合金生铁",
        unit="千克",
        quantity=quantity,
        one_batch_one_license=one_batch,
        overflow_tolerance_pct=tolerance,
    )
    await publish(producer, envelope_for(event, aggregate_id=app.application_id, tenant=app.enterprise_code))
    return event


async def licensed(
    producer: Any,
    sandbox: httpx.AsyncClient,
    *,
    mode: str = "stored",
    script: list[str] | None = None,
    enterprise: str = ENTERPRISE_A,
    **issue_args: Any,
) -> IssuedLicense:
    """An approved application and its license, with the sandbox's answer for it set first."""
    app = await approve(producer, enterprise=enterprise)
    await set_mode(sandbox, app.license_no, mode, script)
    await issue(producer, app, **issue_args)
    return app


async def set_mode(
    sandbox: httpx.AsyncClient, license_no: str, mode: str, script: list[str] | None = None
) -> None:
    r = await sandbox.put(f"/control/licenses/{license_no}", json={"mode": mode, "script": script or []})
    r.raise_for_status()


async def license_view(client: httpx.AsyncClient, license_no: str) -> dict[str, Any] | None:
    r = await client.get(f"/api/v1/licenses/{license_no}")
    return r.json() if r.status_code == 200 else None


async def wait_status(
    client: httpx.AsyncClient, license_no: str, status: str | None, timeout: float = 45
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = await license_view(client, license_no)
        return view if view is not None and view["customs_status"] == status else None

    return await eventually(check, timeout=timeout, what=f"license {license_no} customs status {status}")


async def wait_ledger(
    client: httpx.AsyncClient, license_no: str, entries: int, timeout: float = 30
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        view = await license_view(client, license_no)
        return view if view is not None and len(view["entries"]) >= entries else None

    return await eventually(check, timeout=timeout, what=f"{entries} ledger entries on {license_no}")


async def declare(
    sandbox: httpx.AsyncClient, license_no: str, *quantities: str, **extra: Any
) -> dict[str, Any]:
    body = {"license_no": license_no, "lines": [{"quantity": q} for q in quantities], **extra}
    r = await sandbox.post("/control/declarations", json=body)
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


async def events_of(
    bootstrap: str, topic: str, aggregate_id: str, *, since: datetime, timeout: float = 5.0
) -> list[dict[str, Any]]:
    """The committed envelopes of one aggregate on ``topic`` since ``since``: only its partition
    (key = aggregate id), from the offset at that time, so a big topic stays cheap to read."""
    import time

    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.partitioner import DefaultPartitioner

    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        tp = TopicPartition(topic, DefaultPartitioner()(aggregate_id.encode(), parts, parts))
        consumer.assign([tp])
        found = (await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) - 5000}))[tp]
        end = (await consumer.end_offsets([tp]))[tp]
        consumer.seek(tp, found.offset if found else end)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and await consumer.position(tp) < end:
            for records in (await consumer.getmany(tp, timeout_ms=300)).values():
                for rec in records:
                    env = json.loads(rec.value)
                    if env["aggregate_id"] == aggregate_id:
                        out.append(env)
        return out
    finally:
        await consumer.stop()


async def _partitions(consumer: Any, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # noqa: SLF001 - metadata of a topic not yet seen
    return set(consumer.partitions_for_topic(topic) or ())
