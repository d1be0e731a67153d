"""Operator sign-in (issue 18): ``/api/v1/session``. The session itself is checked by the
shared auth in every service (``ail_shared.sessions``); this router only opens, shows, switches
and closes it. Served here because the entry point routes ``/api/v1/`` to this service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Cookie, Header, Request, Response
from pydantic import BaseModel, Field

from ail_application.entrypoints.common import operation_id
from ail_shared.errors import Unauthenticated
from ail_shared.http import get_runtime
from ail_shared.inputs import CodeText
from ail_shared.openapi import errors
from ail_shared.sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    SESSION_SECONDS,
    SessionInfo,
    SessionStore,
)

router = APIRouter(prefix="/api/v1", generate_unique_id_function=operation_id)

SessionCookie = Annotated[str | None, Cookie(alias=SESSION_COOKIE, include_in_schema=False)]
CsrfHeader = Annotated[
    str | None,
    Header(alias=CSRF_HEADER, description="The CSRF token of the session (the ail_csrf cookie's value)"),
]


class SignInRequest(BaseModel):
    username: str = Field(min_length=1, max_length=64, examples=["demo-ent-a"])
    password: str = Field(min_length=1, max_length=256, examples=["demo-password"])


class EnterpriseSwitch(BaseModel):
    enterprise_code: CodeText = Field(
        description="One of the enterprises that authorised the agency", examples=["3100123456789"]
    )


class SessionEnterprise(BaseModel):
    code: str
    name: str


class SessionView(BaseModel):
    username: str
    display_name: str
    kind: Literal["enterprise", "agency", "operations"]
    enterprise_code: str | None
    agency_code: str | None
    acting_enterprise: str | None = Field(
        description="The enterprise this session acts for: the enterprise's own, or the agency's choice"
    )
    enterprises: list[SessionEnterprise] = Field(description="The enterprises this session may act for")
    expires_at: datetime
    csrf_token: str | None = Field(
        None, description=f"Sent once, at sign-in; send it back in {CSRF_HEADER} on every write"
    )


def _store(request: Request) -> SessionStore:
    store = get_runtime(request).sessions
    assert store is not None
    return store


async def _view(store: SessionStore, info: SessionInfo, csrf: str | None = None) -> SessionView:
    a = info.account
    names = await store.enterprise_names(a.authorised)
    acting = a.enterprise_code if a.kind == "enterprise" else info.acting_enterprise
    return SessionView(
        username=a.username,
        display_name=a.display_name,
        kind=a.kind,
        enterprise_code=a.enterprise_code,
        agency_code=a.agency_code,
        acting_enterprise=acting,
        enterprises=[SessionEnterprise(code=c, name=names.get(c, c)) for c in a.authorised],
        expires_at=info.expires_at,
        csrf_token=csrf,
    )


async def _current(request: Request, cookie: str | None, csrf: str | None) -> SessionInfo:
    if not cookie:
        raise Unauthenticated("not signed in: POST /api/v1/session with your user name and password")
    return await _store(request).lookup(cookie, method=request.method, csrf_token=csrf)


def _set_cookies(request: Request, response: Response, cookie: str, csrf: str) -> None:
    # Secure outside development: the local stack is plain http on 127.0.0.1.
    secure = get_runtime(request).settings.env != "development"
    common = {"max_age": SESSION_SECONDS, "path": "/", "samesite": "strict", "secure": secure}
    response.set_cookie(SESSION_COOKIE, cookie, httponly=True, **common)  # type: ignore[arg-type]
    # Readable by the console's script (double submit); useless to another site.
    response.set_cookie(CSRF_COOKIE, csrf, httponly=False, **common)  # type: ignore[arg-type]


@router.post(
    "/session",
    response_model=SessionView,
    summary="Sign in (the console's session)",
    responses=errors(
        401, 429, e401="wrong user name or password", e429="locked after repeated failed sign-ins"
    ),
    tags=["session"],
)
async def sign_in(
    request: Request, response: Response, body: Annotated[SignInRequest, Body()]
) -> SessionView:
    """Sign in: answers the session cookie ``ail_session`` (HttpOnly, SameSite=Strict) and the
    CSRF token (also in the readable cookie ``ail_csrf``). Wrong passwords are answered slower
    each time and lock the account for a while after five in a row."""
    store = _store(request)
    new = await store.sign_in(body.username, body.password)
    _set_cookies(request, response, new.cookie, new.csrf_token)
    return await _view(store, new.info, new.csrf_token)


@router.get(
    "/session",
    response_model=SessionView,
    summary="The signed-in operator",
    responses=errors(401, e401="not signed in, or the session ended"),
    tags=["session"],
)
async def current_session(request: Request, cookie: SessionCookie = None) -> SessionView:
    """Who is signed in, the enterprises the session may act for, and until when."""
    info = await _current(request, cookie, None)
    return await _view(_store(request), info)


@router.put(
    "/session/enterprise",
    response_model=SessionView,
    summary="Switch the enterprise an agency's session acts for",
    responses=errors(
        401, 403, e403="not an agency, or the enterprise has not authorised it; or no CSRF token"
    ),
    tags=["session"],
)
async def switch_enterprise(
    request: Request,
    body: Annotated[EnterpriseSwitch, Body()],
    cookie: SessionCookie = None,
    csrf: CsrfHeader = None,
) -> SessionView:
    """An agency's switcher: the session acts for this enterprise from now on (as
    X-Enterprise-Code does for an agency's key). Idempotent."""
    store = _store(request)
    info = await store.switch(await _current(request, cookie, csrf), body.enterprise_code)
    return await _view(store, info)


@router.delete(
    "/session",
    status_code=204,
    summary="Sign out",
    responses=errors(401, 403, e403="no CSRF token"),
    tags=["session"],
)
async def sign_out(request: Request, cookie: SessionCookie = None, csrf: CsrfHeader = None) -> Response:
    """Sign out: the session ends in every service at once; the cookies are cleared."""
    await _store(request).sign_out(await _current(request, cookie, csrf))
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response
