"""The operations-role check and the reason of an operations action (ail_shared.ops)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ail_shared.auth import Principal, Tenant
from ail_shared.errors import Forbidden
from ail_shared.ops import Why, operations_actor


def test_only_the_operations_key_acts_and_is_named_as_the_actor() -> None:
    ops = Tenant(Principal("k1", "operations", None, None, ()), ())
    assert operations_actor(ops, refused="dead letters are") == "operations:k1"
    enterprise = Tenant(
        Principal("e1", "enterprise", "1100000000001", None, ("1100000000001",)), ("1100000000001",)
    )
    with pytest.raises(Forbidden) as refused:
        operations_actor(enterprise, refused="the MOFCOM send queue is")
    assert refused.value.message == (
        "the MOFCOM send queue is for operations staff: use the operations API key"
    )


def test_a_reason_is_three_to_a_thousand_characters() -> None:
    assert Why(reason="ok!").reason == "ok!"
    for bad in ("no", "x" * 1001):
        with pytest.raises(ValidationError):
            Why(reason=bad)
