"""HTTP API of the submission service (/api/v1, behind the entry point): e-keys and bindings,
revoke, approval-status refresh. Routes parse, build a command, call the bus
(``Deps.handle``), render; reads go through ``adapters.queries``."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ail_shared.auth import Tenant
from ail_shared.http import CurrentTenant, Pool
from ail_shared.idempotency import idempotent_response
from ail_shared.inputs import RemarksText
from ail_shared.openapi import errors, located
from ail_shared.paging import ListPage, Page
from ail_submission.adapters import queries
from ail_submission.adapters.repository import SCHEMA
from ail_submission.bootstrap import Deps, deps_of
from ail_submission.domain.commands import (
    BindEkey,
    Credentials,
    RefreshApprovalStatus,
    RevokeApplication,
    UnbindEkey,
)
from ail_submission.domain.ekeys import Binding, Unbinding
from ail_submission.domain.model import ApplicationView
from ail_submission.service_layer.handlers import ApprovalStatus

router = APIRouter(prefix="/api/v1", tags=["submission"])
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe writes: the same key and body replay the first response",
    ),
]
DepsDep = Annotated[Deps, Depends(deps_of)]
# The caller's credentials, passed on to the application service for an application this
# service never saw (so another tenant's id stays a 404 there too).
_PASSED_ON = ("authorization", "x-api-key", "x-enterprise-code")


class EkeyView(BaseModel):
    serial: str = Field(examples=["ee34ea9afbd4c4f0"])
    subject: str = Field(examples=["CN=北京示例进出口有限公司"])
    label: str
    algorithm: str = Field(examples=["SM2"])
    enterprise_codes: list[str] = Field(description="the caller's enterprises this e-key may sign for")
    signer_host: str
    last_seen: str = Field(description="when the signer host last reported it (ISO 8601)")
    bound: bool = Field(description="bound to the caller's enterprise (POST /api/v1/ekey-bindings)")


class EkeyList(Page[EkeyView]):
    """The caller's e-keys present on signer hosts, one page."""


class BindingView(BaseModel):
    enterprise_code: str = Field(examples=["1100776367555"])
    ekey_serial: str = Field(examples=["ee34ea9afbd4c4f0"])
    subject: str
    bound_at: str = Field(description="ISO 8601")
    bound_by: str = Field(description="the principal that bound it")


class BindingList(Page[BindingView]):
    """The caller's e-key bindings, one page."""


class UnbindingView(BaseModel):
    """A withdrawn binding, as recorded (a repeated DELETE answers the same record)."""

    enterprise_code: str = Field(examples=["1100776367555"])
    ekey_serial: str = Field(examples=["ee34ea9afbd4c4f0"])
    subject: str
    bound_at: str = Field(description="when the withdrawn binding was made (ISO 8601)")
    bound_by: str
    unbound_at: str = Field(description="ISO 8601")
    unbound_by: str = Field(description="the principal that withdrew it")


class SubmissionState(BaseModel):
    """An application as the submission service sees it."""

    application_id: UUID
    status: str = Field(examples=["revoked"])
    status_reason: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    applied_at: str | None = Field(None, description="ISO 8601")


class ApprovalStatusView(SubmissionState):
    mofcom: dict[str, Any] = Field(description="MOFCOM's answer as it gave it")


def credentials_of(request: Request) -> Credentials:
    return tuple((k, v) for k, v in request.headers.items() if k.lower() in _PASSED_ON)


def binding_view(b: Binding) -> dict[str, Any]:
    return {
        "enterprise_code": b.enterprise_code,
        "ekey_serial": b.ekey_serial,
        "subject": b.subject,
        "bound_at": b.bound_at.isoformat(),
        "bound_by": b.bound_by,
    }


def unbinding_view(u: Unbinding) -> dict[str, Any]:
    return {
        "enterprise_code": u.enterprise_code,
        "ekey_serial": u.ekey_serial,
        "subject": u.subject,
        "bound_at": u.bound_at.isoformat(),
        "bound_by": u.bound_by,
        "unbound_at": u.unbound_at.isoformat(),
        "unbound_by": u.unbound_by,
    }


def application_view(v: ApplicationView) -> dict[str, Any]:
    return {
        "application_id": str(v.application_id),
        "status": v.status,
        "status_reason": v.status_reason,
        "form_no": v.form_no,
        "license_no": v.license_no,
        "applied_at": v.applied_at.isoformat() if v.applied_at else None,
    }


@router.get("/ekeys", response_model=EkeyList, summary="List the caller's present e-keys")
async def list_ekeys(pool: Pool, tenant: CurrentTenant, paging: ListPage) -> dict[str, Any]:
    """E-keys plugged into a signer host right now that belong to the caller's enterprise(s)."""
    listed = await queries.present_keys(pool, enterprise_codes=tenant.enterprise_codes)
    return paging.whole(
        [
            {
                "serial": k.key.serial,
                "subject": k.key.subject,
                "label": k.key.label,
                "algorithm": k.key.algorithm,
                "enterprise_codes": [c for c in k.key.enterprise_codes if tenant.owns(c)],
                "signer_host": k.key.host_id,
                "last_seen": k.key.last_seen.isoformat(),
                "bound": k.bound,
            }
            for k in listed
        ]
    )


