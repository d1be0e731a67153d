"""Issue 14, items 1, 2 and 7 on the real stack: every process serves Prometheus text at
/metrics (not through the entry point), consumer lag is 0 when caught up on a transactional
topic (no false 1 after the commit markers) and grows while the consumer is stopped (seen by
the stack-level exporter and by kafka-consumer-groups), and Prometheus scrapes everything."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from ail_shared import metrics
from ail_shared.consumer import EventConsumer
from ail_shared.db import migrate_schema
from ail_shared.events import Envelope, Event, SubmissionAccepted, envelope_for, utcnow
from ail_shared.kafka import make_producer
from scripts.devstack.table import APPS, Stack
from tests.support import create_topic, dev, eventually

pytestmark = pytest.mark.serial  # it needs a quiet stack: every group at lag 0 (tests/support.require_serial)

# What each kind of process must expose at least (beyond the Python runtime's own metrics).
SERVICE_FAMILIES = {"ail_http_requests", "ail_http_request_duration_seconds", "ail_outbox_backlog"}
EXPECTED = {
    "application": SERVICE_FAMILIES | {"ail_consumer_lag"},
    "submission": SERVICE_FAMILIES | {"ail_consumer_lag", "ail_ekeys_bound_held", "ail_ekeys_held_by_host"},
    "status": SERVICE_FAMILIES | {"ail_consumer_lag"},
    "customs": SERVICE_FAMILIES | {"ail_consumer_lag", "ail_external_calls"},
    "signer": SERVICE_FAMILIES | {"ail_signer_ekeys_present"},
    "stats": SERVICE_FAMILIES | {"ail_stats_fold_lag"},
    "sandbox-mofcom": {"ail_http_requests"},
    "sandbox-customs": {"ail_http_requests"},
    "lag": {"ail_kafka_group_lag"},
    "tracestore": {"ail_http_requests"},
}


def _stack(stack: dict[str, str]) -> Stack:
    return Stack(stack["AIL_PROFILE"], int(stack["AIL_PORT_BASE"]))


def _samples(text: str) -> dict[str, list[Sample]]:
    return {f.name: list(f.samples) for f in text_string_to_metric_families(text)}


async def test_every_process_serves_parsable_metrics_not_through_the_entry_point(
    stack: dict[str, str], entry_url: str
) -> None:
    st = _stack(stack)
    async with httpx.AsyncClient(timeout=15.0) as client:
        for app in APPS:
            if app.name == "prometheus":
                continue
            resp = await client.get(f"{st.url(app.name)}/metrics")
            assert resp.status_code == 200, app.name
            assert resp.headers["content-type"].startswith("text/plain"), app.name
            families = _samples(resp.text)  # raises on anything the text parser cannot read
            missing = EXPECTED[app.name] - set(families)
            assert not missing, f"{app.name} does not expose {missing}"
        # The public entry point does not route /metrics (so it needs no API key).
        resp = await client.get(f"{entry_url}/metrics")
        assert resp.status_code == 404


async def test_http_requests_are_counted_by_route_template(stack: dict[str, str], entry_url: str) -> None:
    st = _stack(stack)
    async with httpx.AsyncClient(timeout=15.0) as client:
        missing = f"APP-{uuid.uuid4().hex[:8]}"
        resp = await client.get(f"{entry_url}/api/v1/applications/{missing}")
        assert resp.status_code == 401  # no API key
        text = (await client.get(f"{st.url('application')}/metrics")).text
    routes = {s.labels["route"] for s in _samples(text)["ail_http_requests"]}
    assert "/api/v1/applications/{application_id}" in routes
    assert not any(missing in r for r in routes), "a raw path became a label"


@pytest.fixture
async def schema(db: asyncpg.Pool) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await migrate_schema(conn, name)
    yield name
    async with db.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")


def _accepted(i: int) -> Envelope:
    app_id = f"APP-{uuid.uuid4().hex[:8]}-{i}"
    return envelope_for(
        SubmissionAccepted(
            application_id=app_id, submission_id="s1", form_no="261100776367555600014", applied_at=utcnow()
        ),
        aggregate_id=app_id,
        tenant="1100776367555",
    )


async def _produce_in_transactions(bootstrap: str, topic: str, partitions: int, per_partition: int) -> None:
    """Like the outbox relay: every event in a Kafka transaction of its own, so a commit marker
    follows each one."""
    producer = make_producer(bootstrap, transactional_id=f"test-metrics-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        for p in range(partitions):
            for i in range(per_partition):
                async with producer.transaction():
                    await producer.send(topic, _accepted(i).to_bytes(), key=b"k", partition=p)
    finally:
        await producer.stop()


def _group_lag(text: str, group: str) -> dict[int, float]:
    return {
        int(s.labels["partition"]): s.value
        for s in _samples(text).get("ail_kafka_group_lag", [])
        if s.labels["group"] == group
    }


async def test_lag_is_zero_when_caught_up_and_grows_while_the_consumer_is_down(
    stack: dict[str, str], kafka_bootstrap: str, db: asyncpg.Pool, schema: str
) -> None:
    st = _stack(stack)
    topic = await create_topic(kafka_bootstrap, partitions=2, prefix="test.lag")
    group = f"test-lag-{schema}"

    async def ignore(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        return None

    consumer = EventConsumer(
        name=group, topics=[topic], handlers={SubmissionAccepted: ignore}, pool=db, schema=schema,
        bootstrap=kafka_bootstrap,
    )  # fmt: skip
    await _produce_in_transactions(kafka_bootstrap, topic, partitions=2, per_partition=3)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(lambda: _true(consumer.stats.applied == 6), timeout=60, what="6 events applied")

        # Caught up: 0 on every partition, although each event was followed by a marker.
        async def caught_up() -> bool:
            lags = await metrics.group_lags(kafka_bootstrap, [group])
            return len(lags) == 2 and all(pl.lag == 0 and pl.committed == pl.last_stable for pl in lags)

        await eventually(caught_up, timeout=30, what="committed offset == last stable offset")
        own = {
            s.labels["partition"]: s.value
            for s in _samples(generate_latest(REGISTRY).decode())["ail_consumer_lag"]
            if s.labels["group"] == group
        }
        assert own == {"0": 0.0, "1": 0.0}, own
        described = await asyncio.to_thread(dev, "kafka-groups", "--describe", "--group", group)
        assert _described_lags(described, topic) == {0: 0, 1: 0}, described
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)

    # Stopped: new events are lag, seen from outside (the stack-level exporter).
    await _produce_in_transactions(kafka_bootstrap, topic, partitions=2, per_partition=2)
    async with httpx.AsyncClient(timeout=20.0) as client:

        async def exported() -> dict[int, float] | None:
            lags = _group_lag((await client.get(f"{st.url('lag')}/metrics")).text, group)
            return lags if lags == {0: 2.0, 1: 2.0} else None

        await eventually(exported, timeout=30, what="the lag exporter shows 2 per partition")
    await _commit_at_end(kafka_bootstrap, group, topic)  # no lag left behind for the stack's alerts


async def test_exact_lags_of_many_groups_skip_markers_and_aborted_records(kafka_bootstrap: str) -> None:
    """Groups at different positions on one partition: each lag counts only the records a
    read_committed consumer would still get (commit markers and an aborted transaction's
    records not counted), read once for every group together."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    topic = await create_topic(kafka_bootstrap, partitions=1, prefix="test.lagmany")
    tp = TopicPartition(topic, 0)
    await _produce_in_transactions(kafka_bootstrap, topic, partitions=1, per_partition=5)
    producer = make_producer(kafka_bootstrap, transactional_id=f"test-metrics-{uuid.uuid4().hex[:8]}")
    await producer.start()
    try:
        await producer.begin_transaction()
        for i in range(2):
            await producer.send_and_wait(topic, _accepted(90 + i).to_bytes(), key=b"k", partition=0)
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, _accepted(99).to_bytes(), key=b"k", partition=0)
    finally:
        await producer.stop()
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, group_id=None, isolation_level="read_committed",
        enable_auto_commit=False,
    )  # fmt: skip
    await reader.start()
    try:
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        data: list[int] = []
        while len(data) < 6:
            batch = await reader.getmany(tp, timeout_ms=1000)
            data += [r.offset for r in batch.get(tp, [])]
        end = (await reader.end_offsets([tp]))[tp]
    finally:
        await reader.stop()
    assert len(data) == 6 and end > data[-1] + 1, (data, end)  # 6 records, and markers between
    # group -> where it committed, and the records still ahead of it
    at = {"a": (data[0], 6), "b": (data[3], 3), "c": (data[4] + 1, 1), "d": (end, 0)}
    groups = {f"test-lagmany-{k}-{uuid.uuid4().hex[:6]}": v for k, v in at.items()}
    for group, (offset, _) in groups.items():
        c = AIOKafkaConsumer(bootstrap_servers=kafka_bootstrap, group_id=group, enable_auto_commit=False)
        await c.start()
        try:
            c.assign([tp])
            await c.commit({tp: offset})
        finally:
            await c.stop()
    lags = {pl.group: pl.lag for pl in await metrics.group_lags(kafka_bootstrap, sorted(groups))}
    assert lags == {g: ahead for g, (_, ahead) in groups.items()}, (lags, groups)


