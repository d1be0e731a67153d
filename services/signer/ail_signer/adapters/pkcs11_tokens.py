"""The e-keys behind PKCS#11 (python-pkcs11): find the tokens, log in, sign, verify.

Every method here blocks and must run on one thread at a time (``TokenWorker`` gives it a
thread of its own): a PKCS#11 session is not to be shared by concurrent calls, and
re-initialising the library must not race a signature.

Signing. ECDSA keys: SHA-256 in software, then ``CKM_ECDSA`` on the token (SoftHSM2 has no
``CKM_ECDSA_SHA256``); the token's raw ``r || s`` becomes DER. RSA keys: ``CKM_SHA256_RSA_PKCS``.
Every signature is verified in software (``cryptography``) against the certificate read from
the token before it leaves, so a token that signs with a key other than its certificate's is
caught (at scan time a self-test does the same).

Removal and insertion. A removed token shows up as errors on its session or on
``C_GetTokenInfo`` (SoftHSM2: ``CKR_GENERAL_ERROR`` / ``CKR_OBJECT_HANDLE_INVALID``; a USB token:
``CKR_DEVICE_REMOVED`` / ``CKR_TOKEN_NOT_PRESENT``); the key is then reported absent. A token
that comes back is found by the next scan. SoftHSM2 reads its token directory only in
``C_Initialize``, so with ``reinitialize_on_scan`` (the default) every scan finalises and
re-initialises the library and opens fresh sessions (about 2 ms a token here); a vendor module
that reports insertion through ``C_GetSlotList`` can turn that off.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pkcs11
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import PinExpired, PinIncorrect, PinLocked, PKCS11Error, UserAlreadyLoggedIn

from ail_shared.logging import get_logger
from ail_shared.signatures import ECDSA_P256_SHA256, RSA_PKCS1V15_SHA256
from ail_signer.domain.model import (
    EKEY_NOT_PRESENT,
    PIN_INCORRECT,
    TOKEN_ERROR,
    KeyInfo,
    Refusal,
    Signature,
    SignOutcomes,
    digest,
)

log = get_logger("ail.signer.tokens")
PROBE = b"ail-signer self-test"
# A key held before and missed by a scan is looked for again after each of these pauses
# (seconds) before it is reported absent (see Pkcs11Tokens.scan).
CONFIRM_DELAYS = (0.05, 0.1, 0.2, 0.4)


@dataclass
class _OpenKey:
    info: KeyInfo
    slot: Any
    session: Any
    private_key: Any
    key_type: KeyType
    public_key: Any  # cryptography public key from the certificate


@dataclass
class Pkcs11Tokens:
    module_path: str
    pin_for: Callable[[str], str]
    reinitialize_on_scan: bool = True
    _lib: Any = None
    _open: dict[str, _OpenKey] = field(default_factory=dict)
    _refused: dict[str, KeyInfo] = field(default_factory=dict)  # PIN refused: do not retry
    _closed: bool = False

    # ------------------------------------------------------------------ scanning

    def scan(self) -> list[KeyInfo]:
        """The keys on the tokens present now (ready ones and those whose PIN was refused).

        A key held before that this look misses is looked for again (after each pause of
        ``CONFIRM_DELAYS``) before it is reported absent. SoftHSM2 keeps each token in files
        that every process using it reads and writes, so a process that re-initialises while
        another is at them misses a token now and then (``GeneralError`` on login, or no slot):
        1 scan in 8 with two processes on one token directory, both scanning flat out (see
        tests/integration/signer/test_shared_tokens.py). One miss is not a removal; a token
        really pulled out is missing every time. The first scan looks at least twice (a key
        seen once is expected from then on)."""
        self._check_open()
        expected = set(self._open) | set(self._refused)
        first = self._lib is None  # nothing known yet: look twice before announcing anything
        lost: set[str] = set()
        for attempt, delay in enumerate((0.0, *CONFIRM_DELAYS)):
            if delay:
                log.debug("ekey_look_again", serials=sorted(lost), attempt=attempt)
                time.sleep(delay)
            present = self._look()  # re-initialises: what was open is opened again
            self._open_missing(present, expected)
            held = set(self._open) | set(self._refused)
            lost = expected - held
            expected |= held
            if not lost and not (first and attempt == 0):
                break
        keys = [k.info for k in self._open.values()] + list(self._refused.values())
        return sorted(keys, key=lambda k: k.serial)

    def _look(self) -> dict[str, tuple[Any, Any]]:
        """Serial -> (slot, token) of the initialised tokens present (one C_GetSlotList)."""
        if self._lib is None:
            self._lib = pkcs11.lib(self.module_path)
        elif self.reinitialize_on_scan:
            self._close_all()
            self._lib.reinitialize()
        else:
            for serial in [s for s, k in self._open.items() if not _present(k.slot)]:
                self._drop(serial, "token_removed")
        present: dict[str, tuple[Any, Any]] = {}
        for slot in self._lib.get_slots(token_present=True):
            try:
                token = slot.get_token()
            except PKCS11Error:
                continue  # SoftHSM2: a slot whose token directory went away (or is being written)
            serial = _text(token.serial)
            if serial and token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED:
                present[serial] = (slot, token)
        for serial in [s for s in self._refused if s not in present]:
            del self._refused[serial]  # removed: try its PIN again when it comes back
        for serial in [s for s in self._open if s not in present]:
            self._drop(serial, "token_removed")
        return present

    def _open_missing(self, present: dict[str, tuple[Any, Any]], before: set[str]) -> None:
        for serial, (slot, token) in present.items():
            if serial not in self._open and serial not in self._refused:
                self._open_token(serial, slot, token, quiet=serial in before)

    def _open_token(self, serial: str, slot: Any, token: Any, *, quiet: bool = False) -> None:
        label = _text(token.label)
        try:
            session = _login(token, self.pin_for(serial))
        except (PinIncorrect, PinLocked, PinExpired) as exc:
            info = self._public_info(serial, label, token)
            if info is not None:
                self._refused[serial] = info
            log.error(
                "ekey_pin_refused",
                serial=serial,
                label=label,
                error=type(exc).__name__,
                action="not retrying until the token is re-inserted; check AIL_SIGNER_PIN",
            )
            return
        except PKCS11Error as exc:
            log.error("ekey_open_failed", serial=serial, label=label, error=repr(exc))
            return
        try:
            found = _find_key_pair(session)
            if found is None:
                log.warning("ekey_without_key_pair", serial=serial, label=label)
                _close(session)
                return
            private_key, cert_der = found
            opened = _make_open_key(serial, label, slot, session, private_key, cert_der)
            _sign_and_verify(opened, PROBE)  # self-test: key and certificate belong together
        except (PKCS11Error, ValueError, InvalidSignature) as exc:
            log.error("ekey_unusable", serial=serial, label=label, error=repr(exc))
            _close(session)
            return
        self._open[serial] = opened
        (log.debug if quiet else log.info)(
            "ekey_ready", serial=serial, label=label, algorithm=opened.info.algorithm
        )

    def _public_info(self, serial: str, label: str, token: Any) -> KeyInfo | None:
        """What the token shows without login (its certificate), for a key whose PIN failed."""
        try:
            with token.open() as session:
                for cert in session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}):
                    parsed = x509.load_der_x509_certificate(bytes(cert[Attribute.VALUE]))
                    return _key_info(serial, label, parsed, status="pin_incorrect")
        except (PKCS11Error, ValueError) as exc:
            log.error("ekey_certificate_unreadable", serial=serial, error=repr(exc))
        return None

    # ------------------------------------------------------------------ signing

    def sign_many(self, jobs: list[tuple[str, bytes]]) -> SignOutcomes:
        """Sign each ``(serial, canonical bytes)``; a refusal in place of what could not be."""
        self._check_open()
        out = SignOutcomes(results=[])
        for serial, data in jobs:
            try:
                out.results.append(self._sign_one(serial, data, out))
            except Exception as exc:  # noqa: BLE001 - a definite answer beats a dead letter
                log.exception("ekey_sign_crashed", serial=serial)
                out.results.append(Refusal(TOKEN_ERROR, f"e-key {serial}: unexpected {exc!r}"))
        return out

    def _sign_one(self, serial: str, data: bytes, out: SignOutcomes) -> Signature | Refusal:
        opened = self._open.get(serial)
        if opened is None:
            if serial in self._refused:
                return Refusal(PIN_INCORRECT, f"e-key {serial} refused the configured PIN")
            return Refusal(EKEY_NOT_PRESENT, f"e-key {serial} is not present on this signer")
        try:
            return _sign_and_verify(opened, data)
        except InvalidSignature:
            return Refusal(TOKEN_ERROR, f"e-key {serial} made a signature that does not verify")
        except PKCS11Error as exc:
            first_error = repr(exc)
        if not _present(opened.slot):
            self._drop(serial, "token_removed")
            out.keys_changed = True
            return Refusal(EKEY_NOT_PRESENT, f"e-key {serial} was removed")
        # Present but the session failed: one fresh session, one more try.
        self._drop(serial, "session_failed")
        with contextlib.suppress(PKCS11Error):
            self._open_token(serial, opened.slot, opened.slot.get_token())
        retry = self._open.get(serial)
        if retry is None:
            out.keys_changed = True
            if serial in self._refused:
                return Refusal(PIN_INCORRECT, f"e-key {serial} refused the configured PIN")
            return Refusal(TOKEN_ERROR, f"e-key {serial} failed: {first_error}; reopening it failed")
        try:
            return _sign_and_verify(retry, data)
        except (PKCS11Error, InvalidSignature) as exc:
            return Refusal(TOKEN_ERROR, f"e-key {serial} failed twice: {first_error}, then {exc!r}")

    # ------------------------------------------------------------------ housekeeping

    def _drop(self, serial: str, why: str) -> None:
        opened = self._open.pop(serial, None)
        if opened is not None:
            _close(opened.session)
            log.warning("ekey_absent", serial=serial, label=opened.info.label, why=why)

    def _close_all(self) -> None:
        for opened in self._open.values():
            _close(opened.session)
        self._open.clear()

    def _check_open(self) -> None:
        # After close() nothing may answer "not present": the service is stopping, and the
        # request must stay unanswered (uncommitted) for the next start instead.
        if self._closed:
            raise RuntimeError("the token worker is closed (service stopping)")

    def close(self) -> None:
        self._closed = True
        self._close_all()
        if self._lib is not None:
            with contextlib.suppress(PKCS11Error):
                self._lib.finalize()


# ---------------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    return str(value).strip()


def _present(slot: Any) -> bool:
    try:
        slot.get_token()
        return True
    except PKCS11Error:
        return False


def _close(session: Any) -> None:
    with contextlib.suppress(PKCS11Error, AttributeError):
        session.close()


def _login(token: Any, pin: str) -> Any:
    try:
        return token.open(user_pin=pin)
    except UserAlreadyLoggedIn:
        return token.open()  # another session of ours is logged in; this one shares it


def _find_key_pair(session: Any) -> tuple[Any, bytes] | None:
    """The first private key that has a certificate with the same CKA_ID."""
    certs = sorted(
        session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}),
        key=lambda c: bytes(c[Attribute.ID]),
    )
    for cert in certs:
        key_id = bytes(cert[Attribute.ID])
        try:
            key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id)
        except PKCS11Error:
            continue
        return key, bytes(cert[Attribute.VALUE])
    return None


def _key_info(serial: str, label: str, cert: x509.Certificate, status: Any = "ready") -> KeyInfo:
    public = cert.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        if public.curve.name != "secp256r1":
            raise ValueError(f"EC curve {public.curve.name} is not supported (P-256 only)")
        algorithm = ECDSA_P256_SHA256
    elif isinstance(public, rsa.RSAPublicKey):
        algorithm = RSA_PKCS1V15_SHA256
    else:
        raise ValueError(f"key type {type(public).__name__} is not supported")
    return KeyInfo(
        serial=serial,
        label=label,
        subject=cert.subject.rfc4514_string(),
        certificate_pem=cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        algorithm=algorithm,
        status=status,
    )


def _make_open_key(
    serial: str, label: str, slot: Any, session: Any, private_key: Any, cert_der: bytes
) -> _OpenKey:
    cert = x509.load_der_x509_certificate(cert_der)
    info = _key_info(serial, label, cert)
    key_type = private_key.key_type
    expected = KeyType.EC if info.algorithm == ECDSA_P256_SHA256 else KeyType.RSA
    if key_type != expected:
        raise ValueError(f"private key type {key_type} does not match the certificate's key")
    return _OpenKey(info, slot, session, private_key, key_type, cert.public_key())


def _sign_and_verify(opened: _OpenKey, data: bytes) -> Signature:
    """Sign on the token and verify in software; raises PKCS11Error or InvalidSignature."""
    if opened.key_type == KeyType.EC:
        raw = opened.private_key.sign(digest(data), mechanism=Mechanism.ECDSA)
        half = len(raw) // 2
        value = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        opened.public_key.verify(value, data, ec.ECDSA(hashes.SHA256()))
    else:
        value = opened.private_key.sign(data, mechanism=Mechanism.SHA256_RSA_PKCS)
        opened.public_key.verify(value, data, padding.PKCS1v15(), hashes.SHA256())
    return Signature(opened.info.algorithm, bytes(value), opened.info.certificate_pem)
