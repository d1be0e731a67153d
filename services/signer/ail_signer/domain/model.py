"""What the signer decides, with no I/O: which requests are ours, whether the bytes are the
canonical form they claim to be, and what the answer to a request is.

Reason codes of ``SigningFailed`` (the submission service maps them to what the applicant sees):

* ``ekey_not_present`` - this host does not hold the e-key (token removed, or never here);
* ``pin_incorrect``    - the token refused the configured PIN (we stop trying, so as not to
  lock the token, until it is removed and inserted again or the PIN is changed);
* ``token_error``      - the token failed to sign, or its signature did not verify;
* ``payload_invalid``  - not base64, an unknown canonicalization, not JSON, or not canonical.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Literal
from uuid import UUID, uuid5

from ail_shared.canonical import CANONICALIZATION, CanonicalFormError, recanonicalize
from ail_shared.events import ApplicationSigned, HeldKey, SignatureRequested, SigningFailed

EKEY_NOT_PRESENT = "ekey_not_present"
PIN_INCORRECT = "pin_incorrect"
TOKEN_ERROR = "token_error"
PAYLOAD_INVALID = "payload_invalid"

# Answers get an id derived from the request's id, so that signing one request twice (a crash
# between signing and commit, a redelivery) can only ever yield one event id.
ANSWER_NAMESPACE = UUID("7d1c3c0e-6a53-4c53-9d1e-5b9f1f0a4e11")

KeyStatus = Literal["ready", "pin_incorrect"]


def answer_event_id(request_event_id: UUID) -> UUID:
    return uuid5(ANSWER_NAMESPACE, str(request_event_id))


@dataclass(frozen=True)
class KeyInfo:
    """An e-key found on this host: the token serial is the e-key serial."""

    serial: str
    label: str
    subject: str
    certificate_pem: str
    algorithm: str
    status: KeyStatus = "ready"

    def held_key(self) -> HeldKey:
        return HeldKey(
            serial=self.serial,
            label=self.label,
            subject=self.subject,
            certificate_pem=self.certificate_pem,
            algorithm=self.algorithm,
        )


@dataclass(frozen=True)
class Refusal:
    reason: str
    detail: str


@dataclass(frozen=True)
class Signature:
    algorithm: str
    value: bytes
    certificate_pem: str


@dataclass
class SignOutcomes:
    results: list[Signature | Refusal]
    keys_changed: bool = False  # a token vanished while signing: announce it now


def is_for_host(request: SignatureRequested, host_id: str, held_serials: set[str]) -> bool:
    """A request names the host that announced the key; one without a host goes to whoever
    holds the key. Every other host ignores it."""
    if request.signer_host:
        return request.signer_host == host_id
    return request.ekey_serial in held_serials


def payload_to_sign(request: SignatureRequested) -> bytes | Refusal:
    """The canonical bytes of the request, or why they cannot be signed."""
    if request.canonicalization != CANONICALIZATION:
        return Refusal(
            PAYLOAD_INVALID,
            f"canonicalization {request.canonicalization!r} is not supported; use {CANONICALIZATION}",
        )
    try:
        raw = base64.b64decode(request.canonical_payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        return Refusal(PAYLOAD_INVALID, f"canonical_payload is not base64: {exc}")
    try:
        canonical = recanonicalize(raw)
    except CanonicalFormError as exc:
        return Refusal(PAYLOAD_INVALID, f"canonical_payload: {exc}")
    if canonical != raw:
        return Refusal(
            PAYLOAD_INVALID,
            f"canonical_payload is JSON but not in {CANONICALIZATION} form; canonicalise it first",
        )
    return raw


def signed(request: SignatureRequested, signature: Signature, host_id: str) -> ApplicationSigned:
    return ApplicationSigned(
        application_id=request.application_id,
        submission_id=request.submission_id,
        ekey_serial=request.ekey_serial,
        algorithm=signature.algorithm,
        signature=base64.b64encode(signature.value).decode("ascii"),
        certificate_pem=signature.certificate_pem,
        signer_host=host_id,
    )


def failed(request: SignatureRequested, refusal: Refusal) -> SigningFailed:
    return SigningFailed(
        application_id=request.application_id,
        submission_id=request.submission_id,
        ekey_serial=request.ekey_serial,
        reason=refusal.reason,
        detail=refusal.detail,
    )


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
