"""Webhook deliveries per second and latency from event to delivery, against a running stack.

    .venv/bin/python benchmarks/webhook_bench.py [--events 2000] [--rate 100] [--seconds 10]

Makes a fresh enterprise with an API key, starts a receiver on 127.0.0.1, subscribes it (all
applications) through the entry point, and puts lifecycle events on the real topics:

1. burst: ``--events`` events at once (applications x 3 events each, in order per application);
   deliveries per second = events / (last delivery - first publish);
2. paced: ``--rate`` events a second for ``--seconds``; latency = receiver arrival - publish.

The events travel producer -> Kafka -> status service consumer (history, change log, delivery
queued in one transaction) -> delivery worker -> signed HTTP POST -> receiver. Loopback only,
bounded in count and time. Reads the stack from .devstack/<profile>/env (AIL_PROFILE, default
test) unless AIL_PG_DSN and AIL_KAFKA_BOOTSTRAP are set.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from standardwebhooks import Webhook

from ail_shared import topics
from ail_shared.auth import new_api_key
from ail_shared.events import (
    ApplicationSummary,
    Envelope,
    ReviewResultReceived,
    SubmissionAccepted,
    envelope_for,
)
from ail_shared.kafka import make_producer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _stack import stack_cpu_by_name, stack_env  # noqa: E402  (the one env-file reader)

REPO = Path(__file__).resolve().parents[1]


class Receiver(asyncio.Protocol):
    """The benchmark's webhook receiver: a bare HTTP/1.1 keep-alive server on asyncio (no
    framework, no h11), one instance per connection sharing ``ReceiverState``, so that the
    receiver's own CPU is not what bounds the figure (docs/performance.md, "Webhooks burst").
    It answers 204 to every request and records the first arrival of each ``webhook-id``."""

    def __init__(self, state: ReceiverState) -> None:
        self.state = state
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buf[:end].decode("latin-1").split("\r\n")
            headers: dict[str, str] = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return  # the body is still coming
            body = self.buf[end + 4 : end + 4 + length]
            self.buf = self.buf[end + 4 + length :]
            self.state.arrived(headers, body)
            assert self.transport is not None
            self.transport.write(b"HTTP/1.1 204 No Content\r\n\r\n")


class ReceiverState:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.duplicates = 0
        self.requests = 0
        self.sample: list[tuple[dict[str, str], bytes]] = []
        self.port = 0

    def arrived(self, headers: dict[str, str], body: bytes) -> None:
        now = time.time()
        self.requests += 1
        msg_id = headers.get("webhook-id", "")
        if msg_id in self.arrivals:
            self.duplicates += 1
        else:
            self.arrivals[msg_id] = now
        if len(self.sample) < 20:
            self.sample.append((headers, body))


async def fresh_enterprise(dsn: str) -> tuple[str, str]:
    code = "98" + "".join(random.choices("0123456789", k=11))
    raw, key_id, digest = new_api_key()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO iam.enterprises (code, name) VALUES ($1, $2)", code, f"基准 {code}"
            )
            await conn.execute(
                "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
                " VALUES ($1, $2, 'enterprise', $3, 'webhook benchmark')",
                key_id,
                digest,
                code,
            )
    finally:
        await conn.close()
    return code, raw


def lifecycle(enterprise: str, app_id: str) -> list[Envelope]:
    """Three events of one application, all on ail.submission (so in order per application).
    Second review rejected and no license, so that the customs and statistics services, which
    read the same topic, have nothing to do with the benchmark's applications."""
    now = datetime.now(UTC)
    form_no = "26" + enterprise + app_id[-6:]

    def env(e: Any) -> Envelope:
        return envelope_for(e, aggregate_id=app_id, tenant=enterprise)

    def review(stage: str, result: str) -> ReviewResultReceived:
        return ReviewResultReceived(
            application_id=app_id,
            form_no=form_no,
            stage=stage,  # type: ignore[arg-type]
            result=result,  # type: ignore[arg-type]
            reviewed_at=now,
            application=ApplicationSummary(
                enterprise_code=enterprise,
                serial_no="NA26" + app_id[-14:],
                year=now.year,
                commodity_code="2601111000",
            ),
        )

    return [
        env(SubmissionAccepted(application_id=app_id, submission_id=app_id, form_no=form_no, applied_at=now)),
        env(review("first", "passed")),
        env(review("second", "rejected")),
    ]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def wait_for(receiver: ReceiverState, ids: set[str], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ids <= receiver.arrivals.keys():
            return True
        await asyncio.sleep(0.05)
    return False


async def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=2000, help="burst size (3 per application)")
    ap.add_argument("--rate", type=float, default=50.0, help="paced phase: events per second")
    ap.add_argument("--seconds", type=float, default=10.0, help="paced phase: duration")
    ap.add_argument("--timeout", type=float, default=120.0, help="give up waiting for deliveries after this")
    args = ap.parse_args()
    result = await run(
        stack_env(), events=args.events, rate=args.rate, seconds=args.seconds, timeout=args.timeout
    )
    return 0 if result["ok"] else 1


