"""HTTP API of the submission service: e-keys and bindings, revoke, approval-status refresh
(/api/v1, behind the entry point), operations' routes (/internal, the service credential) and
MOFCOM's result callbacks (/internal/mofcom, signed by MOFCOM). /internal is not routed by the
entry point."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import httpx
from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, SecretStr

from ail_shared import topics
from ail_shared.auth import (
    CALLBACK_SIGNATURE_HEADER,
    CALLBACK_TIMESTAMP_HEADER,
    ServiceCredential,
    verify_callback,
)
from ail_shared.errors import AilError, Conflict, FieldProblem, InvalidInput, NotFound, Unauthenticated
from ail_shared.events import ApplicationRevoked, EkeyBound
from ail_shared.http import CurrentTenant, Pool, RuntimeDep
from ail_shared.idempotency import idempotent_response
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.logging import get_logger
from ail_submission.adapters.mofcom import Mofcom, Refused, Unavailable
from ail_submission.adapters.repository import SCHEMA, Repository
from ail_submission.domain import model
from ail_submission.service_layer import handlers

log = get_logger("ail.submission.api")
router = APIRouter(prefix="/api/v1", tags=["submission"])
# Operations and the demo: the service credential (X-AIL-Service-Token).
internal = APIRouter(prefix="/internal", tags=["internal"], dependencies=[ServiceCredential])
# MOFCOM's callbacks: authenticated as MOFCOM (its HMAC signature), not with our credential.
mofcom_callbacks = APIRouter(prefix="/internal/mofcom", tags=["internal"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


class MofcomUnavailable(AilError):
    status_code = 503
    code = "mofcom_unavailable"


def _mofcom(runtime: Any) -> Mofcom:
    client: Mofcom = runtime.extra["mofcom"]
    return client


@router.get("/ekeys")
async def list_ekeys(pool: Pool, tenant: CurrentTenant) -> dict[str, Any]:
    """E-keys plugged into a signer host right now that belong to the caller's enterprise(s)."""
    async with pool.acquire() as conn:
        repo = Repository(conn)
        rows = await repo.present_keys(enterprise_codes=tenant.enterprise_codes)
        bound = {b["ekey_serial"] for b in await repo.bindings(enterprise_codes=tenant.enterprise_codes)}
    return {
        "items": [
            {
                "serial": r["serial"],
                "subject": r["subject"],
                "label": r["label"],
                "algorithm": r["algorithm"],
                "enterprise_codes": [c for c in r["enterprise_codes"] if tenant.owns(c)],
                "signer_host": r["host_id"],
                "last_seen": r["last_seen"].isoformat(),
                "bound": r["serial"] in bound,
            }
            for r in rows
        ]
    }


class BindingIn(BaseModel):
    ekey_serial: str = Field(min_length=1, max_length=64, examples=["ee34ea9afbd4c4f0"])


def _binding_view(row: Any) -> dict[str, Any]:
    return {
        "enterprise_code": row["enterprise_code"],
        "ekey_serial": row["ekey_serial"],
        "subject": row["subject"],
        "bound_at": row["bound_at"].isoformat(),
        "bound_by": row["bound_by"],
    }


@router.get("/ekey-bindings")
async def list_bindings(pool: Pool, tenant: CurrentTenant) -> dict[str, Any]:
    async with pool.acquire() as conn:
        rows = await Repository(conn).bindings(enterprise_codes=tenant.enterprise_codes)
    return {"items": [_binding_view(r) for r in rows]}


async def _bind(
    conn: Any, enterprise: str, serial: str, subject: str, certificate_pem: str, bound_by: str
) -> dict[str, Any]:
    row = await Repository(conn).bind(
        enterprise_code=enterprise,
        serial=serial,
        subject=subject,
        certificate_pem=certificate_pem,
        bound_by=bound_by,
    )
    await handlers.emit(
        conn,
        topics.SUBMISSION,
        EkeyBound(
            enterprise_code=enterprise,
            ekey_serial=row["ekey_serial"],
            certificate_pem=row["certificate_pem"],
            subject=row["subject"],
            bound_at=row["bound_at"],
            bound_by=row["bound_by"],
        ),
        key=enterprise,
        tenant=enterprise,
    )
    return _binding_view(row)


@router.post("/ekey-bindings", status_code=201)
async def bind_ekey(
    body: BindingIn,
    pool: Pool,
    tenant: CurrentTenant,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Bind one of the enterprise's present e-keys; its certificate is registered with MOFCOM,
    which verifies every later submission's signature against it."""
    enterprise = tenant.enterprise_code
    async with pool.acquire() as conn:
        present = [
            r
            for r in await Repository(conn).present_keys(enterprise_codes=(enterprise,))
            if r["serial"] == body.ekey_serial
        ]
    if not present:
        raise InvalidInput(
            "e-key not present",
            [
                FieldProblem(
                    "ekey_serial",
                    f"no e-key {body.ekey_serial} of enterprise {enterprise} is plugged into a signer host "
                    "right now; plug it in and list GET /api/v1/ekeys",
                )
            ],
        )
    key = present[0]
    registered = await _mofcom(runtime).register_certificate(
        enterprise_code=enterprise, ekey_serial=key["serial"], certificate_pem=key["certificate_pem"]
    )
    if isinstance(registered, Unavailable):
        raise MofcomUnavailable(f"MOFCOM did not answer ({registered.error}); try the binding again")
    if isinstance(registered, Refused):
        raise InvalidInput(
            "MOFCOM refused the certificate",
            [FieldProblem("ekey_serial", f"{registered.reason}: {registered.detail}")],
        )

    async def work(conn: Any) -> tuple[int, Any]:
        return 201, await _bind(
            conn, enterprise, key["serial"], key["subject"], key["certificate_pem"], tenant.principal.id
        )

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path="/api/v1/ekey-bindings",
        body=body.model_dump(),
        work=work,
    )


