from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from ail_shared.auth import ApiKeyAuthenticator, Principal, Tenant, new_api_key, split_api_key
from ail_shared.errors import Forbidden, InvalidInput, Unauthenticated
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


class _OneRowPool:
    """What ``ApiKeyAuthenticator`` asks the pool: one ``fetchrow``; records the statement."""

    def __init__(self, row: dict[str, object] | None) -> None:
        self.row = row
        self.calls: list[tuple[str, tuple[object, ...]]] = []

    async def fetchrow(self, sql: str, *args: object) -> dict[str, object] | None:
        self.calls.append((sql, args))
        return self.row


def _key_row(raw: str, kind: str, **extra: object) -> dict[str, object]:
    key_id, secret = split_api_key(raw)
    return {
        "auth_key_id": key_id,
        "auth_secret_sha256": hashlib.sha256(secret.encode()).digest(),
        "auth_kind": kind,
        "auth_enterprise_code": None,
        "auth_agency_code": None,
        "auth_authorised": None,
        **extra,
    }


async def test_tenant_and_reads_the_key_and_the_item_in_one_statement_with_the_same_checks() -> None:
    raw, _, _ = new_api_key()
    row = _key_row(raw, "enterprise", auth_enterprise_code="1100776367555", license_no="L1")
    pool = _OneRowPool(row)
    auth = ApiKeyAuthenticator(pool)
    tenant, item = await auth.tenant_and(raw, None, "SELECT $2::text AS license_no", "L1")
    assert tenant.enterprise_codes == ("1100776367555",) and item["license_no"] == "L1"
    [(sql, args)] = pool.calls  # one round trip: the key ($1) and the item's parameters after it
    assert args == (split_api_key(raw)[0], "L1") and "iam.api_keys" in sql and "$2::text AS license_no" in sql
    # The same refusals as ``tenant``: a wrong secret, a key not found (or revoked), no key,
    # and an enterprise the key may not act for.
    other, _, _ = new_api_key()
    wrong_secret = ApiKeyAuthenticator(_OneRowPool({**row, "auth_key_id": split_api_key(other)[0]}))
    with pytest.raises(Unauthenticated):
        await wrong_secret.tenant_and(other, None, "SELECT 1")
    with pytest.raises(Unauthenticated):
        await ApiKeyAuthenticator(_OneRowPool(None)).tenant_and(raw, None, "SELECT 1")
    with pytest.raises(Unauthenticated, match="missing credentials"):
        await auth.tenant_and(None, None, "SELECT 1")
    with pytest.raises(Forbidden):
        await auth.tenant_and(raw, "3100123456789", "SELECT 1")
    agency = _key_row(
        raw,
        "agency",
        auth_agency_code="AG1",
        auth_authorised=["1100776367555", "3100123456789"],
        license_no=None,
    )
    tenant, item = await ApiKeyAuthenticator(_OneRowPool(agency)).tenant_and(raw, "3100123456789", "SELECT 1")
    assert tenant.enterprise_codes == ("3100123456789",) and item["license_no"] is None