async def run(
    env: dict[str, str], *, events: int, rate: float, seconds: float, timeout: float
) -> dict[str, Any]:
    """Both phases; prints them and returns {"ok", "burst": {per_s, p50_ms, p99_ms, delivered,
    events}, "paced": {...}, "duplicates"}. ``ok`` is false when a delivery did not arrive in time."""
    result: dict[str, Any] = {"ok": False}
    receiver = ReceiverState()
    server = await asyncio.get_running_loop().create_server(
        lambda: Receiver(receiver), "127.0.0.1", 0, backlog=1024
    )
    receiver.port = server.sockets[0].getsockname()[1]

    enterprise, api_key = await fresh_enterprise(env["AIL_PG_DSN"])
    async with httpx.AsyncClient(
        base_url=env["AIL_ENTRY_URL"], headers={"Authorization": f"Bearer {api_key}"}
    ) as c:
        r = await c.post(
            "/api/v1/subscriptions",
            json={
                "url": f"http://127.0.0.1:{receiver.port}/hook",
                "all_applications": True,
                "description": "bench",
            },
        )
        r.raise_for_status()
        sub = r.json()

    producer = make_producer(env["AIL_KAFKA_BOOTSTRAP"])
    await producer.start()
    published: dict[str, float] = {}

    async def publish(envs: list[Envelope]) -> None:
        for e in envs:
            published[str(e.event_id)] = time.time()
            await producer.send(topics.SUBMISSION, value=e.to_bytes(), key=e.aggregate_id.encode())

    ok = True
    try:
        # warm-up: one application end to end
        warm = lifecycle(enterprise, str(uuid.uuid4()))
        await publish(warm)
        await producer.flush()
        if not await wait_for(receiver, {str(e.event_id) for e in warm}, 30):
            print("warm-up deliveries did not arrive within 30 s: is the status service running?")
            return result

        # 1. burst
        apps = max(1, events // 3)
        burst = [e for _ in range(apps) for e in lifecycle(enterprise, str(uuid.uuid4()))]
        ids = {str(e.event_id) for e in burst}
        cpu_before, own_before = stack_cpu_by_name(env), time.process_time()
        t0 = time.time()
        await publish(burst)
        await producer.flush()
        t_published = time.time()
        ok &= await wait_for(receiver, ids, timeout)
        cpu_after, own_after = stack_cpu_by_name(env), time.process_time()
        got = [receiver.arrivals[i] for i in ids if i in receiver.arrivals]
        t_last = max(got) if got else time.time()
        lat = [receiver.arrivals[i] - published[i] for i in ids if i in receiver.arrivals]
        print(f"burst: {len(burst)} events ({apps} applications x 3), published in {t_published - t0:.2f} s")
        per_s = len(got) / (t_last - t0)
        print(f"  delivered {len(got)}/{len(burst)} in {t_last - t0:.2f} s -> {per_s:.0f} deliveries/s")
        result["burst"] = {"events": len(burst), "delivered": len(got), "per_s": per_s}
        # When the status consumer had recorded the last of them (its change log's recorded_at):
        # what is left after it is the delivery worker's.
        conn = await asyncpg.connect(env["AIL_PG_DSN"])
        try:
            last_recorded = await conn.fetchval(
                "SELECT extract(epoch FROM max(recorded_at)) FROM status.changes"
                " WHERE event_id = ANY($1::uuid[])",
                [uuid.UUID(i) for i in ids],
            )
        finally:
            await conn.close()
        if last_recorded is not None:
            result["burst"]["recorded_s"] = float(last_recorded) - t0
            print(
                f"  all recorded by the status consumer {float(last_recorded) - t0:.2f} s"
                " after the first publish"
            )
        # CPU per delivery of each stack process over the burst (from /proc; the idle use of
        # the other services is included), and of this process (producer and receiver).
        per = {
            name: (cpu_after[name] - cpu_before.get(name, 0.0)) * 1000 / max(1, len(got))
            for name in cpu_after
            if cpu_after[name] - cpu_before.get(name, 0.0) > 0
        }
        per["benchmark (producer + receiver)"] = (own_after - own_before) * 1000 / max(1, len(got))
        result["burst"]["cpu_ms_per_delivery"] = dict(sorted(per.items(), key=lambda kv: -kv[1]))
        top = ", ".join(f"{k} {v:.2f}" for k, v in list(result["burst"]["cpu_ms_per_delivery"].items())[:6])
        print(f"  CPU ms per delivery: {top}")
        if lat:
            print(
                f"  event->delivery latency under the burst: p50 {percentile(lat, 0.5) * 1000:.0f} ms,"
                f" p99 {percentile(lat, 0.99) * 1000:.0f} ms, max {max(lat) * 1000:.0f} ms"
            )
            result["burst"] |= {"p50_ms": percentile(lat, 0.5) * 1000, "p99_ms": percentile(lat, 0.99) * 1000}

        # 2. paced
        paced_ids: set[str] = set()
        n = int(rate * seconds)
        start = time.monotonic()
        for i in range(n):
            e = lifecycle(enterprise, str(uuid.uuid4()))[0]  # each a new application's first event
            paced_ids.add(str(e.event_id))
            await publish([e])
            await producer.flush()
            delay = start + (i + 1) / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        ok &= await wait_for(receiver, paced_ids, timeout)
        lat = [receiver.arrivals[i] - published[i] for i in paced_ids if i in receiver.arrivals]
        print(f"paced: {n} events at {rate:.0f}/s for {seconds:.0f} s, delivered {len(lat)}/{n}")
        result["paced"] = {"events": n, "delivered": len(lat), "rate": rate}
        if lat:
            result["paced"] |= {
                "p50_ms": percentile(lat, 0.5) * 1000,
                "p99_ms": percentile(lat, 0.99) * 1000,
            }
            print(
                f"  event->delivery latency: p50 {percentile(lat, 0.5) * 1000:.0f} ms,"
                f" p90 {percentile(lat, 0.9) * 1000:.0f} ms, p99 {percentile(lat, 0.99) * 1000:.0f} ms,"
                f" mean {statistics.fmean(lat) * 1000:.0f} ms"
            )
        hook = Webhook(sub["secret"])
        for headers, body in receiver.sample:
            hook.verify(body, headers)
        print(
            f"duplicates received: {receiver.duplicates}; {len(receiver.sample)} sampled signatures verified"
        )
        result["duplicates"] = receiver.duplicates
    finally:
        await producer.stop()
        async with httpx.AsyncClient(
            base_url=env["AIL_ENTRY_URL"], headers={"Authorization": f"Bearer {api_key}"}
        ) as c:
            await c.delete(f"/api/v1/subscriptions/{sub['id']}")
        server.close()
    result["ok"] = ok
    return result


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
