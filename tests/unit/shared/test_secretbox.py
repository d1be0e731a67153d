"""Secrets at rest (issue 10, item 10): AES-GCM tokens with a key ring, bound to their row."""

from __future__ import annotations

import pytest

from ail_shared.secretbox import SecretBox, SecretBoxError, generate_key_ring


def test_round_trip_no_clear_text_and_bound_to_its_row() -> None:
    box = SecretBox.from_setting(generate_key_ring())
    token = box.encrypt("whsec_c2VjcmV0", aad=b"row-1")
    assert "whsec_" not in token and "c2VjcmV0" not in token and token.startswith("v1:k1:")
    assert box.decrypt(token, aad=b"row-1") == "whsec_c2VjcmV0"
    assert box.encrypt("whsec_c2VjcmV0", aad=b"row-1") != token  # a fresh nonce each time
    with pytest.raises(SecretBoxError, match="altered or moved"):
        box.decrypt(token, aad=b"row-2")
    with pytest.raises(SecretBoxError, match="altered or moved"):
        box.decrypt(token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB"), aad=b"row-1")


def test_rotation_new_key_first_old_still_decrypts() -> None:
    old = generate_key_ring("k1")
    new = generate_key_ring("k2")
    token = SecretBox.from_setting(old).encrypt("s", aad=b"r")
    rotated = SecretBox.from_setting(f"{new},{old}")
    assert rotated.current == "k2" and rotated.needs_rotation(token) and rotated.needs_rotation("whsec_clear")
    again = rotated.encrypt(rotated.decrypt(token, aad=b"r"), aad=b"r")
    assert not rotated.needs_rotation(again) and again.startswith("v1:k2:")
    with pytest.raises(SecretBoxError, match="not in the key ring"):
        SecretBox.from_setting(new).decrypt(token, aad=b"r")


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("", "empty"),
        ("k1", "<id>:<base64"),
        ("k1:!!", "not base64"),
        ("k1:c2hvcnQ=", "32"),
        ("a b:AAAA", "<id>"),
    ],
)
def test_bad_key_rings_are_refused(ring: str, message: str) -> None:
    with pytest.raises(SecretBoxError, match=message):
        SecretBox.from_setting(ring)
    dup = generate_key_ring()
    with pytest.raises(SecretBoxError, match="twice"):
        SecretBox.from_setting(f"{dup},{dup}")
