"""The license itself once issued (自动进口许可证, electronic, as PDF with a QR code) and the
public check the QR code points at (issue 13, item 19; ``domain/license.py`` says what it shows
and why the URL cannot be guessed). The check is the one route here without credentials."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Literal
from uuid import UUID

from fastapi import APIRouter
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ail_application.adapters import queries
from ail_application.adapters.printing import render_license_pdf
from ail_application.domain import license
from ail_application.entrypoints.api import ERRORS
from ail_application.entrypoints.common import AppDeps, operation_id
from ail_shared.calendar import china_date
from ail_shared.errors import Conflict, NotFound
from ail_shared.http import CurrentTenant
from ail_shared.inputs import IdentifierText
from ail_shared.openapi import errors
from ail_shared.retry import now_utc

router = APIRouter(prefix="/api/v1", generate_unique_id_function=operation_id)
LICENSE_PDF: dict[int | str, dict[str, object]] = {
    200: {
        "content": {"application/pdf": {}},
        "description": "the electronic license, one page, with its QR code",
    }
}


def _key(deps: AppDeps) -> bytes:
    return deps.settings.license_verify_key.get_secret_value().encode()


@router.get(
    "/applications/{application_id}/license",
    responses={**ERRORS, **LICENSE_PDF},
    tags=["print"],
    summary="The issued license as PDF (自动进口许可证)",
    response_class=Response,
)
async def print_license(application_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Response:
    """Once MOFCOM issued the license (status ``license_issued``): license no., validity,
    holder, goods, issuing agency and a QR code of the public verification URL. 409 before."""
    app = await queries.application(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    if not app.license_no or license.license_state(app, on=china_date(now_utc())) == "not_issued":
        raise Conflict(
            f"application {application_id} is {app.status.value}: the license exists once MOFCOM issued"
            " it (license_issued); print the application form with GET .../print meanwhile"
        )
    url = license.verification_url(deps.settings.entry_url, _key(deps), app.license_no)
    until = license.license_valid_until(app)
    pdf = await asyncio.to_thread(
        render_license_pdf, app, deps.ref, verify_url=url, valid_until=until.isoformat() if until else ""
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{app.license_no}.pdf"'},
    )


class LicenseVerification(BaseModel):
    """What Customs or a bank learns from the license's QR code: enough to check it, nothing
    private of the holder (no quantities, prices, contracts)."""

    license_no: str
    state: Literal["valid", "expired", "not_issued"] = Field(
        description="valid: issued and within its validity; expired: past it; not_issued: not (or no"
        " longer) issued"
    )
    valid_until: date | None
    holder_name: str
    issuing_agency: str
    commodity_code: str
    commodity_name: str
    goods_digest: str = Field(
        description="sha256 of the licensed goods (RFC 8785 JSON), to compare with a copy"
    )
    checked_on: date = Field(description="the China date of this check")


@router.get(
    "/verify/licenses/{license_no}/{token}",
    response_model=LicenseVerification,
    responses=errors(404, e404="no license with this number and token"),
    tags=["public"],
    summary="Verify a license (public: the URL of its QR code)",
)
async def verify_license(
    license_no: IdentifierText, token: IdentifierText, deps: AppDeps
) -> LicenseVerification:
    """No credentials: the token in the URL (from the license's QR code) is the proof. A wrong
    token and an unknown license are the same 404, so licenses cannot be enumerated."""
    app = None
    if license.token_matches(_key(deps), license_no, token):
        app = await queries.application_by_license(deps.pool, license_no=license_no)
    if app is None:
        raise NotFound("no license with this number and token: scan the QR code of the license again")
    agency = deps.ref.name("issuing_agencies", app.issuing_agency) or (app.issuing_agency or "")
    check = license.check_of(app, agency_name=agency, on=china_date(now_utc()))
    return LicenseVerification(**check.__dict__)
