"""The sandbox's own role as MOFCOM: its catalogue, its numbering, its review rules and its
signature check. Pure functions and data; no I/O."""

from __future__ import annotations

import base64
import binascii
import csv
import json
import os
import random
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ail_shared.signatures import ALGORITHMS, verify

# MOFCOM's catalogue: code -> year -> (name, electronic licence allowed, iron ore, key agricultural
# product). Read from the published catalogue file (AIL_MOFCOM_CATALOGUE, by default the same CSV
# the application service ships), else this built-in sample.
Entry = tuple[str, bool, bool, bool]
_SAMPLE: dict[str, Entry] = {
    "2601110000": ("未烧结铁矿砂及其精矿", True, True, False),
    "2601120000": ("已烧结铁矿砂及其精矿", True, True, False),
    "2601200000": ("焙烧黄铁矿", True, True, False),
    "2303300010": ("干玉米酒糟 DDGS", True, False, True),
    "2701120010": ("炼焦煤", True, False, False),
    "2709000000": ("原油", True, False, False),
    "1507100000": ("初榨豆油", True, False, True),
    "2603000010": ("铜矿砂及其精矿", True, False, False),
    "7225110000": ("取向性硅电钢", True, False, False),
}
DEFAULT_CATALOGUE = (
    Path(__file__).resolve().parents[3] / "services/application/ail_application/reference_data/catalogue.csv"
)


def load_catalogue(path: Path | None = None) -> dict[str, dict[int | None, Entry]]:
    path = path or Path(os.environ.get("AIL_MOFCOM_CATALOGUE", str(DEFAULT_CATALOGUE)))
    out: dict[str, dict[int | None, Entry]] = {}
    try:
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                entry = (
                    row["name_zh"],
                    row["electronic"] == "1",
                    row["iron_ore"] == "1",
                    row["key_agri"] == "1",
                )
                out.setdefault(row["code"], {})[int(row["year"])] = entry
    except (OSError, KeyError, ValueError):
        out = {code: {None: e} for code, e in _SAMPLE.items()}
    return out


CATALOGUE = load_catalogue()


def catalogue_entry(code: str, year: int | None = None) -> Entry | None:
    years = CATALOGUE.get(code)
    if not years:
        return None
    if year in years:
        return years[year]
    if None in years:
        return years[None]
    return None if year is not None else years[max(y for y in years if y is not None)]


def eligibility(code: str, *, non_electronic: set[str], year: int | None = None) -> dict[str, Any]:
    entry = catalogue_entry(code, year)
    if entry is None:
        return {
            "commodity_code": code,
            "on_catalogue": False,
            "electronic_allowed": False,
            "iron_ore": code.startswith("2601"),
            "key_agri": False,
            "commodity_name": "",
        }
    name, electronic, iron_ore, key_agri = entry
    return {
        "commodity_code": code,
        "on_catalogue": True,
        "electronic_allowed": electronic and code not in non_electronic,
        "iron_ore": iron_ore,
        "key_agri": key_agri,
        "commodity_name": name,
    }


def form_no(year: int, importer_code: str, sequence: int) -> str:
    """2-digit year + 13-digit importer code + 6 digits (DOMAIN section 3)."""
    return f"{year % 100:02d}{importer_code}{sequence % 1_000_000:06d}"


def license_no(year: int, issuing_agency: str, sequence: int) -> str:
    """2-digit year + issuing-agency letters + sequence, e.g. ``18AANW0040``."""
    letters = "".join(ch for ch in issuing_agency.upper() if "A" <= ch <= "Z") or "AANW"
    return f"{year % 100:02d}{letters}{sequence:04d}"


