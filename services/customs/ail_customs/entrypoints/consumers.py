"""Consumer wiring of the customs service: ``ail.submission`` into ``EVENT_HANDLERS``, each event
with a unit of work on the consumer's transaction (which holds the inbox record)."""

from __future__ import annotations

from ail_customs.adapters.repository import SCHEMA
from ail_customs.deps import Deps
from ail_customs.service_layer.handlers import EVENT_HANDLERS
from ail_shared import topics
from ail_shared.consumer import EventConsumer, bind_handlers


def consumers(deps: Deps) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="customs.intake",
            topics=[topics.SUBMISSION],
            handlers=bind_handlers(EVENT_HANDLERS, deps.uow),
            pool=deps.runtime.db(),
            schema=SCHEMA,
            bootstrap=deps.settings.kafka_bootstrap,
            # A license issued is due for delivery to Customs: the worker goes at once.
            on_applied=deps.delivery.wake,
        )
    ]
