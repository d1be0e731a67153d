"""The MOFCOM sandbox's own rules: number formats, the first review (the shared contract-totals
rule by default, its fault modes), and the signature check that refuses a payload changed after
signing."""

from __future__ import annotations

import base64
import re
from datetime import date
from decimal import Decimal

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ail_sandbox.mofcom.rules import (
    ReviewRules,
    SignatureRefused,
    eligibility,
    form_no,
    license_no,
    verify_signature,
)
from ail_shared.canonical import canonical_json
from ail_shared.signatures import ECDSA_P256_SHA256
from tests.unit.support import make_cert

TODAY = date(2026, 12, 1)


def test_number_formats() -> None:
    assert form_no(2019, "1100776367555", 14) == "191100776367555000014"
    assert re.fullmatch(r"\d{2}1100776367555\d{6}", form_no(2026, "1100776367555", 600014))
    assert license_no(2018, "AANW", 40) == "18AANW0040"
    assert license_no(2026, "", 7) == "26AANW0007"


def test_eligibility_from_the_catalogue() -> None:
    ore = eligibility("2601110000", non_electronic=set(), year=2026)
    assert ore["on_catalogue"] and ore["iron_ore"] and ore["electronic_allowed"]
    assert not eligibility("0101010101", non_electronic=set())["on_catalogue"]
    assert not eligibility("2601110000", non_electronic={"2601110000"})["electronic_allowed"]


def snapshot(
    goods_qty: str, contract_qty: str, usd: str = "100", contract_usd: str = "100"
) -> dict[str, object]:
    return {
        "total_quantity": goods_qty,
        "total_value_usd": usd,
        "contract": {
            "foreign_contract": {
                "total_quantity": contract_qty,
                "total_amount": contract_usd,
                "settlement_currency": "USD",
            }
        },
    }


def test_first_review_default_is_the_shared_rule_goods_not_above_the_contract() -> None:
    rules = ReviewRules()
    assert rules.first_review(snapshot("10", "10"), on=TODAY) == (True, "初审通过")
    assert rules.first_review(snapshot("10", "11"), on=TODAY)[0], "part of a contract is allowed"
    ok, opinion = rules.first_review(snapshot("12", "11"), on=TODAY)
    assert not ok
    assert opinion.startswith(
        "contract_quantity_exceeded: 初审不通过：商品合计数量 12 超过对外成交合同总数量 11"
    )
    assert not re.search("[A-Za-z]", opinion.split(": ", 1)[1]), "Chinese only after the code"
    assert not rules.first_review(snapshot("10", "10", usd="100", contract_usd="99"), on=TODAY)[0]


def test_first_review_fault_modes_equal_and_off() -> None:
    equal = ReviewRules(contract_totals_rule="equal")
    assert equal.first_review(snapshot("10", "10"), on=TODAY)[0]
    ok, opinion = equal.first_review(snapshot("10", "11"), on=TODAY)
    assert not ok and opinion == "contract_totals_not_equal: 初审不通过：合同总数量 11 与商品合计数量 10 不符"
    assert ReviewRules(contract_totals_rule="off").first_review(snapshot("12", "11"), on=TODAY)[0]


def test_random_rejection_rates() -> None:
    ok, opinion = ReviewRules(first_reject_rate=1.0).first_review(snapshot("1", "1"), on=TODAY)
    assert not ok and opinion == "first_review_random_rejection: 初审不通过：材料不全"
    ok, opinion = ReviewRules(second_reject_rate=1.0).second_review({})
    assert not ok and opinion.startswith("second_review_random_rejection: 复审不通过：")
    assert ReviewRules().second_review({})[0]


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    return base64.b64encode(key.sign(data, ec.ECDSA(hashes.SHA256()))).decode()


@pytest.mark.parametrize("algorithm", [ECDSA_P256_SHA256, ""])
def test_signature_verified_and_changed_payload_refused(algorithm: str) -> None:
    key, pem = make_cert()
    payload = canonical_json({"goods": [{"quantity": Decimal("1000")}], "handler_name": "张三"})
    signature = _sign(key, payload)
    verify_signature(certificate_pem=pem, payload=payload, signature_b64=signature, algorithm=algorithm)
    changed = canonical_json({"goods": [{"quantity": Decimal("1001")}], "handler_name": "张三"})
    with pytest.raises(SignatureRefused) as refused:
        verify_signature(certificate_pem=pem, payload=changed, signature_b64=signature, algorithm=algorithm)
    assert refused.value.reason == "signature_invalid"


def test_signature_by_another_key_refused() -> None:
    _, pem = make_cert()
    other, _ = make_cert()
    payload = b'{"a":1}'
    with pytest.raises(SignatureRefused):
        verify_signature(certificate_pem=pem, payload=payload, signature_b64=_sign(other, payload))


def test_attachments_must_be_the_ones_the_signed_payload_names() -> None:
    import hashlib

    from ail_sandbox.mofcom.rules import attachment_problem

    snapshot = {"attachments": [{"id": "a-1", "sha256": hashlib.sha256(b"scan").hexdigest()}]}
    assert attachment_problem(snapshot, [{"id": "a-1", "content": b"scan"}]) is None
    assert "sha256" in (attachment_problem(snapshot, [{"id": "a-1", "content": b"other"}]) or "")
    assert attachment_problem(snapshot, []) is not None
    assert attachment_problem({}, []) is None
