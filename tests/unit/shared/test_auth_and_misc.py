from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ail_shared.auth import Principal, Tenant, new_api_key, split_api_key
from ail_shared.errors import InvalidInput, Unauthenticated
from ail_shared.topics import TOPICS, all_topic_names

REPO = Path(__file__).resolve().parents[3]


def test_api_key_round_trip_stores_only_a_hash() -> None:
    raw, key_id, digest = new_api_key()
    got_id, secret = split_api_key(raw)
    assert got_id == key_id
    assert hashlib.sha256(secret.encode()).digest() == digest
    assert secret not in digest.hex()


@pytest.mark.parametrize("raw", ["", "abc", "ail__x", "ail_id_", "sk_id_secret"])
def test_malformed_keys_are_refused(raw: str) -> None:
    with pytest.raises(Unauthenticated):
        split_api_key(raw)


def test_agency_must_name_one_enterprise_for_writes_and_sees_only_authorised() -> None:
    p = Principal("k", "agency", None, "AG1", ("1100776367555", "3100123456789"))
    t = Tenant(p, p.authorised)
    with pytest.raises(InvalidInput, match="X-Enterprise-Code"):
        _ = t.enterprise_code
    one = Tenant(p, ("3100123456789",))
    assert one.enterprise_code == "3100123456789"
    assert one.owns("3100123456789") and not one.owns("1100776367555")


def test_every_topic_is_in_the_architecture_doc() -> None:
    doc = (REPO / "docs" / "architecture.md").read_text()
    for name in all_topic_names():
        assert f"`{name}`" in doc, f"{name} missing from docs/architecture.md"
    assert len({t.name for t in TOPICS}) == len(TOPICS)
