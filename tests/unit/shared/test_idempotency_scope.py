"""Idempotency-Key scope (issue 10, item 9): principal and acting enterprise."""

from __future__ import annotations

from ail_shared.auth import Principal, Tenant
from ail_shared.idempotency import scope


def test_an_agency_key_is_scoped_to_the_enterprise_it_acts_for() -> None:
    agency = Principal("k", "agency", None, "AG1", ("1100000000001", "3100000000002"))
    for_a = scope(Tenant(agency, ("1100000000001",)))
    for_b = scope(Tenant(agency, ("3100000000002",)))
    assert for_a != for_b and "1100000000001" in for_a and for_a.startswith("agency:AG1")
    # an enterprise acts only for itself: its scope is unchanged (stored keys keep replaying)
    enterprise = Principal("e", "enterprise", "1100000000001", None, ("1100000000001",))
    assert scope(Tenant(enterprise, ("1100000000001",))) == enterprise.id
