"""The event envelope and the core events of the platform.

Every Kafka message value is one :class:`Envelope` as UTF-8 JSON. ``aggregate_id`` (the application
id) is also the message key, so one application's events keep their order on one partition.

Versioning: ``schema_version`` is ``"MAJOR.MINOR"``. A minor version only adds optional fields, so
any consumer reads it (unknown fields are ignored). A new major version changes meaning; a consumer
upcasts older majors through ``UPCASTERS`` and refuses newer ones (dead-letter topic).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar, Literal
from uuid import UUID, uuid4

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ail_shared.errors import UndecodableEvent, UnsupportedSchemaVersion


def utcnow() -> datetime:
    return datetime.now(UTC)


class Event(BaseModel):
    """Base of every event payload: frozen data, named in the past tense."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    SCHEMA_MAJOR: ClassVar[int] = 1
    SCHEMA_MINOR: ClassVar[int] = 0

    @classmethod
    def schema_version(cls) -> str:
        return f"{cls.SCHEMA_MAJOR}.{cls.SCHEMA_MINOR}"


class Envelope(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_id: UUID
    event_type: str
    schema_version: str = Field(pattern=r"^\d+\.\d+$")
    occurred_at: datetime
    aggregate_id: str
    tenant: str
    trace_context: dict[str, str] = Field(default_factory=dict)
    payload: dict[str, Any]

    @property
    def major(self) -> int:
        return int(self.schema_version.split(".", 1)[0])

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()


# ---------------------------------------------------------------- core events


class ApplicationSubmitted(Event):
    application_id: str
    serial_no: str
    enterprise_code: str
    submission_id: str
    submitted_by: str = ""
    snapshot: dict[str, Any]


class SignatureRequested(Event):
    application_id: str
    submission_id: str
    enterprise_code: str
    ekey_serial: str
    canonical_payload: str  # base64 of the canonical bytes to sign
    canonicalization: str = "RFC8785-JCS"
    signer_host: str = ""  # the host that announced the key; only it acts on the request


class ApplicationSigned(Event):
    application_id: str
    submission_id: str
    ekey_serial: str
    algorithm: str
    signature: str  # base64
    certificate_pem: str
    signer_host: str = ""


class HeldKey(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    serial: str  # the token serial (e-key serial)
    label: str = ""
    subject: str = ""
    certificate_pem: str = ""
    algorithm: str = ""


class EkeyHeartbeat(Event):
    """A signer host says which e-keys are plugged in right now. Key: host id."""

    host_id: str
    keys: list[HeldKey] = Field(default_factory=list)
    sent_at: datetime
    ttl_seconds: float = 15.0


class SigningFailed(Event):
    application_id: str
    submission_id: str
    ekey_serial: str = ""
    reason: str  # machine code, e.g. ekey_not_present
    detail: str = ""


class SigningDeferred(Event):
    """The submission waits for its e-key: no signer host announces it right now (issue 10, item
    3). Not a failure; the application stays ``submitting`` with this reason and goes on by
    itself when a host announces the key, or fails with ``ekey_not_present`` at ``give_up_at``."""

    application_id: str
    submission_id: str
    ekey_serial: str
    reason: str = "waiting_for_ekey"
    detail: str = ""
    give_up_at: datetime | None = None


class SubmissionAccepted(Event):
    application_id: str
    submission_id: str
    form_no: str
    applied_at: datetime


class SubmissionRejected(Event):
    application_id: str
    submission_id: str
    reason: str
    detail: str = ""


class SubmissionDelayed(Event):
    """MOFCOM did not answer the sending of a signed submission; it is sent again at
    ``next_attempt_at`` (issue 13, item 9). Not a failure: the application stays ``submitting``
    and says so. Announced at the first failed attempt, then every few attempts or when the kind
    of error changes, so the history is not flooded (``ail_submission.domain.model``)."""

    application_id: str
    submission_id: str
    reason: str = "mofcom_unreachable"
    detail: str = ""  # e.g. "MOFCOM unreachable, attempt 5, next at 2026-12-01T08:00:05Z (HTTP 503)"
    attempt: int
    next_attempt_at: datetime
    error: str = ""


class ApplicationSummary(BaseModel):
    """What downstream readers (statistics, customs) need of an application, carried in review
    and license events so that no service reads another's tables."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    enterprise_code: str
    serial_no: str
    year: int
    commodity_code: str
    commodity_name: str = ""
    unit: str = ""
    total_quantity: Decimal = Decimal(0)
    total_value_usd: Decimal = Decimal(0)
    trade_mode: str = ""
    trade_country: str = ""
    issuing_agency: str = ""
    one_batch_one_license: bool = False
    # Commodity category of the commodity code table; empty: readers derive one (stats: HS chapter).
    commodity_category: str = ""
    # The catalogue's commodity grouping (商品统计方式, e.g. 矿产品); empty in events written
    # before it was carried (the statistics then count them under no grouping).
    commodity_grouping: str = ""
    # A change or extension (issue 15): the license it replaces; statistics do not count its goods
    # a second time (docs/stats.md).
    replaces_license_no: str = ""


class ReviewResultReceived(Event):
    application_id: str
    form_no: str
    stage: Literal["first", "second"]
    result: Literal["passed", "rejected"]
    opinion: str = ""
    license_no: str | None = None
    reviewed_at: datetime
    # Filled on every review result; the statistics service counts second-review passes.
    application: ApplicationSummary | None = None

    # 1.1: ``application.commodity_grouping`` (the catalogue's 商品统计方式), the catalogue's
    # category in ``application.commodity_category``, and ``application.replaces_license_no`` (a
    # change or extension); all "" in 1.0 payloads.
    SCHEMA_MINOR: ClassVar[int] = 1


class ApplicationRevoked(Event):
    application_id: str
    form_no: str | None = None
    revoked_at: datetime
    reason: str = ""


class LicenseIssued(Event):
    application_id: str
    enterprise_code: str
    form_no: str
    license_no: str
    issued_at: datetime
    valid_until: date
    commodity_code: str
    commodity_name: str = ""
    unit: str = ""
    quantity: Decimal
    one_batch_one_license: bool
    # 1.1: the overflow tolerance of the goods in percent, from the catalogue snapshot (DOMAIN 9:
    # 5 for bulk goods, 3 for crude oil, refined oil, fertiliser, steel). None: the reader decides
    # (the customs service falls back to its HS-prefix table).
    overflow_tolerance_pct: Decimal | None = None
    # 1.2: a change or extension (变更 / 延期) names the license it replaces (the new license's
    # remarks); the customs service cancels that one when this one is issued. ``max_uses``: the
    # declarations this license allows, when fewer than its kind's (a replacement takes over only
    # the old license's remaining uses); None: 1 for one batch one license, else 6.
    replaces_license_no: str | None = None
    max_uses: int | None = None

    SCHEMA_MINOR: ClassVar[int] = 2


class EkeyBound(Event):
    """An enterprise bound an e-key for signing its submissions. Key: enterprise code. The
    application service keeps its own copy to check the submit precondition."""

    enterprise_code: str
    ekey_serial: str
    certificate_pem: str = ""
    subject: str = ""
    bound_at: datetime
    bound_by: str = ""


class EkeyUnbound(Event):
    """An enterprise withdrew its e-key binding (DELETE /api/v1/ekey-bindings/{serial}); MOFCOM
    was told the certificate is withdrawn. Key: enterprise code. ``bound_at`` names the binding
    it ends, so a replica drops only that one (never a newer binding of the same enterprise)."""

    enterprise_code: str
    ekey_serial: str
    bound_at: datetime
    unbound_at: datetime
    unbound_by: str = ""


class CustomsStored(Event):
    application_id: str
    license_no: str
    result: Literal["stored", "store_failed", "send_failed"]
    detail: str = ""
    attempt: int = 1


class ClearanceLine(BaseModel):
    model_config = ConfigDict(frozen=True)
    line_no: int
    commodity_code: str
    quantity: Decimal
    unit: str = ""


class ClearanceRecorded(Event):
    application_id: str
    license_no: str
    declaration_no: str
    declared_at: datetime
    port: str
    quantity: Decimal
    lines: list[ClearanceLine] = Field(default_factory=list)


class ClearanceReversed(Event):
    application_id: str
    license_no: str
    declaration_no: str
    kind: Literal["amended", "invalidated"]
    quantity: Decimal
    reversed_at: datetime


class ClearanceRefused(Event):
    """Customs reported a declaration that the license ledger cannot cover (expired, uses or
    quantity exhausted, over the tolerance). Recorded with the reason; nothing is deducted."""

    application_id: str
    license_no: str
    declaration_no: str
    declared_at: datetime
    quantity: Decimal
    reason: str  # machine code, e.g. uses_exhausted
    detail: str = ""


# ------------------------------------------------ the license after issue (ail_shared.licenses)
# Published by the customs service, which owns license state, on ail.customs (key: the
# application id of the license). Each is a transition out of ``valid``, but for
# ``LicenseReopened`` (used up -> valid, after a use given back); a license in a final state
# never changes again, so a replayed or duplicate event changes nothing.


class LicenseUsedUp(Event):
    application_id: str
    license_no: str
    used_quantity: Decimal
    uses: int
    used_up_at: datetime


class LicenseReopened(Event):
    """A used-up license valid again: Customs gave a use back (a declaration amended or
    invalidated), so the ledger's balance covers more goods; ``used_quantity`` and ``uses`` are
    the ledger's after the reversal. The one transition into ``valid`` (``used_up`` is the only
    state the ledger computes)."""

    application_id: str
    license_no: str
    declaration_no: str
    used_quantity: Decimal
    uses: int
    reopened_at: datetime


class LicenseSurrendered(Event):
    """An unused license handed back (交回) within its validity, with the applicant's reason."""

    application_id: str
    license_no: str
    reason: str
    surrendered_by: str = ""
    surrendered_at: datetime
    unused_quantity: Decimal


class LicenseCancelled(Event):
    """``reason`` (``ail_shared.licenses.CancelReason``): ``replaced`` (``replaced_by`` names the
    new license) or ``mofcom`` (the authority cancelled it; ``detail`` says why)."""

    application_id: str
    license_no: str
    reason: str
    detail: str = ""
    replaced_by: str | None = None
    cancelled_at: datetime
    unused_quantity: Decimal


class LicenseExpired(Event):
    """Not used up by ``valid_until`` (a China date): lapsed, with what was left unused."""

    application_id: str
    license_no: str
    valid_until: date
    unused_quantity: Decimal
    expired_at: datetime


class LicenseReissueRequested(Event):
    """The applicant asked for a change or extension of a valid license: the application service
    makes the draft ``new_application_id`` (a copy of ``application_id``) limited to ``quantity``
    and ``uses`` (``ail_shared.licenses.replacement_allowance``)."""

    application_id: str
    license_no: str
    new_application_id: str
    enterprise_code: str
    quantity: Decimal
    uses: int
    requested_by: str = ""
    requested_at: datetime


class CustomsCancellationStored(Event):
    """Customs acknowledged (or not yet) the cancellation of a license."""

    application_id: str
    license_no: str
    result: Literal["stored", "send_failed"]
    detail: str = ""


class LicenseCancellationReceived(Event):
    """MOFCOM cancelled an issued license (its signed callback, relayed by the submission service
    on ail.submission); the customs service cancels it (reason ``mofcom``)."""

    application_id: str
    license_no: str
    reason: str = ""
    cancelled_at: datetime


EVENT_TYPES: dict[str, type[Event]] = {
    cls.__name__: cls
    for cls in (
        ApplicationSubmitted,
        SignatureRequested,
        ApplicationSigned,
        EkeyHeartbeat,
        SigningFailed,
        SigningDeferred,
        SubmissionAccepted,
        SubmissionRejected,
        SubmissionDelayed,
        ReviewResultReceived,
        ApplicationRevoked,
        LicenseIssued,
        EkeyBound,
        EkeyUnbound,
        CustomsStored,
        ClearanceRecorded,
        ClearanceReversed,
        ClearanceRefused,
        LicenseUsedUp,
        LicenseSurrendered,
        LicenseCancelled,
        LicenseExpired,
        LicenseReissueRequested,
        CustomsCancellationStored,
        LicenseCancellationReceived,
        LicenseReopened,
    )
}

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
# (event_type, from_major) -> function turning a payload of that major into the next major.
UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def register_event(cls: type[Event]) -> type[Event]:
    """Register a service-specific event type (usable as a class decorator)."""
    EVENT_TYPES[cls.__name__] = cls
    return cls


def envelope_for(
    event: Event,
    *,
    aggregate_id: str,
    tenant: str,
    event_id: UUID | None = None,
    occurred_at: datetime | None = None,
    trace_context: dict[str, str] | None = None,
) -> Envelope:
    return Envelope(
        event_id=event_id or uuid4(),
        event_type=type(event).__name__,
        schema_version=event.schema_version(),
        occurred_at=occurred_at or utcnow(),
        aggregate_id=aggregate_id,
        tenant=tenant,
        trace_context=trace_context or {},
        payload=json.loads(event.model_dump_json()),
    )


def decode_envelope(raw: bytes | None) -> Envelope:
    """Parse a message value; raise UndecodableEvent naming what is wrong."""
    if raw is None:
        raise UndecodableEvent("message has no value")
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableEvent(f"value is not JSON: {exc}") from exc
    try:
        return Envelope.model_validate(data)
    except ValidationError as exc:
        raise UndecodableEvent(f"not a valid envelope: {_errors(exc)}") from exc


def parse_payload(envelope: Envelope) -> Event:
    """Turn an envelope into its typed event, upcasting older majors.

    Raises UnsupportedSchemaVersion for a major newer than ours, UndecodableEvent for an
    unknown type or a payload that does not fit the model.
    """
    cls = EVENT_TYPES.get(envelope.event_type)
    if cls is None:
        raise UndecodableEvent(f"unknown event_type {envelope.event_type!r}")
    major = envelope.major
    if major > cls.SCHEMA_MAJOR:
        raise UnsupportedSchemaVersion(
            f"{envelope.event_type} schema_version {envelope.schema_version}: this consumer "
            f"understands major {cls.SCHEMA_MAJOR} and older"
        )
    payload = dict(envelope.payload)
    while major < cls.SCHEMA_MAJOR:
        upcast = UPCASTERS.get((envelope.event_type, major))
        if upcast is None:
            raise UnsupportedSchemaVersion(
                f"{envelope.event_type} schema_version {envelope.schema_version}: no upcaster "
                f"from major {major}"
            )
        payload = upcast(payload)
        major += 1
    try:
        return cls.model_validate(payload)
    except ValidationError as exc:
        raise UndecodableEvent(f"{envelope.event_type} payload invalid: {_errors(exc)}") from exc


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '<root>'}: {e['msg']}" for e in exc.errors())
