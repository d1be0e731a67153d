"""Fakes of the submission service for handler unit tests (no database, no Kafka, no HTTP).

``FakeUnitOfWork`` has the attributes of ``service_layer.unit_of_work.UnitOfWork`` over in-memory
repositories that behave like the SQL ones (copies in and out, so a change counts only once it is
saved; a failed unit of work restores what it found). Its events go through the real routing
(``UnitOfWork.route``) into ``published``. ``FakeMofcom`` implements the ``Mofcom`` Protocol with
queued answers; ``FakeApplicationService`` the application service's status look-up.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, TypeVar
from uuid import UUID, uuid4

from ail_shared.errors import NotFound
from ail_shared.events import Envelope, Event, HeldKey, envelope_for, parse_payload
from ail_submission.adapters.mofcom import Accepted, AttachmentFile, Outcome, Refused, Unavailable
from ail_submission.domain.certificates import enterprise_codes_of, subject_of
from ail_submission.domain.commands import Credentials
from ail_submission.domain.ekeys import Binding, PresentKey, Sighting, Unbinding
from ail_submission.domain.model import SIGNED, SIGNING, WAITING_EKEY, ApplicationView, Submission
from ail_submission.service_layer.unit_of_work import UnitOfWork

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
ENTERPRISE = "1100776367555"
SERIAL = "ee34ea9afbd4c4f0"
E = TypeVar("E", bound=Event)


class FakeClock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Presence:
    host_id: str
    serial: str
    last_seen: datetime
    ttl_seconds: float
    subject: str = ""
    label: str = ""
    algorithm: str = ""
    certificate_pem: str = ""
    enterprise_codes: tuple[str, ...] = ()
    absent_at: datetime | None = None

    def fresh(self, now: datetime) -> bool:
        return self.absent_at is None and self.last_seen + timedelta(seconds=self.ttl_seconds) > now


class FakeSubmissions:
    def __init__(self, clock: FakeClock, ekeys: FakeEkeys) -> None:
        self.rows: dict[UUID, Submission] = {}
        self.clock, self.ekeys = clock, ekeys
        self.errors: dict[UUID, str] = {}

    async def add(self, sub: Submission) -> bool:
        if sub.submission_id in self.rows:
            return False
        self.rows[sub.submission_id] = replace(sub, events=[], updated_at=self.clock())
        return True

    async def get(self, *, submission_id: UUID, for_update: bool = False) -> Submission | None:
        row = self.rows.get(submission_id)
        return None if row is None else copy.deepcopy(row)

    async def by_form(self, *, form_no: str) -> Submission | None:
        found = [s for s in self.rows.values() if s.form_no == form_no]
        return copy.deepcopy(found[0]) if found else None

    async def save(self, sub: Submission) -> None:
        assert sub.submission_id in self.rows, "save of a submission never added"
        self.rows[sub.submission_id] = replace(copy.deepcopy(sub), events=[], updated_at=self.clock())

    async def note_error(self, *, submission_id: UUID, error: str) -> None:
        self.errors[submission_id] = error
        self.rows[submission_id].last_error = error[:1000]

    async def waiting(self, *, serials: Sequence[str] | None = None, limit: int = 500) -> list[Submission]:
        rows = [
            s
            for s in self.rows.values()
            if s.state == WAITING_EKEY and (serials is None or s.ekey_serial in serials)
        ]
        rows.sort(key=lambda s: s.waiting_since or self.clock())
        return [copy.deepcopy(s) for s in rows[:limit]]

    async def in_flight(self, *, enterprise_code: str, ekey_serial: str) -> int:
        return sum(
            1
            for s in self.rows.values()
            if s.enterprise_code == enterprise_code
            and s.ekey_serial == ekey_serial
            and s.state in (SIGNING, WAITING_EKEY, SIGNED)
        )

    async def stranded(self, *, older_than_seconds: float, limit: int = 500) -> list[Submission]:
        now = self.clock()
        rows = [
            s
            for s in self.rows.values()
            if s.state == SIGNING
            and s.ekey_serial is not None
            and s.updated_at is not None
            and s.updated_at < now - timedelta(seconds=older_than_seconds)
            and not any(
                p.serial == s.ekey_serial and p.host_id == s.signer_host and p.fresh(now)
                for p in self.ekeys.presence.values()
            )
        ]
        return [copy.deepcopy(s) for s in rows[:limit]]

    async def claim_due(self, *, limit: int, lease_seconds: float) -> list[Submission]:
        now = self.clock()
        due = [
            s
            for s in sorted(self.rows.values(), key=lambda s: s.next_attempt_at or now)
            if s.state == SIGNED
            and s.next_attempt_at is not None
            and s.next_attempt_at <= now
            and (s.lease_until is None or s.lease_until < now)
        ][:limit]
        for s in due:
            s.lease_until, s.attempts, s.updated_at = (
                now + timedelta(seconds=lease_seconds),
                s.attempts + 1,
                now,
            )
        return [copy.deepcopy(s) for s in due]


class FakeApplications:
    def __init__(self) -> None:
        self.rows: dict[UUID, ApplicationView] = {}

    async def get(
        self, *, application_id: UUID, enterprise_codes: Sequence[str] | None = None, for_update: bool = False
    ) -> ApplicationView | None:
        row = self.rows.get(application_id)
        if row is None or (enterprise_codes is not None and row.enterprise_code not in enterprise_codes):
            return None
        return copy.deepcopy(row)

    async def save(self, view: ApplicationView) -> None:
        self.rows[view.application_id] = replace(copy.deepcopy(view), events=[])


class FakeEkeys:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.presence: dict[tuple[str, str], Presence] = {}
        self.bound: dict[str, Binding] = {}
        self.unbindings: dict[int, Unbinding] = {}  # in the order recorded

    async def record_heartbeat(
        self, *, host_id: str, keys: Sequence[HeldKey], sent_at: datetime, ttl: float
    ) -> None:
        listed = {k.serial for k in keys}
        for p in self.presence.values():
            if (
                p.host_id == host_id
                and p.serial not in listed
                and p.last_seen <= sent_at
                and p.absent_at is None
            ):
                p.absent_at = sent_at
        for k in keys:
            old = self.presence.get((host_id, k.serial))
            self.presence[(host_id, k.serial)] = Presence(
                host_id=host_id,
                serial=k.serial,
                last_seen=max(old.last_seen, sent_at) if old else sent_at,
                ttl_seconds=ttl,
                subject=subject_of(k.certificate_pem, k.subject),
                label=k.label,
                algorithm=k.algorithm,
                certificate_pem=k.certificate_pem,
                enterprise_codes=tuple(enterprise_codes_of(k.certificate_pem, k.subject)),
                absent_at=old.absent_at if old and old.absent_at and old.absent_at > sent_at else None,
            )

    async def serials_of_host(self, *, host_id: str) -> set[str]:
        return {p.serial for p in self.presence.values() if p.host_id == host_id and p.absent_at is None}

    async def sightings(self, *, serial: str) -> list[Sighting]:
        return [
            Sighting(
                host_id=p.host_id, last_seen=p.last_seen, ttl_seconds=p.ttl_seconds, absent_at=p.absent_at
            )
            for p in self.presence.values()
            if p.serial == serial
        ]

    async def present(self, *, enterprise_codes: Sequence[str]) -> list[PresentKey]:
        now = self.clock()
        latest: dict[str, Presence] = {}
        for p in self.presence.values():
            if p.fresh(now) and set(p.enterprise_codes) & set(enterprise_codes):
                if p.serial not in latest or latest[p.serial].last_seen < p.last_seen:
                    latest[p.serial] = p
        return [
            PresentKey(
                serial=p.serial,
                host_id=p.host_id,
                subject=p.subject,
                label=p.label,
                algorithm=p.algorithm,
                certificate_pem=p.certificate_pem,
                enterprise_codes=p.enterprise_codes,
                last_seen=p.last_seen,
            )
            for p in sorted(latest.values(), key=lambda p: p.serial)
        ]

    async def binding(self, *, enterprise_code: str) -> Binding | None:
        return self.bound.get(enterprise_code)

    async def bindings(self, *, enterprise_codes: Sequence[str]) -> list[Binding]:
        return [b for code, b in sorted(self.bound.items()) if code in enterprise_codes]

    async def bind(
        self, *, enterprise_code: str, ekey_serial: str, subject: str, certificate_pem: str, bound_by: str
    ) -> Binding:
        self.bound[enterprise_code] = Binding(
            enterprise_code=enterprise_code,
            ekey_serial=ekey_serial,
            subject=subject,
            certificate_pem=certificate_pem,
            bound_at=self.clock(),
            bound_by=bound_by,
        )
        return self.bound[enterprise_code]

    async def binding_of(
        self, *, enterprise_codes: Sequence[str], ekey_serial: str, for_update: bool = False
    ) -> Binding | None:
        found = [
            b for c, b in sorted(self.bound.items()) if c in enterprise_codes and b.ekey_serial == ekey_serial
        ]
        return found[0] if found else None

    async def unbind(self, *, binding: Binding, unbound_by: str) -> Unbinding:
        del self.bound[binding.enterprise_code]
        record = Unbinding(
            enterprise_code=binding.enterprise_code,
            ekey_serial=binding.ekey_serial,
            subject=binding.subject,
            bound_at=binding.bound_at,
            bound_by=binding.bound_by,
            unbound_at=self.clock(),
            unbound_by=unbound_by,
        )
        self.unbindings[len(self.unbindings)] = record
        return record

    async def last_unbinding(self, *, enterprise_codes: Sequence[str], ekey_serial: str) -> Unbinding | None:
        found = [
            u
            for u in self.unbindings.values()
            if u.enterprise_code in enterprise_codes and u.ekey_serial == ekey_serial
        ]
        return found[-1] if found else None


class FakeReviewResults:
    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[str, str | None, str, datetime]] = {}

    async def recorded(self, *, form_no: str) -> dict[str, tuple[str, str | None]]:
        return {stage: (r[0], r[1]) for (f, stage), r in self.rows.items() if f == form_no}

    async def add(
        self,
        *,
        form_no: str,
        stage: str,
        result: str,
        opinion: str,
        license_no: str | None,
        reviewed_at: datetime,
    ) -> bool:
        if (form_no, stage) in self.rows:
            return False
        self.rows[(form_no, stage)] = (result, license_no, opinion, reviewed_at)
        return True


class FakeOpsActions:
    def __init__(self) -> None:
        self.rows: dict[int, tuple[UUID, str, str, str]] = {}

    async def record(self, *, submission_id: UUID, action: str, reason: str, actor: str) -> None:
        self.rows[len(self.rows)] = (submission_id, action, reason, actor)


class FakeUnitOfWork(UnitOfWork):
    """The submission UnitOfWork over in-memory repositories. ``published``: (topic, envelope) of
    every committed unit, in order; ``commits``: how many committed."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        super().__init__(None)  # no database
        self.clock = clock or FakeClock()
        self.ekeys = FakeEkeys(self.clock)  # type: ignore[assignment]
        self.submissions = FakeSubmissions(self.clock, self.ekeys)  # type: ignore[assignment, arg-type]
        self.applications = FakeApplications()  # type: ignore[assignment]
        self.review_results = FakeReviewResults()  # type: ignore[assignment]
        self.ops_actions = FakeOpsActions()  # type: ignore[assignment]
        self.published: list[tuple[str, Envelope]] = []
        self.commits = 0
        self.rollbacks = 0
        self._saved: Any = None

    def _stores(self) -> tuple[Any, ...]:
        s, a, e, r = self.submissions, self.applications, self.ekeys, self.review_results
        o = self.ops_actions.rows  # type: ignore[attr-defined]
        u = e.unbindings  # type: ignore[attr-defined]
        return (s.rows, s.errors, a.rows, e.presence, e.bound, r.rows, o, u)  # type: ignore[attr-defined]

    async def __aenter__(self) -> FakeUnitOfWork:
        self._tracked, self._emitted = [], []
        self._saved = copy.deepcopy(self._stores())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            for store, saved in zip(self._stores(), self._saved, strict=True):
                store.clear()
                store.update(saved)
            self._tracked, self._emitted = [], []
            self.rollbacks += 1
            return
        self.published.extend(self.collect())
        self.commits += 1

    # -- what tests look at ---------------------------------------------------------------

    def events(self, kind: type[E]) -> list[E]:
        """The published events of ``kind``, parsed back from their envelopes."""
        return [e for _, env in self.published if isinstance(e := parse_payload(env), kind)]

    def topics_of(self, kind: type[Event]) -> list[tuple[str, str]]:
        """(topic, partition key) of each published event of ``kind``."""
        return [(t, env.aggregate_id) for t, env in self.published if env.event_type == kind.__name__]

    def submission(self, submission_id: UUID) -> Submission:
        return self.submissions.rows[submission_id]  # type: ignore[attr-defined, no-any-return]

    def ops(self) -> list[tuple[UUID, str, str, str]]:
        """The recorded operations actions: (submission id, action, reason, actor)."""
        return list(self.ops_actions.rows.values())  # type: ignore[attr-defined]

    def view(self, application_id: UUID) -> ApplicationView:
        return self.applications.rows[application_id]  # type: ignore[attr-defined, no-any-return]

    # -- state to start from --------------------------------------------------------------

    def announce(
        self,
        serial: str = SERIAL,
        *,
        host: str = "host-a",
        at: datetime | None = None,
        ttl: float = 15.0,
        **kw: Any,
    ) -> None:
        self.ekeys.presence[(host, serial)] = Presence(  # type: ignore[attr-defined]
            host_id=host,
            serial=serial,
            last_seen=at or self.clock(),
            ttl_seconds=ttl,
            enterprise_codes=kw.pop("enterprise_codes", (ENTERPRISE,)),
            subject=kw.pop("subject", f"CN=key,O={ENTERPRISE}"),
            certificate_pem=kw.pop("certificate_pem", "PEM"),
            **kw,
        )

    def bind_key(self, serial: str = SERIAL, enterprise: str = ENTERPRISE) -> None:
        self.ekeys.bound[enterprise] = Binding(  # type: ignore[attr-defined]
            enterprise_code=enterprise,
            ekey_serial=serial,
            subject="",
            certificate_pem="PEM",
            bound_at=self.clock(),
            bound_by="test",
        )

    def put(self, sub: Submission, view: ApplicationView | None = None) -> Submission:
        self.submissions.rows[sub.submission_id] = replace(sub, updated_at=sub.updated_at or self.clock())  # type: ignore[attr-defined]
        if view is not None:
            self.applications.rows[view.application_id] = view  # type: ignore[attr-defined]
        return sub


