"""The signer's unit of work: one transaction in which the inbox claims, the audit rows
(``answers``) and the answer events (outbox) are written together. Answers go out with ids
derived from their requests' (``emit_envelope``); heartbeats with ``emit``. Tests use
``tests/unit/signer/fakes.py``'s ``FakeUnitOfWork``."""

from __future__ import annotations

import asyncpg

from ail_shared.unit_of_work import PgUnitOfWork
from ail_signer.adapters.repository import SCHEMA, AnswerRepository


class SignerUnitOfWork(PgUnitOfWork):
    schema = SCHEMA
    answers: AnswerRepository

    def bind(self, conn: asyncpg.Connection) -> None:
        self.answers = AnswerRepository(conn)
