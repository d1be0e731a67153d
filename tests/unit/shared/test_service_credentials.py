"""Issue 10, item 4: the service credential of internal routes, and MOFCOM's signed callbacks
(``ail_shared.auth``)."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from ail_shared.auth import (
    CALLBACK_SIGNATURE_HEADER,
    CALLBACK_TIMESTAMP_HEADER,
    callback_headers,
    check_service_credential,
    verify_callback,
)
from ail_shared.config import ServiceSettings
from ail_shared.errors import ConfigError, Unauthenticated

TOKEN = SecretStr("s3cr3t-service-credential-0123456789")
SECRET = SecretStr("mofcom-shared-secret-0123456789")
BODY = b'{"form_no":"26110077636755500001","stage":"first","result":"passed"}'
NOW = 1_800_000_000.0


def test_service_credential_accepted() -> None:
    check_service_credential(TOKEN, TOKEN.get_secret_value())


@pytest.mark.parametrize("presented", [None, "", "wrong", TOKEN.get_secret_value() + "x"])
def test_service_credential_refused(presented: str | None) -> None:
    with pytest.raises(Unauthenticated):
        check_service_credential(TOKEN, presented)


def test_no_configured_credential_refuses_everything() -> None:
    with pytest.raises(Unauthenticated, match="AIL_INTERNAL_TOKEN"):
        check_service_credential(SecretStr(""), "")


@pytest.mark.parametrize("env", ["test", "production"])
def test_placeholder_credential_refused_outside_development(env: str) -> None:
    with pytest.raises(ConfigError, match="AIL_INTERNAL_TOKEN"):
        ServiceSettings(env=env, internal_token=SecretStr("changeme"))  # type: ignore[arg-type]
    ServiceSettings(env=env, internal_token=TOKEN)  # type: ignore[arg-type]
    ServiceSettings(env="development", internal_token=SecretStr(""))


def test_signed_callback_verifies() -> None:
    h = callback_headers(SECRET.get_secret_value(), BODY, now=NOW)
    verify_callback(
        SECRET,
        timestamp=h[CALLBACK_TIMESTAMP_HEADER],
        signature=h[CALLBACK_SIGNATURE_HEADER],
        body=BODY,
        now=NOW + 5,
    )


def _refused(**changes: object) -> None:
    h = callback_headers(SECRET.get_secret_value(), BODY, now=NOW)
    args: dict[str, object] = {
        "timestamp": h[CALLBACK_TIMESTAMP_HEADER],
        "signature": h[CALLBACK_SIGNATURE_HEADER],
        "body": BODY,
        "now": NOW,
    }
    args.update(changes)
    with pytest.raises(Unauthenticated):
        verify_callback(SECRET, **args)  # type: ignore[arg-type]


def test_unsigned_callback_refused() -> None:
    _refused(signature=None)
    _refused(timestamp=None)


def test_bad_signature_refused() -> None:
    _refused(signature="v1=" + "0" * 64)
    _refused(body=BODY.replace(b"passed", b"rejected"))


def test_other_secret_refused() -> None:
    h = callback_headers("another-secret", BODY, now=NOW)
    _refused(signature=h[CALLBACK_SIGNATURE_HEADER])


def test_stale_or_future_timestamp_refused() -> None:
    _refused(now=NOW + 301)
    _refused(now=NOW - 301)
    _refused(timestamp="yesterday")


def test_fresh_timestamp_on_an_old_signature_refused() -> None:
    """A replay cannot refresh the timestamp: it is signed with the body."""
    _refused(timestamp=str(int(NOW) + 200), now=NOW + 200)
