"""The application service's consumer: MOFCOM's answers and review results (ail.submission) and
the signers' failures (ail.signer) update the application's status."""

from __future__ import annotations

from ail_application.adapters.repository import SCHEMA
from ail_application.service_layer.results import EVENT_HANDLERS
from ail_shared import topics
from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime


def consumers(runtime: Runtime) -> list[EventConsumer]:
    # Two members of one group share the partitions: results of different applications are
    # applied concurrently, one application's in order.
    return [
        EventConsumer(
            name="application.results",
            topics=[topics.SUBMISSION, topics.SIGNER],
            handlers=dict(EVENT_HANDLERS),
            pool=runtime.db(),
            schema=SCHEMA,
            bootstrap=runtime.settings.kafka_bootstrap,
        )
        for _ in range(2)
    ]