class SignatureRefused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def verify_signature(
    *, certificate_pem: str, payload: bytes, signature_b64: str, algorithm: str = ""
) -> None:
    """Raise SignatureRefused unless ``signature_b64`` (base64 DER ECDSA or RSA PKCS#1 v1.5, both
    SHA-256; ``ail_shared.signatures``) is the certificate's signature over ``payload``."""
    if algorithm in ALGORITHMS:
        if not verify(certificate_pem, algorithm, payload, signature_b64):
            raise SignatureRefused(
                "signature_invalid",
                "the signature does not match the payload and the certificate bound to the enterprise "
                "(payload changed after signing, or a different e-key)",
            )
        return
    try:
        cert = x509.load_pem_x509_certificate(certificate_pem.encode())
    except ValueError as exc:
        raise SignatureRefused("certificate_invalid", f"registered certificate unreadable: {exc}") from exc
    try:
        signature = base64.b64decode(signature_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SignatureRefused("signature_invalid", "signature is not base64") from exc
    key = cert.public_key()
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        elif isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
        else:
            raise SignatureRefused("certificate_invalid", f"unsupported key type {type(key).__name__}")
    except InvalidSignature as exc:
        raise SignatureRefused(
            "signature_invalid",
            "the signature does not match the payload and the certificate bound to the enterprise "
            "(payload changed after signing, or a different e-key)",
        ) from exc


def decode_payload(payload_b64: str) -> tuple[bytes, dict[str, Any]]:
    raw = base64.b64decode(payload_b64, validate=True)
    snapshot = json.loads(raw)
    if not isinstance(snapshot, dict):
        raise ValueError("payload is not a JSON object")
    return raw, snapshot


def _dec(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def goods_totals(snapshot: dict[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """Total quantity and total value in USD of the goods lines (computed fields of the form)."""
    goods = [g for g in snapshot.get("goods") or [] if isinstance(g, dict)]
    qty = _dec(snapshot.get("total_quantity"))
    usd = _dec(snapshot.get("total_value_usd"))
    if qty is None and goods:
        qty = sum((_dec(g.get("quantity")) or Decimal(0) for g in goods), Decimal(0))
    if usd is None and goods:
        usd = sum((_dec(g.get("total_value_usd")) or Decimal(0) for g in goods), Decimal(0))
    return qty, usd


def contract_totals(snapshot: dict[str, Any]) -> tuple[Decimal | None, Decimal | None]:
    """The foreign contract's total quantity, and its total amount when settled in USD."""
    contract = snapshot.get("contract")
    if not isinstance(contract, dict):
        return None, None
    foreign = contract.get("foreign_contract")
    if not isinstance(foreign, dict):
        return None, None
    amount = _dec(foreign.get("total_amount"))
    if (foreign.get("settlement_currency") or "USD") not in ("USD", "502"):
        amount = None
    return _dec(foreign.get("total_quantity")), amount


@dataclass
class ReviewRules:
    first_delay: float = 3.0
    second_delay: float = 3.0
    # "equal": the contract's totals must match the goods' totals (MOFCOM's rule in the sandbox);
    # "cover": the goods may draw on part of the contract, never more; "off".
    contract_totals_rule: str = "equal"
    first_reject_rate: float = 0.0
    second_reject_rate: float = 0.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def first_review(self, snapshot: dict[str, Any]) -> tuple[bool, str]:
        if self.contract_totals_rule != "off":
            c_qty, c_usd = contract_totals(snapshot)
            g_qty, g_usd = goods_totals(snapshot)
            for what, c, g in (("quantity", c_qty, g_qty), ("amount USD", c_usd, g_usd)):
                if c is None or g is None:
                    continue
                if (self.contract_totals_rule == "equal" and c != g) or g > c:
                    return (
                        False,
                        f"合同总{what} {c} 与商品合计 {g} 不符 (contract totals do not match goods totals)",
                    )
        if self.rng.random() < self.first_reject_rate:
            return False, "初审不通过: 材料不全 (random rejection)"
        return True, "初审通过"

    def second_review(self, snapshot: dict[str, Any]) -> tuple[bool, str]:
        if self.rng.random() < self.second_reject_rate:
            return False, "复审不通过: 进口数量超出合理范围 (random rejection)"
        return True, "复审通过"


@dataclass
class Submission:
    idempotency_key: str
    form_no: str
    application_id: str
    enterprise_code: str
    snapshot: dict[str, Any]
    applied_at: datetime
    status: str = "pending_first_review"
    results: list[dict[str, Any]] = field(default_factory=list)
    license_no: str | None = None
    revoked_at: datetime | None = None

    def view(self) -> dict[str, Any]:
        return {
            "form_no": self.form_no,
            "idempotency_key": self.idempotency_key,
            "application_id": self.application_id,
            "enterprise_code": self.enterprise_code,
            "status": self.status,
            "applied_at": self.applied_at.isoformat(),
            "license_no": self.license_no,
            "results": self.results,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }
