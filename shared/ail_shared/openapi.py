"""The OpenAPI conventions of the public API, in one place, and the merge of the services' documents.

Every service's ``/openapi.json`` is made by :func:`describe` (``ail_shared.http.create_app`` sets
it), and ``tools/openapi/build.py`` merges the six into the one public document,
``docs/openapi.json``, with :func:`merge`; the entry point serves it at ``/api/v1/openapi.json``
and a reference page at ``/api/v1/docs`` (docs/api.md). How a route is declared::

    @router.post(
        "/applications",
        status_code=201,
        response_model=ApplicationView,  # typed, always (a file: ``response_class`` + ``responses``)
        summary="Create a draft (暂存)",  # hand-written; the docstring is the description
        responses=errors(404, 409),  # the errors the route really returns, besides the automatic ones
        tags=["applications"],  # one of TAGS
    )
    async def create_application(...)  # the operationId is the function's name: choose it

What :func:`describe` adds to every operation, so no route repeats it: 400 (unparsable) and 422
(the request guard checks every request) in OUR error body, never FastAPI's
``HTTPValidationError``; 401 and the security (bearer API key or the console's ``ail_session``
cookie) when the route takes the tenant; 413 when it takes a body; a ``Location`` header on 201
(the route sets it: :func:`located`).
``tests/unit/shared/test_openapi.py`` fails when a public route lacks any of these.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import FastAPI, routing
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from pydantic.json_schema import models_json_schema

__all__ = [
    "BEARER",
    "SECURED",
    "SECURITY_SCHEMES",
    "SESSION",
    "SESSION_COOKIE",
    "TAGS",
    "ErrorBody",
    "ErrorDetail",
    "MergeError",
    "Problem",
    "describe",
    "documented_routes",
    "errors",
    "located",
    "merge",
    "operation_id",
    "public",
]

OPENAPI_VERSION = "3.1.0"
DOCUMENT_VERSION = "1.0.0"
REF = "#/components/schemas/{model}"
SESSION_COOKIE = "ail_session"  # the console's session (issue 12; set by the console's login)
BEARER = "bearer_api_key"
SESSION = "session_cookie"
SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    BEARER: {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key: `Authorization: Bearer <key>` (`X-Api-Key: <key>` works too). "
        "Agencies name the enterprise they act for in `X-Enterprise-Code`.",
    },
    SESSION: {
        "type": "apiKey",
        "in": "cookie",
        "name": SESSION_COOKIE,
        "description": "The console's session cookie, set when an operator signs in to the console.",
    },
}
SECURED: list[dict[str, list[str]]] = [{BEARER: []}, {SESSION: []}]

# Every tag a public operation may carry, with what it groups (the reference page's sections).
TAGS: dict[str, str] = {
    "applications": "Drafts of the application form (自动进口许可证申请表): create, edit, copy, delete, "
    "query, submit",
    "contracts": "The contract parts of a draft (foreign trade contract, iron-ore contract)",
    "pre-check": "Pre-check (预审) of an importer and a commodity before a draft is made",
    "reference": "Code tables of the form (countries, ports, units, currencies, ...)",
    "key-agri": "Key agricultural product filings (重点农产品备案)",
    "print": "The printed application form (PDF)",
    "attachments": "Files attached to an electronic-license application",
    "submission": "Submission to MOFCOM, revocation, approval status, e-keys and their bindings",
    "status": "An application's status and its history",
    "subscriptions": "Webhook subscriptions to status changes, and their deliveries",
    "live stream": "Status changes as server-sent events",
    "operations": "For operators: time spent in each status, dead letters and parked work",
    "customs": "Licenses at Customs: detail, availability, clearances, resending",
    "statistics": "Monthly statistics of licenses",
    "licenses": "The license after issue: its PDF, surrender, change or extension by reissue",
    "public": "Without a key: the license check a QR code of the printed license points at",
    "session": "Operators' sign-in to the console: the session cookie, the agency's switch, sign-out",
}


# ---------------------------------------------------------------- the error body (ail_shared.http)


class Problem(BaseModel):
    """One field in error (``ail_shared.errors.FieldProblem``)."""

    field: str = Field(examples=["goods.0.quantity"], description="dotted path into the request")
    reason: str = Field(examples=["required"])
    code: str | None = Field(
        None, description="stable machine code of the rule (docs/application.md, 'Problem codes')"
    )


class ErrorDetail(BaseModel):
    code: str = Field(examples=["invalid_input"], description="stable machine code of the error")
    message: str = Field(examples=["the application cannot be submitted: 2 problem(s)"])
    details: list[Problem] = Field(
        default_factory=list,
        examples=[
            [{"field": "goods.0.quantity", "reason": "required"}, {"field": "contract", "reason": "required"}]
        ],
    )


class ErrorBody(BaseModel):
    """Every error: what went wrong, and for 422 every field in error at once
    (``ail_shared.http.error_body`` writes it)."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "the request cannot be parsed",
    401: "no API key or session, or one that is not valid: send `Authorization: Bearer <key>`",
    403: "authenticated, but this principal may not do this",
    404: "no such object for this tenant",
    409: "the object's status forbids this operation",
    412: "the object changed since it was read (If-Match): read it again",
    413: "the request body is over the limit (docs/limits.md)",
    422: "fields in error, all at once: error.details[].field / .reason",
    429: "too many requests: wait (Retry-After) and send it again",
    502: "an upstream system (MOFCOM, Customs) refused or failed: try again later",
    503: "an upstream system is unavailable: try again later",
}


def errors(*statuses: int, **why: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: each status in our error body, with the standard description or
    one of the route's own (``errors(404, 409, e409="only a draft can be edited")``)."""
    return {s: {"model": ErrorBody, "description": why.get(f"e{s}", ERROR_DESCRIPTIONS[s])} for s in statuses}


def operation_id(route: APIRoute) -> str:
    """operationId = the handler's name, so generated clients read like the API."""
    return route.name


def located(response: JSONResponse, location: str) -> JSONResponse:
    """A 201 says where the new object is (``Location``; the OpenAPI document declares it)."""
    response.headers["Location"] = location
    return response


LOCATION_HEADER = {
    "description": "where the created object is (a path on this API)",
    "schema": {"type": "string"},
}


# ---------------------------------------------------------------- one service's document


def documented_routes(app: FastAPI) -> list[Any]:
    """The app's routes as the document sees them (prefixes of included routers applied): each
    has ``path_format``, ``methods``, ``name``, ``summary``, ``response_model``, ``dependant``."""
    return [
        c
        for c in routing.iter_route_contexts(app.routes)
        if isinstance(c.original_route, APIRoute) and c.include_in_schema
    ]


def _uses(route: Any, dependency: Callable[..., Any] | tuple[Callable[..., Any], ...]) -> bool:
    wanted = dependency if isinstance(dependency, tuple) else (dependency,)
    todo = list(route.dependant.dependencies)
    while todo:
        d = todo.pop()
        if any(d.call is w for w in wanted):
            return True
        todo += d.dependencies
    return False


def _error_schemas() -> dict[str, Any]:
    _, top = models_json_schema([(ErrorBody, "serialization")], ref_template=REF)
    schemas: dict[str, Any] = top["$defs"]
    return schemas


def describe(app: FastAPI, *, auth: Callable[..., Any] | tuple[Callable[..., Any], ...]) -> dict[str, Any]:
    """The service's OpenAPI document with the conventions above; ``auth`` is the dependency that
    authenticates, or several (a route that uses one gets 401 and the security schemes)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=OPENAPI_VERSION,
        description=app.description,
        routes=app.routes,
        separate_input_output_schemas=app.separate_input_output_schemas,
    )
    secured = {(r.path_format, m.lower()): _uses(r, auth) for r in documented_routes(app) for m in r.methods}
    for path, item in doc.get("paths", {}).items():
        for method, op in item.items():
            responses: dict[str, Any] = op.setdefault("responses", {})
            # 400: what the entry point (or the server) cannot parse at all, a bad escape in the
            # path, a body that is not JSON or multipart; 422 for everything it can name.
            wanted = (
                [400, 422]
                + ([401] if secured.get((path, method)) else [])
                + ([413] if "requestBody" in op else [])
            )
            for status in wanted:
                entry = responses.setdefault(str(status), {"description": ERROR_DESCRIPTIONS[status]})
                if status == 422 and entry.get("description") == "Validation Error":
                    entry["description"] = ERROR_DESCRIPTIONS[422]
                entry["content"] = {"application/json": {"schema": {"$ref": REF.format(model="ErrorBody")}}}
            if "201" in responses:
                responses["201"].setdefault("headers", {})["Location"] = LOCATION_HEADER
            op["security"] = SECURED if secured.get((path, method)) else []
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for gone in ("HTTPValidationError", "ValidationError"):
        schemas.pop(gone, None)
    schemas.update(_error_schemas())
    components["securitySchemes"] = copy.deepcopy(SECURITY_SCHEMES)
    app.openapi_schema = doc
    return doc


# ---------------------------------------------------------------- the merge


class MergeError(ValueError):
    """Two services describe the same operation, or one schema name two ways."""


def public(path: str, op: dict[str, Any]) -> bool:
    """Internal routes (service to service, behind the service credential) are left out."""
    return not path.startswith("/internal/") and "internal" not in op.get("tags", [])


def _refs(value: Any) -> Iterable[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "$ref" and isinstance(v, str):
                yield v.rsplit("/", 1)[-1]
            else:
                yield from _refs(v)
    elif isinstance(value, list):
        for v in value:
            yield from _refs(v)


def merge(documents: dict[str, dict[str, Any]], *, title: str, description: str) -> dict[str, Any]:
    """One document of the public operations of every service (``documents``: service name to
    its :func:`describe` document). Each operation says which service answers it
    (``x-ail-service``); schemas no public operation uses are dropped."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for service, doc in documents.items():
        for path, item in doc.get("paths", {}).items():
            for method, op in item.items():
                if not public(path, op):
                    continue
                slot = paths.setdefault(path, {})
                if method in slot:
                    raise MergeError(
                        f"{method.upper()} {path}: in {slot[method]['x-ail-service']} and {service}"
                    )
                slot[method] = {**op, "x-ail-service": service}
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and schemas[name] != schema:
                raise MergeError(
                    f"schema {name!r} differs between {owner[name]} and {service}: rename one of the models"
                )
            schemas.setdefault(name, schema)
            owner.setdefault(name, service)
    used: set[str] = set()
    todo = list(_refs(paths))
    while todo:
        name = todo.pop()
        if name not in used and name in schemas:
            used.add(name)
            todo += list(_refs(schemas[name]))
    tags = sorted({t for item in paths.values() for op in item.values() for t in op.get("tags", [])})
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": DOCUMENT_VERSION, "description": description},
        "servers": [{"url": "/", "description": "the entry point"}],
        "tags": [{"name": t, "description": TAGS.get(t, "")} for t in tags],
        "paths": {p: paths[p] for p in sorted(paths)},
        "components": {
            "schemas": {n: schemas[n] for n in sorted(used)},
            "securitySchemes": copy.deepcopy(SECURITY_SCHEMES),
        },
    }
