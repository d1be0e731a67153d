"""The signer's decisions, without tokens, Kafka or a database."""

from __future__ import annotations

import base64
import uuid

import pytest

from ail_shared.canonical import canonical_json
from ail_shared.errors import ConfigError
from ail_shared.events import SignatureRequested
from ail_signer.config import Settings
from ail_signer.domain import model


def req(payload: bytes = b'{"a":1}', **kw: str) -> SignatureRequested:
    fields = {
        "application_id": "app-1",
        "submission_id": "sub-1",
        "enterprise_code": "1100776367555",
        "ekey_serial": "0595e1fc45691b0f",
        "canonical_payload": base64.b64encode(payload).decode(),
        "signer_host": "host-a",
        **kw,
    }
    return SignatureRequested.model_validate(fields)


def test_a_request_naming_a_host_is_only_that_hosts() -> None:
    assert model.is_for_host(req(), "host-a", set())
    assert not model.is_for_host(req(), "host-b", {"0595e1fc45691b0f"})


def test_a_request_without_a_host_goes_to_whoever_holds_the_key() -> None:
    assert model.is_for_host(req(signer_host=""), "host-b", {"0595e1fc45691b0f"})
    assert not model.is_for_host(req(signer_host=""), "host-b", {"other"})


def test_canonical_bytes_are_signed_as_they_are() -> None:
    data = canonical_json({"名称": "牛肉", "qty": "12.5", "price": 4.25})
    assert model.payload_to_sign(req(data)) == data


@pytest.mark.parametrize(
    ("request_", "detail"),
    [
        (req(b'{"b":1,"a":2}'), "not in RFC8785-JCS form"),
        (req(b'{"a": 1}'), "not in RFC8785-JCS form"),
        (req(b"[1,2"), "not JSON"),
        (req(canonical_payload="***"), "not base64"),
        (req(canonicalization="XMLDSIG-C14N"), "not supported"),
    ],
)
def test_payloads_that_cannot_be_signed_say_why(request_: SignatureRequested, detail: str) -> None:
    refusal = model.payload_to_sign(request_)
    assert isinstance(refusal, model.Refusal)
    assert refusal.reason == model.PAYLOAD_INVALID
    assert detail in refusal.detail


def test_answer_ids_derive_from_the_request_id() -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    assert model.answer_event_id(a) == model.answer_event_id(a)
    assert model.answer_event_id(a) != model.answer_event_id(b)
    assert model.answer_event_id(a) != a


def test_answers_carry_the_request_and_the_signature() -> None:
    sig = model.Signature("ecdsa-p256-sha256", b"\x30\x44", "PEM")
    signed = model.signed(req(), sig, "host-a")
    assert (signed.application_id, signed.submission_id, signed.ekey_serial) == (
        "app-1",
        "sub-1",
        "0595e1fc45691b0f",
    )
    assert base64.b64decode(signed.signature) == b"\x30\x44"
    assert signed.signer_host == "host-a"
    failed = model.failed(req(), model.Refusal(model.EKEY_NOT_PRESENT, "gone"))
    assert (failed.reason, failed.detail) == ("ekey_not_present", "gone")


def test_placeholder_pin_is_refused_outside_development(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIL_SIGNER_PIN", "123456")
    monkeypatch.setenv("AIL_INTERNAL_TOKEN", "a-real-service-credential")  # not the secret under test
    monkeypatch.setenv("AIL_ENV", "production")
    with pytest.raises(ConfigError, match="AIL_SIGNER_PIN is a placeholder"):
        Settings()
    monkeypatch.setenv("AIL_ENV", "test")
    with pytest.raises(ConfigError):
        Settings()
    monkeypatch.setenv("AIL_ENV", "development")
    assert Settings().pin_for("any") == "123456"


def test_per_serial_pins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIL_ENV", "production")
    monkeypatch.setenv("AIL_INTERNAL_TOKEN", "a-real-service-credential")
    monkeypatch.setenv("AIL_SIGNER_PIN", "7391-real")
    monkeypatch.setenv("AIL_SIGNER_PINS", '{"abc": "8402-real"}')
    settings = Settings()
    assert settings.pin_for("abc") == "8402-real"
    assert settings.pin_for("other") == "7391-real"
    assert "7391" not in repr(settings)
