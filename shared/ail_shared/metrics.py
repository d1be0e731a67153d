"""The one home of the platform's Prometheus metrics (issue 14, item 1): every metric a service
exposes is defined here, and every service exposes them alike at ``GET /metrics`` on its own
port (Prometheus text format, prometheus-client). tests/unit/test_monitoring.py checks that every
query of the alert rules and the dashboards names a metric defined here.

Where the values come from (the other modules call one hook each; nothing here does I/O on
the hot path):

* HTTP: ``HttpMetrics`` (ASGI middleware added by ``ail_shared.http.create_app``) counts every
  request by method, route *template* (``/api/v1/applications/{application_id}``, never the
  raw path: bounded cardinality) and status, and times it.
* Consumers: ``ail_shared.consumer`` calls :func:`consumer_batch` after each committed batch
  (applied, duplicates, ignored, dead letters by reason) and :func:`consumer_lag` with its
  committed position and the partition's last stable offset.
* Kafka group lag seen from outside: :func:`group_lags` (admin offsets against the last stable
  offsets, control records not counted), used by the stack-level exporter ``ail_shared.lag``
  (``python -m ail_shared.lag``): a consumer that is down cannot export its own lag.
* Outbox: the backlog and the age of its oldest unpublished row, read from the service's
  ``outbox`` table when /metrics is scraped (:func:`outbox_sampler`); published and set-aside
  counts from the relay.
* External calls: ``ail_shared.retry`` (the one way calls to MOFCOM and Customs go) calls
  :func:`external_call` once per call with the outcome, the seconds it took in all and the
  retries; the webhook delivery adapter of the status service does the same per attempt.
* E-keys and signing: the signer host sets :data:`EKEYS_PRESENT` and observes
  :data:`SIGN_SECONDS`; the submission service samples which bound e-keys a live host holds.

Scrape-time values (database counts, relay counters, Kafka offsets) are *samplers*: async
callables registered with :func:`add_sampler`, run (each with a timeout) by ``GET /metrics``
before the text is rendered, so a slow database makes a sampler miss one scrape, never hangs it.

``/metrics`` needs no API key: it is served on the service port only, which nginx does not
route (every public route is under ``/api/v1``; the entry point answers 404 for ``/metrics``)
and which in Kubernetes only the monitoring namespace may reach (deploy/k8s network policies).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ail_shared.logging import get_logger

log = get_logger("ail.metrics")

# No ``*_created`` series: they double the output and no query here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Seconds buckets for HTTP handling and external calls (a MOFCOM call with retries can take
# tens of seconds; a local API call a few milliseconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# Paths that are not API traffic (probes and the scrape itself): not counted.
UNCOUNTED_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})

HTTP_REQUESTS = Counter(
    "ail_http_requests",
    "HTTP requests handled, by method, route template and status code",
    ["method", "route", "status"],
)
HTTP_SECONDS = Histogram(
    "ail_http_request_duration_seconds",
    "Time to handle an HTTP request, by method and route template",
    ["method", "route"],
    buckets=LATENCY_BUCKETS,
)

CONSUMER_EVENTS = Counter(
    "ail_consumer_events",
    "Events a consumer group handled, by outcome: applied, duplicate (inbox already had it),"
    " ignored (a type the group does not apply), dead_lettered",
    ["group", "topic", "outcome"],
)
CONSUMER_DEAD_LETTERS = Counter(
    "ail_consumer_dead_letters",
    "Events sent to <topic>.dlt, by reason code (the dlt-reason header up to its first ':')",
    ["group", "topic", "reason"],
)
CONSUMER_LAG = Gauge(
    "ail_consumer_lag",
    "Events not yet applied by this member's partitions: last stable offset minus the committed"
    " position (exported by the consumer itself)",
    ["group", "topic", "partition"],
)
GROUP_LAG = Gauge(
    "ail_kafka_group_lag",
    "Data records (control records not counted) between every group's committed offset and the"
    " partition's last stable offset, from the Kafka admin API (the stack-level lag exporter)",
    ["group", "topic", "partition"],
)
GROUP_LAG_SCRAPE_ERRORS = Counter(
    "ail_kafka_group_lag_errors", "Failed attempts to read group offsets from Kafka", []
)

OUTBOX_BACKLOG = Gauge(
    "ail_outbox_backlog", "Outbox rows not yet published (set-aside rows excluded)", ["schema"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "ail_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row; 0 when none", ["schema"]
)
OUTBOX_PUBLISHED = Counter(
    "ail_outbox_published", "Outbox rows published to Kafka by this process", ["schema"]
)
OUTBOX_SET_ASIDE = Counter(
    "ail_outbox_set_aside", "Outbox rows Kafka refused for good (kept, never sent)", ["schema"]
)

EXTERNAL_CALLS = Counter(
    "ail_external_calls",
    "Calls to external systems (mofcom, customs, webhook, callback), by outcome: ok (2xx),"
    " refused (another answer), unavailable (no useful answer within the attempts), error",
    ["target", "outcome"],
)
EXTERNAL_SECONDS = Histogram(
    "ail_external_call_duration_seconds",
    "Time of one external call, its retries included",
    ["target"],
    buckets=LATENCY_BUCKETS,
)
EXTERNAL_RETRIES = Counter("ail_external_call_retries", "Retries of external calls", ["target"])

EKEYS_PRESENT = Gauge("ail_signer_ekeys_present", "E-keys this signer host holds (last scan)", ["host"])
SIGN_SECONDS = Histogram(
    "ail_signer_sign_duration_seconds",
    "Time to sign one batch of signature requests on the token thread",
    ["host"],
    buckets=LATENCY_BUCKETS,
)
EKEYS_BOUND = Gauge("ail_ekeys_bound", "E-keys bound to an enterprise (submission service's copy)", [])
EKEYS_BOUND_HELD = Gauge(
    "ail_ekeys_bound_held",
    "Bound e-keys that at least one live signer host holds (heartbeat not lapsed)",
    [],
)
EKEYS_HELD_BY_HOST = Gauge(
    "ail_ekeys_held_by_host", "E-keys each signer host announces (live heartbeats only)", ["host"]
)

STATS_FOLD_LAG = Gauge(
    "ail_stats_fold_lag",
    "Approvals the statistics fold has not yet counted (group lag of the faust app)",
    ["topic", "partition"],
)
STATS_FOLDED = Counter(
    "ail_stats_folded",
    "Events the statistics fold handled, by outcome: counted, already_folded, duplicate, ignored,"
    " dead_lettered",
    ["outcome"],
)

SAMPLER_ERRORS = Counter(
    "ail_metrics_sampler_errors", "Scrape-time samplers that failed or timed out", ["sampler"]
)


# -- HTTP ----------------------------------------------------------------------------------------
class HttpMetrics:
    """ASGI middleware: count and time every HTTP request by its route template."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") in UNCOUNTED_PATHS:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the client gets when the app raises before answering

        async def record_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            observe_http(str(scope.get("method", "")), route_template(scope), status, started)


