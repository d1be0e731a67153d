"""The topic table: names, partitions, keys, producers and consumers. ``python -m
ail_shared.topics`` creates any topic that is missing (and its dead-letter topic).

docs/architecture.md shows the same table; tests/unit/shared/test_auth_and_misc.py keeps them in step.
"""

from __future__ import annotations

import asyncio
import os
import sys
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError


@dataclass(frozen=True)
class Topic:
    name: str
    partitions: int
    key: str
    producers: str
    consumers: str
    events: str
    compacted: bool = False
    dead_letter: bool = True


APPLICATION = "ail.application"
SUBMISSION = "ail.submission"
SIGNER_REQUESTS = "ail.signer.requests"
SIGNER = "ail.signer"
SIGNER_HEARTBEATS = "ail.signer.heartbeats"
CUSTOMS = "ail.customs"

TOPICS: tuple[Topic, ...] = (
    Topic(APPLICATION, 6, "application id", "application", "submission, status", "ApplicationSubmitted"),
    Topic(
        SUBMISSION,
        6,
        "application id",
        "submission",
        "application, status, customs, stats",
        "SubmissionAccepted, SubmissionRejected, ReviewResultReceived, ApplicationRevoked, LicenseIssued, "
        "EkeyBound, EkeyUnbound (key: enterprise code), LicenseCancellationReceived, SubmissionDelayed",
    ),
    Topic(SIGNER_REQUESTS, 6, "e-key serial", "submission", "signer", "SignatureRequested"),
    Topic(
        SIGNER,
        6,
        "application id",
        "signer; submission (SigningFailed ekey_not_present / ekey_not_bound; SigningDeferred)",
        "submission, application, status",
        "ApplicationSigned, SigningFailed, SigningDeferred",
    ),
    Topic(SIGNER_HEARTBEATS, 3, "signer host id", "signer", "submission", "EkeyHeartbeat"),
    Topic(
        CUSTOMS,
        6,
        "application id",
        "customs",
        "status, application",
        "CustomsStored, ClearanceRecorded, ClearanceReversed, ClearanceRefused, LicenseUsedUp,"
        " LicenseSurrendered, LicenseCancelled, LicenseExpired, LicenseReissueRequested,"
        " CustomsCancellationStored, LicenseReopened",
    ),
    # faust's own changelog topics of the statistics service (app id "ail-stats"); created here
    # as well so that they exist, with their partitions, before the stats worker first writes.
    Topic(
        "ail-stats-approvals-changelog",
        6,
        "application id (JSON)",
        "stats (faust table approvals)",
        "stats (table recovery)",
        "source position of the approval that counted",
        compacted=True,
        dead_letter=False,
    ),
    Topic(
        "ail-stats-figures-changelog",
        6,
        "[partition, enterprise, month, agency, trade mode, country, commodity, unit] (JSON)",
        "stats (faust table figures)",
        "stats (table recovery)",
        "quantity, amount, count, offset watermark",
        compacted=True,
        dead_letter=False,
    ),
    Topic(
        "ail.outbox-relay.state",
        1,
        "schema",
        "every outbox relay",
        "outbox relay (on start)",
        "last committed batch of outbox ids",
        compacted=True,
        dead_letter=False,
    ),
)


def all_topic_names() -> list[str]:
    names = []
    for t in TOPICS:
        names.append(t.name)
        if t.dead_letter:
            names.append(f"{t.name}.dlt")
    return names


async def ensure_topics(bootstrap: str, extra: tuple[Topic, ...] = ()) -> list[str]:
    """Create missing topics; return the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted: list[NewTopic] = []
        for t in (*TOPICS, *extra):
            config = (
                {"cleanup.policy": "compact", "segment.ms": "600000", "min.cleanable.dirty.ratio": "0.1"}
                if t.compacted
                else {}
            )
            if t.name not in existing:
                wanted.append(NewTopic(t.name, t.partitions, 1, topic_configs=config))
            if t.dead_letter and f"{t.name}.dlt" not in existing:
                wanted.append(
                    NewTopic(f"{t.name}.dlt", 1, 1, topic_configs={"retention.ms": str(30 * 86400 * 1000)})
                )
        created = []
        for nt in wanted:
            try:
                await admin.create_topics([nt])
                created.append(nt.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        await admin.close()


def main() -> int:
    bootstrap = os.environ.get("AIL_KAFKA_BOOTSTRAP")
    if not bootstrap:
        print("AIL_KAFKA_BOOTSTRAP is not set (source .devstack/<profile>/env)", file=sys.stderr)
        return 2
    created = asyncio.run(ensure_topics(bootstrap))
    print(f"[topics] created: {', '.join(created) if created else 'none (all present)'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
