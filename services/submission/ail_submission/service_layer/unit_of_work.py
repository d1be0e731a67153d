"""The submission service's unit of work: one transaction over its repositories; the events its
aggregates record go to the outbox in it (``ail_shared.unit_of_work``)."""

from __future__ import annotations

import asyncpg

from ail_shared import topics
from ail_shared.events import Event, SignatureRequested, SigningDeferred, SigningFailed
from ail_shared.unit_of_work import Aggregate, PgUnitOfWork
from ail_submission.adapters.repository import (
    SCHEMA,
    ApplicationRepository,
    EkeyRepository,
    OpsActionRepository,
    ReviewResultRepository,
    SubmissionRepository,
)

# The signers' conversation goes on the signer topics; everything else on ``submission``.
# A signature request is keyed by the e-key serial (the host holding it reads that partition).
SIGNER_TOPIC_OF: dict[type[Event], str] = {
    SignatureRequested: topics.SIGNER_REQUESTS,
    SigningFailed: topics.SIGNER,
    SigningDeferred: topics.SIGNER,
}


class UnitOfWork(PgUnitOfWork):
    schema = SCHEMA
    topic = topics.SUBMISSION

    submissions: SubmissionRepository
    applications: ApplicationRepository
    ekeys: EkeyRepository
    review_results: ReviewResultRepository
    ops_actions: OpsActionRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.submissions = SubmissionRepository(conn)
        self.applications = ApplicationRepository(conn)
        self.ekeys = EkeyRepository(conn)
        self.review_results = ReviewResultRepository(conn)
        self.ops_actions = OpsActionRepository(conn)

    def route(self, aggregate: Aggregate, event: Event) -> tuple[str, str]:
        return route(aggregate, event)


def route(aggregate: Aggregate, event: Event) -> tuple[str, str]:
    """(topic, key) of an event of this service's aggregates."""
    topic = SIGNER_TOPIC_OF.get(type(event), topics.SUBMISSION)
    if isinstance(event, SignatureRequested):
        return topic, event.ekey_serial
    return topic, aggregate.aggregate_id