def observe_http(method: str, route: str, status: int, started: float) -> None:
    """Count and time one HTTP request (``started``: its ``time.perf_counter()``): what
    ``HttpMetrics`` records, and a service's fast path outside the stack records alike."""
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_SECONDS.labels(method, route).observe(time.perf_counter() - started)


def route_template(scope: Scope) -> str:
    """The matched route's path template (FastAPI puts the route in the scope); ``<unmatched>``
    for a path no route has (a 404 of the router), so a scanner cannot grow the label set."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


# -- samplers and the endpoint -------------------------------------------------------------------
Sampler = Callable[[], Awaitable[None]]


@dataclass
class _Sampler:
    name: str
    fn: Sampler
    timeout: float


_SAMPLERS: list[_Sampler] = []


def add_sampler(name: str, fn: Sampler, *, timeout: float = 3.0) -> None:
    """Run ``fn`` before each scrape (it sets gauges); replaces an earlier one of that name."""
    _SAMPLERS[:] = [s for s in _SAMPLERS if s.name != name]
    _SAMPLERS.append(_Sampler(name, fn, timeout))


def remove_sampler(name: str) -> None:
    _SAMPLERS[:] = [s for s in _SAMPLERS if s.name != name]


async def _run_sampler(s: _Sampler) -> None:
    try:
        await asyncio.wait_for(s.fn(), s.timeout)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # noqa: BLE001 - one failing sampler must not fail the scrape
        SAMPLER_ERRORS.labels(s.name).inc()
        log.warning("metrics_sampler_failed", sampler=s.name, error=repr(exc))


async def render() -> bytes:
    """Run the samplers, then the Prometheus text of every metric of this process."""
    await asyncio.gather(*(_run_sampler(s) for s in list(_SAMPLERS)))
    return generate_latest(REGISTRY)


async def metrics_endpoint(_: Request) -> Response:
    return Response(await render(), media_type=CONTENT_TYPE_LATEST)


def instrument(app: Any) -> None:
    """Count and time ``app``'s requests and serve ``GET /metrics`` (a FastAPI app)."""
    app.add_middleware(HttpMetrics)
    app.add_api_route("/metrics", metrics_endpoint, include_in_schema=False)