def snapshot(*, year: int = 2026, tolerance: str | None = "3", **over: Any) -> dict[str, Any]:
    snap: dict[str, Any] = {
        "enterprise_code": ENTERPRISE,
        "serial_no": "NA2600000000000001",
        "year": year,
        "commodity_code": "2709000000",
        "commodity_name": "石油原油",
        "unit": "070",
        "total_quantity": "1500.5",
        "total_value_usd": "380630.00",
        "goods": [{"quantity": "1500.5", "unit": "070"}],
        "one_batch_one_license": False,
    }
    if tolerance is not None:
        snap["overflow_tolerance_pct"] = tolerance
    snap.update(over)
    return snap


def a_submission(state: str = SIGNING, **over: Any) -> Submission:
    fields: dict[str, Any] = {
        "submission_id": uuid4(),
        "application_id": uuid4(),
        "enterprise_code": ENTERPRISE,
        "serial_no": "NA2600000000000001",
        "snapshot": snapshot(),
        "state": state,
    }
    fields.update(over)
    return Submission(**fields)


def view_of(sub: Submission, status: str = "submitting", **over: Any) -> ApplicationView:
    fields: dict[str, Any] = {
        "application_id": sub.application_id,
        "enterprise_code": sub.enterprise_code,
        "submission_id": sub.submission_id,
        "status": status,
    }
    fields.update(over)
    return ApplicationView(**fields)


