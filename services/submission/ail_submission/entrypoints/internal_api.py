"""Operations' routes of the submission service (/internal, the service credential; not routed
by the entry point) and MOFCOM's result callbacks (/internal/mofcom, signed by MOFCOM)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ail_shared.auth import (
    CALLBACK_SIGNATURE_HEADER,
    CALLBACK_TIMESTAMP_HEADER,
    ServiceCredential,
    verify_callback,
)
from ail_shared.errors import AilError, Unauthenticated
from ail_shared.http import Pool
from ail_shared.logging import get_logger
from ail_submission.adapters import queries
from ail_submission.domain.commands import (
    BindEkeyByCertificate,
    ReceiveLicenseCancellation,
    ReceiveReviewResult,
    Result,
    Stage,
)
from ail_submission.domain.model import CallbackRefusal
from ail_submission.entrypoints.api import DepsDep, binding_view

log = get_logger("ail.submission.api")
# Operations and the demo: the service credential (X-AIL-Service-Token).
internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[ServiceCredential])
# MOFCOM's callbacks: authenticated as MOFCOM (its HMAC signature), not with our credential.
mofcom_callbacks = APIRouter(prefix="/internal/mofcom", tags=["internal"])


class ReviewResultIn(BaseModel):
    form_no: str = Field(min_length=1, max_length=40)
    application_id: UUID
    idempotency_key: UUID = Field(description="the submission id we sent to MOFCOM as Idempotency-Key")
    stage: Stage
    result: Result
    opinion: str = Field(default="", max_length=2000)
    license_no: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime


async def mofcom_signature(
    request: Request,
    deps: DepsDep,
    timestamp: Annotated[str | None, Header(alias=CALLBACK_TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=CALLBACK_SIGNATURE_HEADER)] = None,
) -> None:
    """The callback is MOFCOM's: signed with the shared secret over timestamp + raw body, and
    fresh (a replayed or forged callback is refused before anything is read)."""
    try:
        verify_callback(
            deps.settings.mofcom_callback_secret,
            timestamp=timestamp,
            signature=signature,
            body=await request.body(),
        )
    except Unauthenticated as exc:
        log.warning("mofcom_callback_refused", reason=exc.message, client=str(request.client))
        raise


class CallbackRefused(AilError):
    """A signed MOFCOM result that does not fit the submission it names (4xx, never applied)."""

    def __init__(self, message: str, code: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status_code = status


@mofcom_callbacks.post("/results", dependencies=[Depends(mofcom_signature)])
async def mofcom_result(body: Annotated[ReviewResultIn, Body()], deps: DepsDep) -> JSONResponse:
    """MOFCOM pushes each review result here (repeats and out-of-order deliveries are fine).
    The result must name a submission we sent to MOFCOM, for that application, and fit it."""
    cmd = ReceiveReviewResult(
        submission_id=body.idempotency_key,
        application_id=body.application_id,
        form_no=body.form_no,
        stage=body.stage,
        result=body.result,
        opinion=body.opinion,
        license_no=body.license_no,
        reviewed_at=body.reviewed_at,
    )
    outcome: CallbackRefusal | str = await deps.handle(cmd)
    if isinstance(outcome, CallbackRefusal):
        log.warning(
            "mofcom_callback_refused", form_no=body.form_no, code=outcome.code, reason=outcome.message
        )
        if not outcome.retry:
            raise CallbackRefused(outcome.message, outcome.code, outcome.status)
        return JSONResponse({"outcome": outcome.code, "retry": True}, status_code=409)
    if outcome == "unknown_form":
        return JSONResponse({"outcome": outcome, "retry": True}, status_code=409)
    return JSONResponse({"outcome": outcome}, status_code=200)


class LicenseCancellationIn(BaseModel):
    form_no: str = Field(min_length=1, max_length=40)
    application_id: UUID
    license_no: str = Field(min_length=1, max_length=40)
    reason: str = Field(default="", max_length=2000)
    cancelled_at: datetime


class CallbackOutcome(BaseModel):
    outcome: str


@mofcom_callbacks.post(
    "/license-cancellations",
    dependencies=[Depends(mofcom_signature)],
    operation_id="mofcom_license_cancellation",
    tags=["internal"],
    summary="MOFCOM cancelled a license it issued (signed callback)",
    response_model=CallbackOutcome,
)
async def mofcom_license_cancellation(body: Annotated[LicenseCancellationIn, Body()], deps: DepsDep) -> Any:
    """Relayed to the customs service (``LicenseCancellationReceived``), which cancels the
    license, tells Customs and the applicant. Repeats are fine. 404 for a license we do not know."""
    outcome = await deps.handle(
        ReceiveLicenseCancellation(
            form_no=body.form_no,
            application_id=body.application_id,
            license_no=body.license_no,
            reason=body.reason,
            cancelled_at=body.cancelled_at,
        )
    )
    if outcome == "unknown_license":
        raise CallbackRefused(f"no license {body.license_no} of form {body.form_no}", "unknown_license", 404)
    return {"outcome": outcome}


@internal.get("/submissions")
async def submissions(
    pool: Pool, application_id: UUID | None = None, state: str | None = None
) -> dict[str, Any]:
    """The submission state table (attempts, last error): what operations look at."""
    rows = await queries.submissions(pool, application_id=application_id, state=state)
    return {"items": [{k: (str(v) if v is not None else None) for k, v in r.items()} for r in rows]}


class InternalBindingIn(BaseModel):
    enterprise_code: str = Field(pattern=r"^\d{13}$")
    ekey_serial: str = Field(min_length=1, max_length=64)
    certificate_pem: str


@internal.post("/ekey-bindings", status_code=201)
async def bind_ekey_by_certificate(body: InternalBindingIn, deps: DepsDep) -> dict[str, Any]:
    """Operations and demo data: bind an e-key by its certificate, whether or not a signer host
    holds it right now (not routed by the entry point). Submissions still need a host holding it."""
    cmd = BindEkeyByCertificate(
        enterprise_code=body.enterprise_code,
        ekey_serial=body.ekey_serial,
        certificate_pem=body.certificate_pem,
    )
    return binding_view(await deps.handle(cmd))
