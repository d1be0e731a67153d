"""The application service's consumer: MOFCOM's answers and review results (ail.submission) and
the signers' failures (ail.signer) update the application's status (``EVENT_HANDLERS``); the
customs service's license events (ail.customs) make reissue drafts and keep the license's state
(``LICENSE_EVENT_HANDLERS``)."""

from __future__ import annotations

from ail_application.adapters.repository import SCHEMA
from ail_application.service_layer.handlers import EVENT_HANDLERS, LICENSE_EVENT_HANDLERS
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared import topics
from ail_shared.consumer import EventConsumer, bind_handlers
from ail_shared.http import Runtime


def consumers(runtime: Runtime) -> list[EventConsumer]:
    # Two members of one group share the partitions: results of different applications are
    # applied concurrently, one application's in order.
    handlers = bind_handlers(EVENT_HANDLERS, UnitOfWork)
    return [
        EventConsumer(
            name="application.results",
            topics=[topics.SUBMISSION, topics.SIGNER],
            handlers=handlers,
            pool=runtime.db(),
            schema=SCHEMA,
            bootstrap=runtime.settings.kafka_bootstrap,
        )
        for _ in range(2)
    ] + [
        # The license after issue (ail.customs): reissue drafts and the license's state.
        EventConsumer(
            name="application.licenses",
            topics=[topics.CUSTOMS],
            handlers=bind_handlers(LICENSE_EVENT_HANDLERS, UnitOfWork),
            pool=runtime.db(),
            schema=SCHEMA,
            bootstrap=runtime.settings.kafka_bootstrap,
        )
    ]
