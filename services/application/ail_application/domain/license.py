"""The license itself (自动进口许可证, electronic) once MOFCOM issued it, and what a public check
of it may show (issue 13, item 19). Pure: the handlers pass the key and ``on`` in.

The printed license carries a QR code with the URL of the public verification endpoint
(``GET /api/v1/verify/licenses/{license_no}/{token}``, no credentials) for Customs or a bank.
``token`` is an HMAC of the license no. under the service's ``AIL_LICENSE_VERIFY_KEY``, so a
URL cannot be made up from a license no.: licenses cannot be enumerated, and a wrong token is
"not found" like an unknown license. The check reveals only what it needs: the license no.,
its state and validity, the holder's name, the issuing agency, the commodity and a digest of
the goods (never quantities, prices, contracts or other tenant-private details).

The state is read from where the license lives today (the application's status and the
validity); later license states (surrender, reissue, cancellation) plug into
``license_state``."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import date
from typing import Any

from ail_application.domain.model import Application
from ail_shared.canonical import canonical_json
from ail_shared.lifecycle import ApplicationStatus as S

VERIFY_PATH = "/api/v1/verify/licenses"


def verification_token(key: bytes, license_no: str) -> str:
    """128 bits of HMAC-SHA256 over the license no., URL-safe base64 (22 characters)."""
    mac = hmac.new(key, b"ail-license-verify:" + license_no.encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def token_matches(key: bytes, license_no: str, token: str) -> bool:
    """Constant-time, on bytes: a token typed by hand may hold any character (compare_digest
    refuses non-ASCII str, which was a 500 for such a URL)."""
    return hmac.compare_digest(verification_token(key, license_no).encode(), token.encode())


def verification_url(base_url: str, key: bytes, license_no: str) -> str:
    return f"{base_url.rstrip('/')}{VERIFY_PATH}/{license_no}/{verification_token(key, license_no)}"


def goods_digest(app: Application) -> str:
    """SHA-256 of the goods as licensed (RFC 8785 JSON of commodity code, unit and quantity of
    each line, and the total): a holder can prove which goods the license covers without the
    check showing them."""
    c = app.computed
    goods: list[dict[str, Any]] = [
        {
            "spec": str(g.get("spec") or ""),
            "unit": str(g.get("unit") or ""),
            "quantity": str(g.get("quantity")),
        }
        for g in c.get("goods", [])
    ]
    doc = {
        "commodity_code": str(app.form.get("commodity_code") or ""),
        "goods": goods,
        "total_quantity": str(c.get("total_quantity")),
    }
    return "sha256:" + hashlib.sha256(canonical_json(doc)).hexdigest()


def license_state(app: Application, *, on: date) -> str:
    """``valid``, ``expired`` (past its validity), or ``not_issued``. Where surrender, reissue
    and cancellation come, they are decided here."""
    if app.status is not S.LICENSE_ISSUED or not app.license_no:
        return "not_issued"
    until = license_valid_until(app)
    if until is not None and on > until:
        return "expired"
    return "valid"


def license_valid_until(app: Application) -> date | None:
    raw = app.computed.get("valid_until")
    if raw is None:
        return None
    return raw if isinstance(raw, date) else date.fromisoformat(str(raw))


@dataclass(frozen=True)
class LicenseCheck:
    """What the public check answers."""

    license_no: str
    state: str
    valid_until: date | None
    holder_name: str
    issuing_agency: str
    commodity_code: str
    commodity_name: str
    goods_digest: str
    checked_on: date


def check_of(app: Application, *, agency_name: str, on: date) -> LicenseCheck:
    return LicenseCheck(
        license_no=app.license_no or "",
        state=license_state(app, on=on),
        valid_until=license_valid_until(app),
        holder_name=app.importer_name,
        issuing_agency=agency_name,
        commodity_code=str(app.form.get("commodity_code") or ""),
        commodity_name=str(app.computed.get("commodity_name") or ""),
        goods_digest=goods_digest(app),
        checked_on=on,
    )