# -- consumers -----------------------------------------------------------------------------------
def dead_letter_reason(reason: str) -> str:
    """The reason code of a dead letter for a label: the dlt-reason text up to its first ':'
    and first word (``handler_failed after 2 attempts: ...`` -> ``handler_failed``)."""
    head = reason.split(":", 1)[0].strip().split(" ", 1)[0]
    return head[:64] or "unknown"


def consumer_batch(
    group: str,
    topic: str,
    *,
    applied: int,
    duplicates: int,
    ignored: int,
    dead_letters: Iterable[tuple[str, str]] = (),
) -> None:
    """Count one committed batch of a consumer group on ``topic``; ``dead_letters`` are
    (source topic, dlt-reason) pairs."""
    for outcome, n in (("applied", applied), ("duplicate", duplicates), ("ignored", ignored)):
        if n:
            CONSUMER_EVENTS.labels(group, topic, outcome).inc(n)
    for source, reason in dead_letters:
        CONSUMER_EVENTS.labels(group, source, "dead_lettered").inc()
        CONSUMER_DEAD_LETTERS.labels(group, source, dead_letter_reason(reason)).inc()


def consumer_lag(group: str, topic: str, partition: int, *, committed: int, last_stable: int | None) -> None:
    """This member's lag on one partition: ``last_stable - committed`` (0 when caught up; the
    consumer commits its position, which is past any transaction marker)."""
    if last_stable is None or last_stable < 0:
        return
    CONSUMER_LAG.labels(group, topic, str(partition)).set(max(0, last_stable - committed))


def forget_partitions(group: str, keep: set[tuple[str, int]], seen: set[tuple[str, int]]) -> None:
    """Drop the lag series of partitions this member no longer owns (after a rebalance)."""
    for topic, partition in seen - keep:
        try:
            CONSUMER_LAG.remove(group, topic, str(partition))
        except KeyError:
            pass


# -- external calls ------------------------------------------------------------------------------
def external_target(what: str) -> str:
    """The target label of a call from its ``what`` ("MOFCOM POST /x" -> "mofcom")."""
    word = what.split(" ", 1)[0].lower()
    return word if word in ("mofcom", "customs", "webhook", "callback") else "other"


def external_call(target: str, outcome: str, seconds: float, retries: int = 0) -> None:
    EXTERNAL_CALLS.labels(target, outcome).inc()
    EXTERNAL_SECONDS.labels(target).observe(seconds)
    if retries:
        EXTERNAL_RETRIES.labels(target).inc(retries)


def outcome_of_status(status_code: int) -> str:
    return "ok" if 200 <= status_code < 300 else "refused"


# -- outbox --------------------------------------------------------------------------------------
def outbox_sampler(pool: Any, schema: str, relay: Any | None) -> Sampler:
    """Backlog and oldest-row age of ``schema.outbox``, and the relay's counters."""
    published_seen = [0]
    set_aside_seen = [0]

    async def sample() -> None:
        row = await pool.fetchrow(
            f"SELECT count(*) AS n, coalesce(extract(epoch FROM clock_timestamp() - min(created_at)), 0)"
            f" AS age FROM {schema}.outbox WHERE published_at IS NULL AND set_aside_at IS NULL"
        )
        OUTBOX_BACKLOG.labels(schema).set(int(row["n"]))
        OUTBOX_OLDEST_AGE.labels(schema).set(max(0.0, float(row["age"])))
        if relay is not None:
            # The relay keeps plain totals; the counters catch up with them here.
            for total, seen, counter in (
                (relay.published, published_seen, OUTBOX_PUBLISHED),
                (relay.set_aside, set_aside_seen, OUTBOX_SET_ASIDE),
            ):
                if total > seen[0]:
                    counter.labels(schema).inc(total - seen[0])
                    seen[0] = total
                else:
                    counter.labels(schema).inc(0)

    return sample


# -- Kafka group lag from the admin API ----------------------------------------------------------
# Up to this many offsets behind, the exporter reads the records to count data records only
# (a transactional producer leaves one control record per transaction, which no consumer sees);
# beyond it, the offset difference is reported as it is (markers included: an upper bound).
EXACT_LAG_UP_TO = 200


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    last_stable: int
    lag: int


