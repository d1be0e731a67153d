"""The submission service's consumers: submissions to sign, the signers' answers, and the signer
hosts' heartbeats (which e-keys are plugged in where). Wiring only: the handlers are
``service_layer.handlers.EVENT_HANDLERS``, each given a unit of work on the consumer's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ail_shared import topics
from ail_shared.consumer import EventConsumer, bind_handlers
from ail_shared.events import ApplicationSigned, ApplicationSubmitted, EkeyHeartbeat, SigningFailed
from ail_shared.http import Runtime
from ail_submission.adapters.repository import SCHEMA
from ail_submission.service_layer.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ail_submission.bootstrap import Deps


def consumers(runtime: Runtime, *, deps: Deps) -> list[EventConsumer]:
    pool, bootstrap = runtime.db(), runtime.settings.kafka_bootstrap
    handlers = bind_handlers(deps.event_handlers(), UnitOfWork)

    def consumer(
        name: str, topic: str, *types: type, on_applied: Callable[[], None] | None = None
    ) -> EventConsumer:
        return EventConsumer(
            name=name,
            topics=[topic],
            handlers={t: handlers[t] for t in types},
            pool=pool,
            schema=SCHEMA,
            bootstrap=bootstrap,
            on_applied=on_applied,
        )

    # Several members of one consumer group share the six partitions, so submissions of
    # different applications are handled concurrently (each application's events stay in order).
    members = max(1, deps.settings.consumer_members)
    return [
        consumer("submission.heartbeats", topics.SIGNER_HEARTBEATS, EkeyHeartbeat),
        *(
            consumer("submission.applications", topics.APPLICATION, ApplicationSubmitted)
            for _ in range(members)
        ),
        *(
            # A signature applied makes its submission due: the sender goes once it is committed.
            consumer(
                "submission.signer",
                topics.SIGNER,
                ApplicationSigned,
                SigningFailed,
                on_applied=deps.wake_sender,
            )
            for _ in range(members)
        ),
    ]
