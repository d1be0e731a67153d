"""Fakes of the signer host: a token thread that signs with fixed bytes, and a unit of work over
in-memory inbox claims, audit rows and outbox (rolled back when it leaves with an exception)."""

from __future__ import annotations

import asyncio
import base64
import copy
from dataclasses import dataclass, field
from types import TracebackType
from uuid import UUID

from ail_shared.canonical import canonical_json
from ail_shared.events import Envelope, Event, SignatureRequested, envelope_for
from ail_signer.adapters.repository import AnswerRecord
from ail_signer.domain.model import EKEY_NOT_PRESENT, KeyInfo, Refusal, Signature, SignOutcomes
from ail_signer.service_layer.host import SignerHost

HOST = "host-a"
SERIAL = "0595e1fc45691b0f"
ENTERPRISE = "1100776367555"


def key(serial: str = SERIAL) -> KeyInfo:
    return KeyInfo(
        serial=serial, label="demo", subject="CN=demo", certificate_pem="PEM", algorithm="ecdsa-p256-sha256"
    )


class FakeTokens:
    """Holds ``keys``; signs what it holds (signature = b"sig:" + payload), refuses the rest."""

    def __init__(self, *keys: KeyInfo, keys_changed: bool = False) -> None:
        self.keys = list(keys)
        self.jobs: list[tuple[str, bytes]] = []
        self.keys_changed = keys_changed
        self.fail_scan: BaseException | None = None

    async def scan(self) -> list[KeyInfo]:
        if self.fail_scan is not None:
            raise self.fail_scan
        return list(self.keys)

    def _sign(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes:
        self.jobs.extend(jobs)
        held = {k.serial for k in self.keys}
        results: list[Signature | Refusal] = [
            Signature("ecdsa-p256-sha256", b"sig:" + data, "PEM")
            if serial in held
            else Refusal(EKEY_NOT_PRESENT, f"e-key {serial} is not on this host")
            for serial, data in jobs
        ]
        return SignOutcomes(results=results, keys_changed=self.keys_changed)

    def submit(self, jobs: list[tuple[str, bytes]]) -> asyncio.Future[SignOutcomes]:
        future: asyncio.Future[SignOutcomes] = asyncio.get_running_loop().create_future()
        future.set_result(self._sign(jobs))
        return future

    async def sign_many(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes:
        return self._sign(jobs)


@dataclass
class Store:
    inbox: dict[str, set[UUID]] = field(default_factory=dict)  # consumer -> request ids applied
    records: list[AnswerRecord] = field(default_factory=list)
    outbox: list[tuple[str, Envelope]] = field(default_factory=list)

    def events(self, topic: str) -> list[Envelope]:
        return [env for t, env in self.outbox if t == topic]


class FakeAnswers:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.taken_elsewhere: set[UUID] = set()  # claimed meanwhile by another transaction
        self.fail_claims: list[BaseException | None] = []  # per claim: raised, or None: goes through
        self.claims: list[int] = []  # requests per claim (one per written batch)

    async def already_answered(self, *, consumer: str, event_ids: list[UUID]) -> set[UUID]:
        return set(event_ids) & self.store.inbox.get(consumer, set())

    async def claim(self, *, consumer: str, event_ids: list[UUID]) -> set[UUID]:
        if self.fail_claims and (failure := self.fail_claims.pop(0)) is not None:
            raise failure
        self.claims.append(len(event_ids))
        applied = self.store.inbox.setdefault(consumer, set())
        new = {i for i in event_ids if i not in applied and i not in self.taken_elsewhere}
        applied |= new
        return new

    async def record(self, records: list[AnswerRecord]) -> None:
        self.store.records.extend(records)


class FakeUnitOfWork:
    """Duck-types ``SignerUnitOfWork``: ``answers``, ``emit``, ``emit_envelope``."""

    def __init__(self, store: Store | None = None) -> None:
        self.store = store if store is not None else Store()
        self.answers = FakeAnswers(self.store)
        self.commits = 0
        self._pending: list[tuple[str, Envelope]] = []
        self._saved: Store | None = None

    def emit(self, topic: str, event: Event, *, aggregate_id: str, tenant: str) -> None:
        self._pending.append((topic, envelope_for(event, aggregate_id=aggregate_id, tenant=tenant)))

    def emit_envelope(self, topic: str, envelope: Envelope) -> None:
        self._pending.append((topic, envelope))

    async def __aenter__(self) -> FakeUnitOfWork:
        self._saved = copy.deepcopy(self.store)
        self._pending = []
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.store.outbox.extend(self._pending)
            self.commits += 1
        else:
            assert self._saved is not None
            for name in vars(self._saved):
                setattr(self.store, name, getattr(self._saved, name))
        self._pending = []


def host(tokens: FakeTokens | None = None, *, keys: list[KeyInfo] | None = None) -> SignerHost:
    h = SignerHost(host_id=HOST, tokens=tokens or FakeTokens(key()), heartbeat_ttl_seconds=15.0)
    h.keys = keys if keys is not None else [key()]
    return h


def request(
    *, app: str = "app-1", serial: str = SERIAL, signer_host: str = HOST, payload: bytes | None = None
) -> tuple[Envelope, SignatureRequested]:
    data = payload if payload is not None else canonical_json({"application_id": app, "qty": "12.5"})
    ev = SignatureRequested(
        application_id=app,
        submission_id=f"sub-{app}",
        enterprise_code=ENTERPRISE,
        ekey_serial=serial,
        canonical_payload=base64.b64encode(data).decode(),
        signer_host=signer_host,
    )
    return envelope_for(ev, aggregate_id=app, tenant=ENTERPRISE), ev
