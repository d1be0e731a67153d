"""Decisions of the submission service: what a MOFCOM answer or review result does to an
application, the license calendar (DOMAIN section 9), and what of the snapshot travels onward.
Pure functions; no I/O."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from ail_shared.events import ApplicationSummary
from ail_shared.lifecycle import STATUS_RANK
from ail_shared.lifecycle import ApplicationStatus as S

# Submission states (submissions.state).
SIGNING = "signing"
SIGNED = "signed"
ACCEPTED = "accepted"
REJECTED = "rejected"
SIGNING_FAILED = "signing_failed"
WAITING_EKEY = "waiting_ekey"  # no signer host announces the e-key right now (domain.ekeys)

EKEY_NOT_PRESENT = "ekey_not_present"
EKEY_NOT_BOUND = "ekey_not_bound"
MOFCOM_UNAVAILABLE = "mofcom_unavailable"


def status_after_review(stage: str, result: str) -> S:
    if stage == "first":
        return S.PENDING_SECOND_REVIEW if result == "passed" else S.FIRST_REVIEW_REJECTED
    return S.APPROVED if result == "passed" else S.SECOND_REVIEW_REJECTED


def moves_forward(current: str, new: S) -> bool:
    """A late or duplicate result never moves a status backwards (nor sideways)."""
    try:
        return STATUS_RANK[new] > STATUS_RANK[S(current)]
    except ValueError:
        return True


def ensure_revocable(application_id: object, status: str) -> None:
    """Revoke (撤销) is allowed only while the application is pending first review."""
    if status != S.PENDING_FIRST_REVIEW:
        from ail_shared.errors import Conflict

        raise Conflict(
            f"application {application_id} is {status}: revoke is allowed only from pending_first_review"
        )


def add_months(d: date, months: int) -> date:
    month0 = d.month - 1 + months
    year, month = d.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def license_year(issued: date) -> int:
    """After 25 December licenses are issued for the next year (DOMAIN section 9)."""
    return issued.year + 1 if (issued.month, issued.day) > (12, 25) else issued.year


def valid_until(issued: date) -> date:
    """Issue date + 6 months, but not past 31 December of the license year."""
    return min(add_months(issued, 6), date(license_year(issued), 12, 31))


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def summary(snapshot: dict[str, Any]) -> ApplicationSummary:
    goods = [g for g in snapshot.get("goods") or [] if isinstance(g, dict)]
    quantity = (
        _dec(snapshot.get("total_quantity"))
        if snapshot.get("total_quantity") not in (None, "")
        else sum((_dec(g.get("quantity")) for g in goods), Decimal(0))
    )
    value_usd = (
        _dec(snapshot.get("total_value_usd"))
        if snapshot.get("total_value_usd") not in (None, "")
        else sum((_dec(g.get("total_value_usd")) for g in goods), Decimal(0))
    )
    return ApplicationSummary(
        enterprise_code=str(snapshot.get("enterprise_code") or snapshot.get("importer_code") or ""),
        serial_no=str(snapshot.get("serial_no") or ""),
        year=int(snapshot.get("year") or date.today().year),
        commodity_code=str(snapshot.get("commodity_code") or ""),
        commodity_name=str(snapshot.get("commodity_name") or ""),
        unit=str(snapshot.get("unit") or (goods[0].get("unit") if goods else "") or ""),
        total_quantity=quantity,
        total_value_usd=value_usd,
        trade_mode=str(snapshot.get("trade_mode") or ""),
        trade_country=str(snapshot.get("trade_country") or ""),
        issuing_agency=str(snapshot.get("issuing_agency") or ""),
        one_batch_one_license=bool(snapshot.get("one_batch_one_license") or False),
    )


_CODE = re.compile(r"(?<!\d)\d{13}(?!\d)")


def enterprise_codes_of(certificate_pem: str, subject: str = "") -> list[str]:
    """The 13-digit enterprise codes a certificate names in O= or serialNumber= (or, failing
    a readable certificate, anywhere in the subject string)."""
    codes: list[str] = []
    if certificate_pem:
        try:
            from cryptography import x509
            from cryptography.x509.oid import NameOID

            cert = x509.load_pem_x509_certificate(certificate_pem.encode())
            for oid in (NameOID.ORGANIZATION_NAME, NameOID.SERIAL_NUMBER):
                for attr in cert.subject.get_attributes_for_oid(oid):
                    value = str(attr.value)
                    if _CODE.fullmatch(value) and value not in codes:
                        codes.append(value)
            if codes:
                return codes
        except ValueError:
            pass
    return list(dict.fromkeys(_CODE.findall(subject)))


def subject_of(certificate_pem: str, fallback: str = "") -> str:
    if not certificate_pem:
        return fallback
    try:
        from cryptography import x509

        return x509.load_pem_x509_certificate(certificate_pem.encode()).subject.rfc4514_string()
    except ValueError:
        return fallback


@dataclass(frozen=True)
class CallbackRefusal:
    code: str
    message: str
    status: int = 422
    retry: bool = False  # MOFCOM may come again (we have not recorded its answer yet)


def callback_refusal(
    *,
    sub: dict[str, Any] | None,
    application_id: UUID,
    form_no: str,
    stage: str,
    result: str,
    license_no: str | None,
    recorded: dict[str, tuple[str, str | None]],
) -> CallbackRefusal | None:
    """Whether a (signed) MOFCOM review result fits the submission it names (issue 10, item 4):
    a submission we sent to MOFCOM, for that application, accepted under that form no., and a
    result that fits what is recorded (``recorded``: stage -> (result, license no.)). None when
    it fits; a repeat of a recorded result fits (it is applied once anyway)."""
    if sub is None:
        return CallbackRefusal(
            "unknown_submission", "the result names a submission that was never sent to MOFCOM"
        )
    sid = sub["submission_id"]
    if sub["application_id"] != application_id:
        return CallbackRefusal(
            "application_mismatch", f"submission {sid} is not of application {application_id}"
        )
    if not sub.get("form_no"):
        if sub["state"] == SIGNED:
            return CallbackRefusal(
                "form_not_recorded",
                f"submission {sid} is being sent; its form no. is not recorded yet",
                status=409,
                retry=True,
            )
        return CallbackRefusal(
            "not_accepted", f"submission {sid} is {sub['state']}: MOFCOM never accepted it"
        )
    if sub["form_no"] != form_no:
        return CallbackRefusal("form_no_mismatch", f"submission {sid} has another form no. than {form_no}")
    if license_no and not (stage == "second" and result == "passed"):
        return CallbackRefusal(
            "license_no_unexpected",
            f"a license no. comes only with a passed second review, not {stage} {result}",
        )
    if stage in recorded and recorded[stage] != (result, license_no):
        was = recorded[stage]
        return CallbackRefusal(
            "result_conflict",
            f"form {form_no}: the {stage} review was already recorded as {was[0]}"
            + (f" with license {was[1]}" if was[1] else ""),
            status=409,
        )
    if stage == "second" and recorded.get("first", ("passed", None))[0] == "rejected":
        return CallbackRefusal(
            "stage_conflict",
            f"form {form_no} was rejected at first review: there is no second review",
            status=409,
        )
    if stage == "first" and result == "rejected" and "second" in recorded:
        return CallbackRefusal(
            "stage_conflict", f"form {form_no} has a second review: its first review passed", status=409
        )
    return None
