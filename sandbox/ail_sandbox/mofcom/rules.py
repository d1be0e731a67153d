"""The sandbox's own role as MOFCOM: its catalogue and exchange rates, its numbering, its review
rules and its signature check. Pure functions and data; no I/O after import (the catalogue and
rates are read once).

The form rules are not written here: acceptance and the default first review call
``ail_shared.formrules``, the functions our own submission validation calls, so a form our
validation passes is never refused here unless a fault mode (``contract_totals_rule="equal"``,
the random rejection rates) asks for it."""

from __future__ import annotations

import base64
import binascii
import csv
import hashlib
import json
import os
import random
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ail_shared import formrules
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


DEFAULT_RATES = DEFAULT_CATALOGUE.with_name("exchange_rates.csv")
Rate = tuple[date, Decimal]


def load_rates(path: Path | None = None) -> dict[str, list[Rate]]:
    """MOFCOM's exchange rates (AIL_MOFCOM_RATES, by default the file the application service
    ships): currency -> [(valid from, USD per unit)], oldest first. Only USD when unreadable."""
    path = path or Path(os.environ.get("AIL_MOFCOM_RATES", str(DEFAULT_RATES)))
    out: dict[str, list[Rate]] = {}
    try:
        with path.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                out.setdefault(row["currency"], []).append(
                    (date.fromisoformat(row["valid_from"]), Decimal(row["usd_per_unit"]))
                )
    except (OSError, KeyError, ValueError, ArithmeticError):
        out = {"USD": [(date(2000, 1, 1), Decimal(1))]}
    return {currency: sorted(rates) for currency, rates in out.items()}


RATES = load_rates()


def usd_per_unit(currency: object, on: date) -> Decimal | None:
    """The rate in force on ``on``: the latest whose valid-from is not after it."""
    found = [rate for since, rate in RATES.get(str(currency), []) if since <= on]
    return found[-1] if found else None


@dataclass(frozen=True)
class Listed:
    name: str
    electronic: bool
    iron_ore: bool
    key_agri: bool


class MofcomCatalogue:
    """The sandbox's catalogue in the shape ``ail_shared.formrules.Catalogue`` asks for."""

    def commodity(self, code: object, year: int | None = None) -> Listed | None:
        entry = catalogue_entry(str(code), year)
        return Listed(*entry) if entry is not None else None


def acceptance_problems(snapshot: dict[str, Any]) -> list[formrules.FormProblem]:
    """The form rules checked when a submission arrives (refused with 422, nothing reviewed)."""
    return formrules.commodity(snapshot, catalogue=MofcomCatalogue())


PASSED_FIRST = "初审通过"
PASSED_SECOND = "复审通过"
REJECTED_FIRST = "初审不通过："
REJECTED_SECOND = "复审不通过："
# Codes of the sandbox's fault modes; the form rules' codes are ail_shared.formrules'.
CONTRACT_TOTALS_NOT_EQUAL = "contract_totals_not_equal"
FIRST_REVIEW_RANDOM_REJECTION = "first_review_random_rejection"
SECOND_REVIEW_RANDOM_REJECTION = "second_review_random_rejection"


def equal_totals(snapshot: dict[str, Any]) -> list[formrules.FormProblem]:
    """Fault mode ``equal``: a stricter MOFCOM that wants the contract's totals to equal the
    goods' (quantity, and the amount when both are in one currency). Not the rule
    (docs/application.md): a test switches it on to see a first-review rejection."""
    t = formrules.totals(snapshot)
    problems = []
    if t.goods_quantity is not None and t.contract_quantity is not None:
        if t.goods_quantity != t.contract_quantity:
            problems.append(
                formrules.FormProblem(
                    CONTRACT_TOTALS_NOT_EQUAL,
                    formrules.QUANTITY_FIELD,
                    f"合同总数量 {formrules.shown(t.contract_quantity)} 与商品合计数量"
                    f" {formrules.shown(t.goods_quantity)} 不符",
                )
            )
    same_currency = t.goods_currency is not None and t.goods_currency == t.contract_currency
    if same_currency and t.goods_value is not None and t.contract_amount is not None:
        if t.goods_value != t.contract_amount:
            problems.append(
                formrules.FormProblem(
                    CONTRACT_TOTALS_NOT_EQUAL,
                    formrules.AMOUNT_FIELD,
                    f"合同总金额 {formrules.shown(t.contract_amount)} 与商品合计总值"
                    f" {formrules.shown(t.goods_value)} 不符",
                )
            )
    return problems


@dataclass
class ReviewRules:
    first_delay: float = 3.0
    second_delay: float = 3.0
    # "cover" (the default): the rule, ail_shared.formrules.contract_totals: the goods may draw on
    # part of the contract, never more. Fault modes: "equal" (a stricter MOFCOM), "off".
    contract_totals_rule: str = "cover"
    first_reject_rate: float = 0.0
    second_reject_rate: float = 0.0
    seed: int | None = None
    rng: random.Random = field(default_factory=random.Random)

    def first_review(self, snapshot: dict[str, Any], *, on: date) -> tuple[bool, str]:
        """(passed, opinion); a rejection's opinion is its code, then the Chinese text. ``on`` is
        the day of the review (China time), for the exchange rate."""
        problems: list[formrules.FormProblem] = []
        if self.contract_totals_rule == "cover":
            problems = formrules.contract_totals(snapshot, usd_per_unit=usd_per_unit, on=on)
        elif self.contract_totals_rule == "equal":
            problems = equal_totals(snapshot)
        if problems:
            return False, "；".join(p.opinion(REJECTED_FIRST) for p in problems)
        if self.rng.random() < self.first_reject_rate:
            return False, f"{FIRST_REVIEW_RANDOM_REJECTION}: {REJECTED_FIRST}材料不全"
        return True, PASSED_FIRST

    def second_review(self, snapshot: dict[str, Any]) -> tuple[bool, str]:
        if self.rng.random() < self.second_reject_rate:
            return False, f"{SECOND_REVIEW_RANDOM_REJECTION}: {REJECTED_SECOND}进口数量超出合理范围"
        return True, PASSED_SECOND


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
    license_cancelled_at: datetime | None = None  # MOFCOM cancelled the license it issued

    @property
    def replaces_license_no(self) -> str | None:
        """A change or extension names the license it replaces (证面内容不得更改)."""
        return str(self.snapshot.get("replaces_license_no") or "") or None

    revoke_reason: str | None = None  # the applicant's reason, as the revoke request gave it
    # What came with the submission: id, filename, content_type, sha256 and the bytes (content).
    attachments: list[dict[str, Any]] = field(default_factory=list, repr=False)

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
            "replaces_license_no": self.replaces_license_no,
            "license_cancelled_at": self.license_cancelled_at.isoformat()
            if self.license_cancelled_at
            else None,
            "revoke_reason": self.revoke_reason,
        }


def attachment_problem(snapshot: dict[str, Any], received: list[dict[str, Any]]) -> str | None:
    """Why the attachments that came with a submission are not the ones its signed payload names
    (by id and sha256), or None. ``received`` items carry their bytes as ``content``."""
    named = {str(a.get("id")): a for a in snapshot.get("attachments") or [] if isinstance(a, dict)}
    got = {str(a.get("id")): a for a in received}
    if set(named) != set(got):
        return f"attachments named in the signed payload {sorted(named)} but received {sorted(got)}"
    for key, a in got.items():
        digest = hashlib.sha256(a["content"]).hexdigest()
        if digest != named[key].get("sha256"):
            return (
                f"attachment {key}: the bytes' sha256 {digest} is not the signed {named[key].get('sha256')}"
            )
    return None
