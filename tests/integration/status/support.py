"""Helpers for the status service's tests: a webhook receiver on 127.0.0.1 that the test can
make fail, a fresh enterprise with its own API key, and a producer that puts lifecycle events
on the real topics (as the submission, signer and customs services will)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import random
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import uvicorn

from ail_shared import topics
from ail_shared.auth import new_api_key
from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ApplicationSummary,
    ClearanceRefused,
    CustomsStored,
    Envelope,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
    envelope_for,
)
from ail_shared.kafka import make_producer

TOPIC_OF = {
    "ApplicationSubmitted": topics.APPLICATION,
    "SigningFailed": topics.SIGNER,
    "SigningDeferred": topics.SIGNER,
    "CustomsStored": topics.CUSTOMS,
    "ClearanceRefused": topics.CUSTOMS,
}


# ------------------------------------------------------------------ webhook receiver


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int


@dataclass
class Receiver:
    """Answers ``status`` (200 by default) to every POST and keeps what it got."""

    status: int = 200
    delay: float = 0.0  # seconds before answering, to keep deliveries in flight
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.status
        self.received.append(Received(headers, body, status))
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"text/plain")]}
        )
        await send({"type": "http.response.body", "body": b"ok" if status < 300 else b"receiver down"})

    def accepted(self) -> list[Received]:
        return [r for r in self.received if 200 <= r.status < 300]

    async def start(self) -> Receiver:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self, log_config=None, access_log=False, lifespan="off")
        self._server = _QuietServer(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # the test process keeps its own signals
        yield


# ------------------------------------------------------------------ tenants


@dataclass(frozen=True)
class Enterprise:
    code: str
    api_key: str

    def client(self, entry_url: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=entry_url, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=30.0
        )


async def fresh_enterprise(db: asyncpg.Pool) -> Enterprise:
    """A new enterprise with its own API key, so that sequences, streams and subscriptions of
    one test see nothing of another's."""
    code = "99" + "".join(random.choices("0123456789", k=11))
    raw, key_id, digest = new_api_key()
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO iam.enterprises (code, name) VALUES ($1, $2)", code, f"状态测试企业 {code}"
        )
        await conn.execute(
            "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
            " VALUES ($1, $2, 'enterprise', $3, 'status tests')",
            key_id,
            digest,
            code,
        )
    return Enterprise(code, raw)


# ------------------------------------------------------------------ events


class Publisher:
    """Puts envelopes on the real topics, keyed by application id, as the outbox relay does."""

    def __init__(self, bootstrap: str) -> None:
        self.producer = make_producer(bootstrap)

    async def start(self) -> Publisher:
        await self.producer.start()
        return self

    async def stop(self) -> None:
        await self.producer.stop()

    async def publish(self, *envelopes: Envelope) -> None:
        for env in envelopes:
            topic = TOPIC_OF.get(env.event_type, topics.SUBMISSION)
            headers = [
                ("event_type", env.event_type.encode()),
                ("schema_version", env.schema_version.encode()),
                ("event_id", str(env.event_id).encode()),
            ]
            await self.producer.send(
                topic, value=env.to_bytes(), key=env.aggregate_id.encode(), headers=headers
            )
        await self.producer.flush()


@dataclass
class App:
    """One application's events, built with consistent numbers."""

    enterprise_code: str
    application_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    submission_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    step: int = 0

    @property
    def serial_no(self) -> str:
        return "NA26" + str(int(hashlib.sha256(self.application_id.encode()).hexdigest(), 16))[:14]

    @property
    def form_no(self) -> str:
        return "26" + self.enterprise_code + self.serial_no[-6:]

    @property
    def license_no(self) -> str:
        return "26AA" + self.serial_no[-6:]

    def _when(self, at: datetime | None) -> datetime:
        """The time of the next event: ``at``, or one second after the last."""
        self.step += 1
        return at or self.start + timedelta(seconds=self.step)

    def _env(self, event: Event, when: datetime) -> Envelope:
        return envelope_for(
            event, aggregate_id=self.application_id, tenant=self.enterprise_code, occurred_at=when
        )

    def submitted(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        self.submission_id = str(uuid.uuid4())
        return self._env(
            ApplicationSubmitted(
                application_id=self.application_id,
                serial_no=self.serial_no,
                enterprise_code=self.enterprise_code,
                submission_id=self.submission_id,
                snapshot={"serial_no": self.serial_no},
            ),
            when,
        )

    def signing_failed(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            SigningFailed(
                application_id=self.application_id,
                submission_id=self.submission_id,
                ekey_serial="demo",
                reason="ekey_not_present",
                detail="plug the e-key in and submit again",
            ),
            when,
        )

    def signing_deferred(self, at: datetime | None = None) -> Envelope:
        """As the submission service says it when no signer host announces the e-key now."""
        when = self._when(at)
        return self._env(
            SigningDeferred(
                application_id=self.application_id,
                submission_id=self.submission_id,
                ekey_serial="demo",
                detail="waiting for e-key demo on a signer host",
                give_up_at=when + timedelta(minutes=10),
            ),
            when,
        )

    def rejected(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            SubmissionRejected(
                application_id=self.application_id,
                submission_id=self.submission_id,
                reason="mofcom_refused",
                detail="进口商代码与企业不符",
            ),
            when,
        )

    def accepted(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            SubmissionAccepted(
                application_id=self.application_id,
                submission_id=self.submission_id,
                form_no=self.form_no,
                applied_at=when,
            ),
            when,
        )

    def review(self, stage: str, result: str, opinion: str = "", at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            ReviewResultReceived(
                application_id=self.application_id,
                form_no=self.form_no,
                stage=stage,  # type: ignore[arg-type]
                result=result,  # type: ignore[arg-type]
                opinion=opinion,
                license_no=self.license_no if (stage, result) == ("second", "passed") else None,
                reviewed_at=when,
                # as the real producer fills it (the statistics service counts approvals by it)
                application=ApplicationSummary(
                    enterprise_code=self.enterprise_code,
                    serial_no=self.serial_no,
                    year=self.start.year,
                    commodity_code="2601111000",
                    commodity_name="未烧结铁矿砂及其精矿",
                    unit="千克",
                    total_quantity=Decimal("1000"),
                    total_value_usd=Decimal("120000"),
                    trade_mode="一般贸易",
                    trade_country="澳大利亚",
                    issuing_agency="AA",
                ),
            ),
            when,
        )

    def revoked(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            ApplicationRevoked(
                application_id=self.application_id,
                form_no=self.form_no,
                revoked_at=when,
                reason="申请人撤销",
            ),
            when,
        )

    def license_issued(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            LicenseIssued(
                application_id=self.application_id,
                enterprise_code=self.enterprise_code,
                form_no=self.form_no,
                license_no=self.license_no,
                issued_at=when,
                valid_until=date(2026, 12, 31),
                commodity_code="2601111000",
                quantity=Decimal("1000"),
                one_batch_one_license=False,
            ),
            when,
        )

    def clearance_refused(self, at: datetime | None = None) -> Envelope:
        """As the customs service says it when the ledger cannot cover a declaration."""
        when = self._when(at)
        return self._env(
            ClearanceRefused(
                application_id=self.application_id,
                license_no=self.license_no,
                declaration_no="2200" + self.serial_no[-14:],
                declared_at=when,
                quantity=Decimal("10"),
                reason="one_batch_already_used",
                detail="the one-batch license has been used",
            ),
            when,
        )

    def customs_stored(self, at: datetime | None = None) -> Envelope:
        when = self._when(at)
        return self._env(
            CustomsStored(application_id=self.application_id, license_no=self.license_no, result="stored"),
            when,
        )


async def history(client: httpx.AsyncClient, application_id: str) -> dict[str, Any] | None:
    r = await client.get(f"/api/v1/applications/{application_id}/history")
    if r.status_code == 404:
        return None
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def own_entries(hist: dict[str, Any], envelopes: list[Envelope]) -> list[dict[str, Any]]:
    """The history entries caused by these envelopes (other services, reacting to the events the
    test put on the real topics, may add their own)."""
    ids = {str(e.event_id) for e in envelopes}
    return [e for e in hist["items"] if e["event"]["id"] in ids]


# ------------------------------------------------------------------ subscriptions and the live stream


async def subscribe(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/subscriptions", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    assert data["secret"].startswith("whsec_")
    return data


Frame = dict[str, Any]


class Stream:
    def __init__(self, client: httpx.AsyncClient, last_event_id: str | None = None) -> None:
        headers = {"Last-Event-ID": last_event_id} if last_event_id is not None else {}
        self._cm = client.stream("GET", "/api/v1/events/stream", headers=headers, timeout=60)
        self.response: httpx.Response | None = None
        self._lines: Any = None

    async def open(self) -> Stream:
        self.response = await self._cm.__aenter__()
        assert self.response.status_code == 200, await self.response.aread()
        assert self.response.headers["content-type"].startswith("text/event-stream")
        self._lines = self.response.aiter_lines()
        first = await self._frame()  # the stream's opening (retry hint): it is connected
        assert first.get("retry") == "2000"
        return self

    async def _frame(self) -> Frame:
        frame: Frame = {}
        async for line in self._lines:
            if line == "":
                if frame:
                    return frame
                continue
            if line.startswith(":"):
                frame.setdefault("comments", []).append(line)
                continue
            name, _, value = line.partition(":")
            frame[name] = value.removeprefix(" ")
        raise AssertionError("stream ended")

    async def events(self, until: Any) -> list[Frame]:
        """Read events until ``until(events)`` is true."""
        got: list[Frame] = []
        async with asyncio.timeout(60):
            while not until(got):
                frame = await self._frame()
                if "id" in frame:
                    frame["data"] = json.loads(frame["data"])
                    got.append(frame)
        return got

    async def close(self) -> None:
        await self._cm.__aexit__(None, None, None)