async def _commit_at_end(bootstrap: str, group: str, topic: str) -> None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    tps = [TopicPartition(topic, p) for p in (0, 1)]
    c = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await c.start()
    try:
        c.assign(tps)  # manual assignment: commits need no group membership
        ends = await c.end_offsets(tps)
        await c.commit({tp: ends[tp] for tp in tps})
    finally:
        await c.stop()


async def _true(value: bool) -> bool:
    return value


def _described_lags(output: str, topic: str) -> dict[int, int]:
    """Partition -> LAG from ``kafka-consumer-groups --describe`` output."""
    lines = [ln.split() for ln in output.splitlines() if ln.strip()]
    header = next(ln for ln in lines if "LAG" in ln and "PARTITION" in ln)
    i_topic, i_part, i_lag = header.index("TOPIC"), header.index("PARTITION"), header.index("LAG")
    out: dict[int, int] = {}
    for ln in lines:
        if len(ln) > i_lag and ln[i_topic] == topic and re.fullmatch(r"\d+", ln[i_part]):
            out[int(ln[i_part])] = int(ln[i_lag])
    return out


async def test_idle_stack_groups_show_no_lag(stack: dict[str, str]) -> None:
    """Every group of the stack (the services' consumers, the statistics fold) is caught up
    when nothing is produced: no false lag of 1 after the outbox relay's transactions."""
    st = _stack(stack)
    async with httpx.AsyncClient(timeout=20.0) as client:

        async def idle() -> dict[str, float] | None:
            text = (await client.get(f"{st.url('lag')}/metrics")).text
            lags: dict[str, float] = {}
            for s in _samples(text).get("ail_kafka_group_lag", []):
                if not s.labels["group"].startswith("test"):
                    lags[s.labels["group"]] = lags.get(s.labels["group"], 0) + s.value
            return lags if lags and not any(lags.values()) else None

        lags = await eventually(idle, timeout=60, interval=1.0, what="every group at lag 0")
    # Our consumers commit from their first fetch on; faust (ail-stats) only after an event.
    assert {"status.lifecycle", "customs.intake", "submission.applications"} <= set(lags), sorted(lags)


async def test_prometheus_scrapes_every_process_and_loads_the_rules(stack: dict[str, str]) -> None:
    from scripts.devstack.prometheus import prometheus_port

    st = _stack(stack)
    base = f"http://127.0.0.1:{prometheus_port(st.port('prometheus'))}"
    async with httpx.AsyncClient(timeout=20.0) as client:

        async def all_up() -> dict[str, str] | None:
            data = (await client.get(f"{base}/api/v1/targets")).json()["data"]["activeTargets"]
            health = {t["labels"]["job"]: t["health"] for t in data}
            return health if health and all(h == "up" for h in health.values()) else None

        health = await eventually(all_up, timeout=60, interval=1.0, what="every target up")
        assert set(health) == {a.name for a in APPS}
        groups = (await client.get(f"{base}/api/v1/rules")).json()["data"]["groups"]
        alerts = {r["name"] for g in groups for r in g["rules"]}
        assert {"AilConsumerLagGrowing", "AilDeadLetter", "AilOutboxStuck", "AilServiceDown"} <= alerts
        # The wrapper's port answers /healthz and sends everything else on to Prometheus.
        resp = await client.get(f"{st.url('prometheus')}/-/ready", follow_redirects=True)
        assert resp.status_code == 200
