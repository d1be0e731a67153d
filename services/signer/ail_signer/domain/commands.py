"""Commands of the signer host (frozen dataclasses, imperative names; data only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ail_shared.events import Envelope, SignatureRequested

Request = tuple[Envelope, SignatureRequested]


class Command:
    """Base of the signer's commands."""


@dataclass(frozen=True)
class AnswerSignatureRequests(Command):
    """Answer a batch of requests read by consumer group ``consumer`` (its inbox)."""

    consumer: str
    requests: tuple[Request, ...]


@dataclass(frozen=True)
class AnnounceKeys(Command):
    """Say which e-keys this host holds now (the heartbeat)."""

    sent_at: datetime
