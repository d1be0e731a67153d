"""The submission service's consumers: submissions to sign, the signers' answers, and the signer
hosts' heartbeats (which e-keys are plugged in where)."""

from __future__ import annotations

import functools

from ail_shared import topics
from ail_shared.consumer import EventConsumer
from ail_shared.events import ApplicationSigned, ApplicationSubmitted, EkeyHeartbeat, SigningFailed
from ail_shared.http import Runtime
from ail_submission.adapters.repository import SCHEMA
from ail_submission.service_layer import handlers


def consumers(runtime: Runtime) -> list[EventConsumer]:
    pool, bootstrap = runtime.db(), runtime.settings.kafka_bootstrap
    sender = runtime.extra.get("sender")
    grace = getattr(runtime.settings, "ekey_grace", handlers.DEFAULT_GRACE)
    on_heartbeat = functools.partial(handlers.on_heartbeat, grace=grace)
    on_submitted = functools.partial(handlers.on_application_submitted, grace=grace)

    async def on_signed(conn, env, event):  # type: ignore[no-untyped-def]
        await handlers.on_signed(conn, env, event)
        if sender is not None:
            sender.wake.set()

    # Several members of one consumer group share the six partitions, so submissions of
    # different applications are handled concurrently (each application's events stay in order).
    members = max(1, getattr(runtime.settings, "consumer_members", 3))
    return [
        EventConsumer(
            name="submission.heartbeats",
            topics=[topics.SIGNER_HEARTBEATS],
            handlers={EkeyHeartbeat: on_heartbeat},
            pool=pool,
            schema=SCHEMA,
            bootstrap=bootstrap,
        ),
        *(
            EventConsumer(
                name="submission.applications",
                topics=[topics.APPLICATION],
                handlers={ApplicationSubmitted: on_submitted},
                pool=pool,
                schema=SCHEMA,
                bootstrap=bootstrap,
            )
            for _ in range(members)
        ),
        *(
            EventConsumer(
                name="submission.signer",
                topics=[topics.SIGNER],
                handlers={ApplicationSigned: on_signed, SigningFailed: handlers.on_signing_failed},
                pool=pool,
                schema=SCHEMA,
                bootstrap=bootstrap,
            )
            for _ in range(members)
        ),
    ]