def env_of(event: Event) -> Envelope:
    return envelope_for(event, aggregate_id="test", tenant=ENTERPRISE)


@dataclass
class FakeMofcom:
    """The ``Mofcom`` Protocol with queued answers per call (the last answer repeats)."""

    submits: list[Outcome] = field(default_factory=lambda: [Accepted("26110077636755500001", T0)])
    registrations: list[Accepted | Refused | Unavailable] = field(default_factory=lambda: [Accepted("", T0)])
    statuses: list[dict[str, Any] | Refused | Unavailable] = field(default_factory=lambda: [{"results": []}])
    withdrawals: list[Accepted | Refused | Unavailable] = field(default_factory=lambda: [Accepted("", T0)])
    revokes: list[dict[str, Any] | Refused | Unavailable] = field(
        default_factory=lambda: [{"revoked_at": "2026-11-20T03:00:00+00:00"}]
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    @staticmethod
    def _next(queue: list[Any]) -> Any:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    def called(self, name: str) -> list[dict[str, Any]]:
        return [kw for n, kw in self.calls if n == name]

    async def submit(
        self,
        *,
        idempotency_key: str,
        application_id: str,
        enterprise_code: str,
        ekey_serial: str,
        payload_b64: str,
        signature: str,
        algorithm: str,
        attachments: Sequence[AttachmentFile] = (),
    ) -> Outcome:
        self.calls.append(
            (
                "submit",
                {
                    "attachments": list(attachments),
                    "idempotency_key": idempotency_key,
                    "application_id": application_id,
                    "enterprise_code": enterprise_code,
                    "ekey_serial": ekey_serial,
                    "payload_b64": payload_b64,
                    "signature": signature,
                    "algorithm": algorithm,
                },
            )
        )
        answer: Outcome = self._next(self.submits)
        return answer

    async def register_certificate(
        self, *, enterprise_code: str, ekey_serial: str, certificate_pem: str
    ) -> Accepted | Refused | Unavailable:
        self.calls.append(
            (
                "register_certificate",
                {
                    "enterprise_code": enterprise_code,
                    "ekey_serial": ekey_serial,
                    "certificate_pem": certificate_pem,
                },
            )
        )
        answer: Accepted | Refused | Unavailable = self._next(self.registrations)
        return answer

    async def withdraw_certificate(
        self, *, enterprise_code: str, ekey_serial: str
    ) -> Accepted | Refused | Unavailable:
        self.calls.append(
            ("withdraw_certificate", {"enterprise_code": enterprise_code, "ekey_serial": ekey_serial})
        )
        answer: Accepted | Refused | Unavailable = self._next(self.withdrawals)
        return answer

    async def status(self, *, form_no: str) -> dict[str, Any] | Refused | Unavailable:
        self.calls.append(("status", {"form_no": form_no}))
        answer: dict[str, Any] | Refused | Unavailable = self._next(self.statuses)
        return answer

    async def revoke(self, *, form_no: str, reason: str = "") -> dict[str, Any] | Refused | Unavailable:
        self.calls.append(("revoke", {"form_no": form_no, "reason": reason}))
        answer: dict[str, Any] | Refused | Unavailable = self._next(self.revokes)
        return answer


@dataclass
class FakeApplicationService:
    """The application service's answer for applications this service never saw."""

    statuses: dict[UUID, str] = field(default_factory=dict)
    asked: list[tuple[UUID, Credentials]] = field(default_factory=list)
    # (application id, attachment id) -> bytes, or an exception to raise
    files: dict[tuple[UUID, str], bytes | Exception] = field(default_factory=dict)

    async def attachment(self, *, application_id: UUID, attachment_id: str, enterprise_code: str) -> bytes:
        found = self.files.get((application_id, attachment_id))
        if found is None:
            raise NotFound(f"attachment {attachment_id} not found")
        if isinstance(found, Exception):
            raise found
        return found

    async def status(self, *, application_id: UUID, credentials: Credentials) -> str:
        self.asked.append((application_id, credentials))
        if application_id not in self.statuses:
            raise NotFound(f"application {application_id} not found")
        return self.statuses[application_id]