class BindingIn(BaseModel):
    ekey_serial: str = Field(min_length=1, max_length=64, examples=["ee34ea9afbd4c4f0"])


@router.get("/ekey-bindings", response_model=BindingList, summary="List the e-key bindings")
async def list_bindings(pool: Pool, tenant: CurrentTenant, paging: ListPage) -> dict[str, Any]:
    found = await queries.bindings(pool, enterprise_codes=tenant.enterprise_codes)
    return paging.whole([binding_view(b) for b in found])


async def _idempotent(
    deps: DepsDep,
    pool: Pool,
    tenant: Tenant,
    key: str | None,
    path: str,
    body: Any,
    cmd: Any,
    render: Any,
    status: int,
) -> JSONResponse:
    """Run ``cmd`` once per Idempotency-Key, in the key's transaction (a replay gets the stored answer)."""

    async def work(conn: Any) -> tuple[int, Any]:
        return status, render(await deps.handle(cmd, uow=deps.uow(conn)))

    return await idempotent_response(
        pool, schema=SCHEMA, tenant=tenant, key=key, path=path, body=body, work=work
    )


@router.post(
    "/ekey-bindings",
    status_code=201,
    response_model=BindingView,
    summary="Bind an e-key to the enterprise",
    responses=errors(503),
)
async def bind_ekey(
    body: BindingIn, pool: Pool, tenant: CurrentTenant, deps: DepsDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Bind one of the enterprise's present e-keys; its certificate is registered with MOFCOM,
    which verifies every later submission's signature against it."""
    cmd = BindEkey(
        enterprise_code=tenant.enterprise_code, ekey_serial=body.ekey_serial, bound_by=tenant.principal.id
    )
    response = await _idempotent(
        deps,
        pool,
        tenant,
        idempotency_key,
        "/api/v1/ekey-bindings",
        body.model_dump(),
        cmd,
        binding_view,
        201,
    )
    # One binding per e-key: it is listed by GET /api/v1/ekey-bindings (there is no single read).
    return located(response, "/api/v1/ekey-bindings") if response.status_code == 201 else response


@router.delete(
    "/ekey-bindings/{ekey_serial}",
    response_model=UnbindingView,
    summary="Unbind an e-key from the enterprise",
    responses=errors(404, 409, 502, 503),
)
async def unbind_ekey(
    ekey_serial: Annotated[str, Path(min_length=1, max_length=64, examples=["ee34ea9afbd4c4f0"])],
    tenant: CurrentTenant,
    deps: DepsDep,
) -> dict[str, Any]:
    """Withdraw the binding (解绑): MOFCOM withdraws the certificate, and submitting is refused
    (409) until the enterprise binds an e-key again. 409 while submissions signed with the key
    are on their way to MOFCOM; 404 for an e-key not bound to the caller's enterprise. Safe to
    retry: once withdrawn, the same request answers the recorded withdrawal."""
    cmd = UnbindEkey(
        enterprise_codes=tenant.enterprise_codes, ekey_serial=ekey_serial, unbound_by=tenant.principal.id
    )
    return unbinding_view(await deps.handle(cmd))


class RevokeIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "合同变更，重新申请"}]}
    )
    reason: RemarksText = Field(
        default="",
        description="why the applicant withdraws it (撤销原因); kept in the history and sent to MOFCOM",
    )


@router.post(
    "/applications/{application_id}/revoke",
    response_model=SubmissionState,
    summary="Revoke (撤回) a submitted application",
    responses=errors(404, 409, 503),
)
async def revoke(
    application_id: UUID,
    request: Request,
    pool: Pool,
    tenant: CurrentTenant,
    deps: DepsDep,
    body: Annotated[RevokeIn | None, Body(examples=[{"reason": "合同变更，重新申请"}])] = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Withdraw an application; allowed only while it is pending first review (409 otherwise).
    The body is optional: ``{"reason": "..."}`` keeps the applicant's reason."""
    reason = body.reason.strip() if body is not None else ""
    cmd = RevokeApplication(
        application_id=application_id,
        enterprise_codes=tenant.enterprise_codes,
        credentials=credentials_of(request),
        reason=reason,
    )
    path = f"/api/v1/applications/{application_id}/revoke"
    # The request hash keeps a body-less revoke's as it was (None), so stored keys still match.
    hashed = {"reason": reason} if reason else None
    return await _idempotent(deps, pool, tenant, idempotency_key, path, hashed, cmd, application_view, 200)


@router.post(
    "/applications/{application_id}/approval-status",
    response_model=ApprovalStatusView,
    summary="Ask MOFCOM for the approval status now",
    responses=errors(404, 409, 502, 503),
)
async def refresh_approval_status(
    application_id: UUID, request: Request, tenant: CurrentTenant, deps: DepsDep
) -> dict[str, Any]:
    """Ask MOFCOM now (any status but draft) and apply what it says."""
    cmd = RefreshApprovalStatus(
        application_id=application_id,
        enterprise_codes=tenant.enterprise_codes,
        credentials=credentials_of(request),
    )
    answer: ApprovalStatus = await deps.handle(cmd)
    return {**application_view(answer.view), "mofcom": answer.mofcom}