async def _status_elsewhere(request: Request, runtime: Any, application_id: UUID) -> str:
    """The status of an application this service never saw submitted, asked of the application
    service with the caller's own credentials (so another tenant's id stays a 404)."""
    url = getattr(runtime.settings, "application_url", "")
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() in ("authorization", "x-api-key", "x-enterprise-code")
    }
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5.0) as client:
            resp = await client.get(f"/api/v1/applications/{application_id}", headers=headers)
    except httpx.HTTPError as exc:
        raise AilError(f"the application service did not answer: {exc!r}; try again") from exc
    if resp.status_code == 404:
        raise NotFound(f"application {application_id} not found")
    if resp.status_code != 200:
        raise AilError(f"the application service answered {resp.status_code}; try again")
    return str(resp.json().get("status", "draft"))


def _app_view(row: Any) -> dict[str, Any]:
    return {
        "application_id": str(row["application_id"]),
        "status": row["status"],
        "status_reason": row["status_reason"],
        "form_no": row["form_no"],
        "license_no": row["license_no"],
        "applied_at": row["applied_at"].isoformat() if row["applied_at"] else None,
    }


@router.post("/applications/{application_id}/revoke")
async def revoke(
    application_id: UUID,
    request: Request,
    pool: Pool,
    tenant: CurrentTenant,
    runtime: RuntimeDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Withdraw an application; allowed only while it is pending first review (409 otherwise)."""
    async with pool.acquire() as conn:
        row = await Repository(conn).application(
            application_id=application_id, enterprise_codes=tenant.enterprise_codes
        )
    status = row["status"] if row else await _status_elsewhere(request, runtime, application_id)
    model.ensure_revocable(application_id, status)
    assert row is not None and row["form_no"]
    answer = await _mofcom(runtime).revoke(form_no=row["form_no"])
    if isinstance(answer, Unavailable):
        raise MofcomUnavailable(f"MOFCOM did not answer ({answer.error}); try the revoke again")
    if isinstance(answer, Refused):
        mofcom_status = answer.body.get("error", {}).get("status", "")
        raise Conflict(
            f"MOFCOM refused the revoke of {application_id} "
            f"({mofcom_status or answer.reason}): {answer.detail}"
        )

    async def work(conn: Any) -> tuple[int, Any]:
        repo = Repository(conn)
        current = await repo.application(application_id=application_id, for_update=True)
        assert current is not None
        model.ensure_revocable(application_id, current["status"])
        revoked_at = (
            datetime.fromisoformat(answer["revoked_at"]) if answer.get("revoked_at") else datetime.now()
        )
        await repo.update_application(
            application_id, status=S.REVOKED.value, status_reason="revoked by applicant"
        )
        await handlers.emit(
            conn,
            topics.SUBMISSION,
            ApplicationRevoked(
                application_id=str(application_id),
                form_no=current["form_no"],
                revoked_at=revoked_at,
                reason="applicant",
            ),
            key=str(application_id),
            tenant=current["enterprise_code"],
        )
        return 200, {**_app_view(current), "status": S.REVOKED.value, "status_reason": "revoked by applicant"}

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path=f"/api/v1/applications/{application_id}/revoke",
        body=None,
        work=work,
    )


@router.post("/applications/{application_id}/approval-status")
async def refresh_approval_status(
    application_id: UUID, request: Request, pool: Pool, tenant: CurrentTenant, runtime: RuntimeDep
) -> dict[str, Any]:
    """Ask MOFCOM now (any status but draft) and apply what it says."""
    async with pool.acquire() as conn:
        row = await Repository(conn).application(
            application_id=application_id, enterprise_codes=tenant.enterprise_codes
        )
    if row is None:
        status = await _status_elsewhere(request, runtime, application_id)
        raise Conflict(f"application {application_id} is {status}: it has never been sent to MOFCOM")
    if row["status"] == S.DRAFT:
        raise Conflict(
            f"application {application_id} is draft: approval status is known only after submission"
        )
    mofcom: dict[str, Any] | None = None
    if row["form_no"]:
        answer = await _mofcom(runtime).status(form_no=row["form_no"])
        if isinstance(answer, Unavailable):
            raise MofcomUnavailable(f"MOFCOM did not answer ({answer.error}); try again")
        if isinstance(answer, Refused):
            raise AilError(f"MOFCOM refused the status query: {answer.reason} {answer.detail}")
        mofcom = answer
        for r in answer.get("results", []):
            async with pool.acquire() as conn, conn.transaction():
                await handlers.apply_review_result(
                    conn,
                    form_no=r["form_no"],
                    stage=r["stage"],
                    result=r["result"],
                    opinion=r.get("opinion", ""),
                    license_no=r.get("license_no"),
                    reviewed_at=datetime.fromisoformat(r["reviewed_at"]),
                )
    async with pool.acquire() as conn:
        row = await Repository(conn).application(application_id=application_id)
    return {**_app_view(row), "mofcom": mofcom}


class ReviewResultIn(BaseModel):
    form_no: str = Field(min_length=1, max_length=40)
    application_id: UUID
    idempotency_key: UUID = Field(description="the submission id we sent to MOFCOM as Idempotency-Key")
    stage: str = Field(pattern="^(first|second)$")
    result: str = Field(pattern="^(passed|rejected)$")
    opinion: str = Field(default="", max_length=2000)
    license_no: str | None = Field(default=None, max_length=40)
    reviewed_at: datetime


async def mofcom_signature(
    request: Request,
    runtime: RuntimeDep,
    timestamp: Annotated[str | None, Header(alias=CALLBACK_TIMESTAMP_HEADER)] = None,
    signature: Annotated[str | None, Header(alias=CALLBACK_SIGNATURE_HEADER)] = None,
) -> None:
    """The callback is MOFCOM's: signed with the shared secret over timestamp + raw body, and
    fresh (a replayed or forged callback is refused before anything is read)."""
    secret = getattr(runtime.settings, "mofcom_callback_secret", None)
    try:
        verify_callback(
            secret or SecretStr(""), timestamp=timestamp, signature=signature, body=await request.body()
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
async def mofcom_result(body: Annotated[ReviewResultIn, Body()], pool: Pool) -> JSONResponse:
    """MOFCOM pushes each review result here (repeats and out-of-order deliveries are fine).
    The result must name a submission we sent to MOFCOM, for that application, and fit it."""
    async with pool.acquire() as conn, conn.transaction():
        outcome = await handlers.receive_review_result(
            conn, submission_id=body.idempotency_key, **body.model_dump(exclude={"idempotency_key"})
        )
    if isinstance(outcome, model.CallbackRefusal):
        log.warning(
            "mofcom_callback_refused", form_no=body.form_no, code=outcome.code, reason=outcome.message
        )
        if not outcome.retry:
            raise CallbackRefused(outcome.message, outcome.code, outcome.status)
        return JSONResponse({"outcome": outcome.code, "retry": True}, status_code=409)
    if outcome == "unknown_form":
        return JSONResponse({"outcome": outcome, "retry": True}, status_code=409)
    return JSONResponse({"outcome": outcome}, status_code=200)


@internal.get("/submissions")
async def submissions(
    pool: Pool, application_id: UUID | None = None, state: str | None = None
) -> dict[str, Any]:
    """The submission state table (attempts, last error): what operations look at."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT submission_id, application_id, state, attempts, last_error, reason, form_no,
                       next_attempt_at, updated_at
                FROM {SCHEMA}.submissions
                WHERE ($1::uuid IS NULL OR application_id = $1) AND ($2::text IS NULL OR state = $2)
                ORDER BY updated_at DESC LIMIT 500""",
            application_id,
            state,
        )
    return {"items": [{k: (str(v) if v is not None else None) for k, v in dict(r).items()} for r in rows]}


class InternalBindingIn(BaseModel):
    enterprise_code: str = Field(pattern=r"^\d{13}$")
    ekey_serial: str = Field(min_length=1, max_length=64)
    certificate_pem: str


@internal.post("/ekey-bindings", status_code=201)
async def bind_ekey_by_certificate(
    body: InternalBindingIn, pool: Pool, runtime: RuntimeDep
) -> dict[str, Any]:
    """Operations and demo data: bind an e-key by its certificate, whether or not a signer host
    holds it right now (not routed by the entry point). Submissions still need a host holding it."""
    from ail_submission.domain.model import enterprise_codes_of, subject_of

    if body.enterprise_code not in enterprise_codes_of(body.certificate_pem):
        raise InvalidInput(
            "certificate does not name the enterprise",
            [
                FieldProblem(
                    "certificate_pem", f"its subject names no O= / serialNumber= {body.enterprise_code}"
                )
            ],
        )
    registered = await _mofcom(runtime).register_certificate(
        enterprise_code=body.enterprise_code,
        ekey_serial=body.ekey_serial,
        certificate_pem=body.certificate_pem,
    )
    if isinstance(registered, Unavailable):
        raise MofcomUnavailable(f"MOFCOM did not answer ({registered.error}); try the binding again")
    if isinstance(registered, Refused):
        raise InvalidInput(
            "MOFCOM refused the certificate", [FieldProblem("certificate_pem", registered.detail)]
        )
    async with pool.acquire() as conn, conn.transaction():
        return await _bind(
            conn,
            body.enterprise_code,
            body.ekey_serial,
            subject_of(body.certificate_pem),
            body.certificate_pem,
            "internal",
        )