async def group_lags(bootstrap: str, groups: list[str] | None = None) -> list[PartitionLag]:
    """Every consumer group's lag per partition (or only ``groups``'), from committed offsets
    (admin API) and the last stable offsets (a read_committed consumer's end offsets). A group
    with no committed offset on a partition of a topic it reads counts from the log start."""
    from aiokafka import AIOKafkaConsumer
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    probe = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        request_timeout_ms=5000,
    )
    try:
        await admin.start()
        await probe.start()
        names = groups
        if names is None:
            listed = await admin.list_consumer_groups()
            names = sorted({str(g[0]) for g in listed})
        # One admin round trip per group, all at once (a stack has dozens of groups).
        fetched = await asyncio.gather(*(admin.list_consumer_group_offsets(g) for g in names))
        committed: dict[str, dict[Any, int]] = {
            g: {tp: int(om.offset) for tp, om in offsets.items() if om.offset >= 0}
            for g, offsets in zip(names, fetched, strict=True)
        }
        tps = {tp for offs in committed.values() for tp in offs}
        if not tps:
            return []
        ends: Mapping[Any, int] = await probe.end_offsets(list(tps))
        starts: Mapping[Any, int] = await probe.beginning_offsets(list(tps))
        rows: list[tuple[str, Any, int, int]] = []  # group, partition, position, last stable offset
        near: dict[Any, tuple[int, int]] = {}  # partition -> the range to read for exact lags
        for g, offs in sorted(committed.items()):
            for tp, pos in sorted(offs.items(), key=lambda kv: (kv[0].topic, kv[0].partition)):
                lso = int(ends[tp])
                pos = max(pos, int(starts[tp]))
                rows.append((g, tp, pos, lso))
                if 0 < lso - pos <= EXACT_LAG_UP_TO:
                    near[tp] = (min(pos, near.get(tp, (pos, lso))[0]), lso)
        data = await _data_offsets(probe, near)
        out: list[PartitionLag] = []
        for g, tp, pos, lso in rows:
            gap = max(0, lso - pos)
            if 0 < gap <= EXACT_LAG_UP_TO and tp in data:
                gap = sum(1 for offset in data[tp] if pos <= offset < lso)
            out.append(PartitionLag(g, tp.topic, tp.partition, pos, lso, gap))
        return out
    finally:
        with contextlib.suppress(Exception):  # also when a start failed (Kafka away)
            await probe.stop()
        with contextlib.suppress(Exception):
            await admin.close()


async def _data_offsets(probe: Any, ranges: Mapping[Any, tuple[int, int]]) -> dict[Any, list[int]]:
    """Partition -> the offsets of the records a read_committed consumer gets in its range
    (control records and aborted transactions skipped), every partition read at once. A
    partition not read to its end within 3 s is left out (its lag stays the upper bound)."""
    from aiokafka import TopicPartition

    if not ranges:
        return {}
    tps = {TopicPartition(tp.topic, tp.partition): (tp, start, end) for tp, (start, end) in ranges.items()}
    probe.assign(list(tps))
    for tp, (_, start, _end) in tps.items():
        probe.seek(tp, start)
    found: dict[Any, list[int]] = {tp: [] for tp in tps}
    pending = set(tps)
    deadline = time.monotonic() + 3.0
    while pending and time.monotonic() < deadline:
        # The positions move past control records too, records or not; a fetch with nothing
        # for us comes back after the timeout.
        batch = await probe.getmany(*pending, timeout_ms=100, max_records=10 * EXACT_LAG_UP_TO)
        for tp, records in batch.items():
            found[tp].extend(r.offset for r in records)
        for tp in list(pending):
            if await probe.position(tp) >= tps[tp][2]:
                pending.discard(tp)
    return {tps[tp][0]: found[tp] for tp in tps if tp not in pending}


def export_group_lags(lags: list[PartitionLag], gauge: Gauge = GROUP_LAG) -> None:
    """Replace the gauge's series with ``lags`` (a group that went away loses its series)."""
    gauge.clear()
    for pl in lags:
        gauge.labels(pl.group, pl.topic, str(pl.partition)).set(pl.lag)


def all_metric_names() -> set[str]:
    """The names of every sample this process can expose (``_total``, ``_bucket``, ... included):
    what the dashboard and alert-rule tests check queries against."""
    names: set[str] = set()
    for metric in REGISTRY.collect():
        names.add(metric.name)
        for suffix in {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count")}.get(
            metric.type, ()
        ):
            names.add(metric.name + suffix)
    return names
