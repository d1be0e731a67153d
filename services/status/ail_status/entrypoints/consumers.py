"""Consumer wiring of the status service: the lifecycle consumer group applies
``service_layer.handlers.EVENT_HANDLERS``, each event in a unit of work on the consumer's
transaction (with its inbox record)."""

from __future__ import annotations

from ail_shared import topics
from ail_shared.consumer import EventConsumer, bind_handlers
from ail_status.adapters.repository import SCHEMA
from ail_status.service_layer.deps import Deps
from ail_status.service_layer.handlers import EVENT_HANDLERS

LIFECYCLE_TOPICS = [topics.APPLICATION, topics.SUBMISSION, topics.SIGNER, topics.CUSTOMS]


def lifecycle_consumers(deps: Deps) -> list[EventConsumer]:
    """``AIL_LIFECYCLE_CONSUMERS`` members of one consumer group in this process: they split the
    partitions, so one's commit wait overlaps another's work."""
    settings = deps.settings
    handlers = bind_handlers(EVENT_HANDLERS, deps.uow)
    return [
        EventConsumer(
            name="status.lifecycle",
            topics=LIFECYCLE_TOPICS,
            handlers=handlers,
            pool=deps.pool,
            schema=SCHEMA,
            bootstrap=settings.kafka_bootstrap,
        )
        for _ in range(settings.lifecycle_consumers)
    ]
