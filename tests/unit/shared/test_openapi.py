"""The public OpenAPI document (docs/openapi.json): merged from the six services, committed fresh,
valid (openapi-spec-validator), every public route declared by the conventions of
``ail_shared.openapi``, every path routed by the entry point to the service that declares it, and
the document and its reference page served without authentication."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import pytest
from fastapi import APIRouter, Depends, FastAPI
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError
from pydantic import BaseModel

from ail_shared import openapi
from ail_shared.http import get_tenant

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = REPO / "docs" / "openapi.json"
REGENERATE = "run `.venv/bin/python tools/openapi/build.py > docs/openapi.json` and commit it"
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
OPERATION_ID = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
FILE_TYPES = {"application/pdf", "text/csv", "text/event-stream", "application/octet-stream"}


@cache
def build() -> ModuleType:
    spec = importlib.util.spec_from_file_location("openapi_build", REPO / "tools" / "openapi" / "build.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@cache
def apps() -> dict[str, FastAPI]:
    return {s: importlib.import_module(f"ail_{s}.bootstrap").bootstrap() for s in build().SERVICES}


def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return data


def _typed(schema: dict[str, Any]) -> bool:
    """A $ref to a model, or a list of them: not ``{}`` and not a bare ``dict``."""
    if "$ref" in schema:
        return True
    return schema.get("type") == "array" and "$ref" in schema.get("items", {})


def _has_examples(value: Any) -> bool:
    if isinstance(value, dict):
        return "examples" in value or "example" in value or any(_has_examples(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_examples(v) for v in value)
    return False


def convention_problems(app: FastAPI) -> list[str]:
    """What a public route of ``app`` lacks, by the conventions of ``ail_shared.openapi``."""
    doc = app.openapi()
    schemas = doc.get("components", {}).get("schemas", {})
    out: list[str] = []
    for route in openapi.documented_routes(app):
        for method in sorted(m.lower() for m in route.methods):
            op = doc["paths"][route.path_format][method]
            if not openapi.public(route.path_format, op):
                continue
            label = f"{method.upper()} {route.path_format}"
            if route.summary is None:
                out.append(f"{label}: no summary= (a hand-written one)")
            if (
                op.get("operationId") != route.name
                or not OPERATION_ID.match(route.name)
                or "api_v1" in route.name
            ):
                out.append(
                    f"{label}: operationId {op.get('operationId')!r}: name the handler function by hand"
                )
            tags = op.get("tags", [])
            if len(tags) != 1 or tags[0] not in openapi.TAGS:
                out.append(f"{label}: tags {tags}: one tag of ail_shared.openapi.TAGS")
            responses: dict[str, Any] = op["responses"]
            ok = [s for s in responses if s.startswith("2")]
            if len(ok) != 1:
                out.append(f"{label}: {len(ok)} success responses, want one")
            for status in ok:
                content = responses[status].get("content", {})
                if status == "204":
                    continue
                json_body = content.get("application/json")
                if route.response_model is None or json_body is None:
                    if not FILE_TYPES & set(content):
                        out.append(f"{label}: no response_model= (a typed body for {status})")
                elif not _typed(json_body.get("schema", {})):
                    out.append(f"{label}: {status} body is not a model: {json_body.get('schema')}")
                if status == "201" and "Location" not in responses[status].get("headers", {}):
                    out.append(f"{label}: 201 without a Location header")
            wanted = (
                {"422"}
                | ({"401"} if op.get("security") else set())
                | ({"413"} if "requestBody" in op else set())
            )
            if any(p["in"] == "path" for p in op.get("parameters", [])):
                wanted.add("404")
            for status in sorted(wanted):
                schema = (
                    responses.get(status, {}).get("content", {}).get("application/json", {}).get("schema")
                )
                if schema != ERROR_REF:
                    out.append(f"{label}: no {status} in our error body (errors({status}))")
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body is not None:
                ref = body.get("schema", {}).get("$ref", "").rsplit("/", 1)[-1]
                if not _has_examples(body) and not _has_examples(schemas.get(ref, {})):
                    out.append(f"{label}: request body without examples (Body(examples=[...]))")
    if "HTTPValidationError" in json.dumps(doc):
        out.append("FastAPI's HTTPValidationError is in the document")
    return out


@pytest.mark.parametrize("service", ["application", "submission", "status", "customs", "signer", "stats"])
def test_every_public_route_follows_the_conventions(service: str) -> None:
    problems = convention_problems(apps()[service])
    assert not problems, f"{len(problems)} problem(s), see ail_shared.openapi:\n" + "\n".join(problems)


class Thing(BaseModel):
    name: str


def test_a_route_added_without_its_declarations_is_named() -> None:
    """The check above can fail: a route with no response model, summary, tag or errors."""
    app = FastAPI(generate_unique_id_function=openapi.operation_id)
    app.openapi = lambda: openapi.describe(app, auth=get_tenant)  # type: ignore[method-assign]
    router = APIRouter(prefix="/api/v1")

    @router.get("/things/{thing_id}")
    async def read_thing(thing_id: str, tenant: Annotated[Any, Depends(get_tenant)]) -> Any:
        return {}

    @router.post(
        "/things", status_code=201, response_model=Thing, summary="Add a thing", tags=["applications"]
    )
    async def add_thing(thing: Thing) -> Any:
        return thing

    app.include_router(router)
    problems = convention_problems(app)
    assert problems == [
        "GET /api/v1/things/{thing_id}: no summary= (a hand-written one)",
        "GET /api/v1/things/{thing_id}: tags []: one tag of ail_shared.openapi.TAGS",
        "GET /api/v1/things/{thing_id}: 200 body is not a model: {'title': 'Response Read Thing'}",
        "GET /api/v1/things/{thing_id}: no 404 in our error body (errors(404))",
        "POST /api/v1/things: request body without examples (Body(examples=[...]))",
    ], problems
    # What describe() adds itself: our 422 and 401, the security, Location on 201.
    read = app.openapi()["paths"]["/api/v1/things/{thing_id}"]["get"]
    assert read["responses"]["401"]["content"]["application/json"]["schema"] == ERROR_REF
    assert read["responses"]["422"]["content"]["application/json"]["schema"] == ERROR_REF
    assert read["security"] == [{"bearer_api_key": []}, {"session_cookie": []}]
    add = app.openapi()["paths"]["/api/v1/things"]["post"]
    assert add["security"] == [] and "401" not in add["responses"]
    assert "Location" in add["responses"]["201"]["headers"]


def test_the_committed_document_is_the_merged_one() -> None:
    assert DOCUMENT.read_text() == build().render(), f"docs/openapi.json is stale: {REGENERATE}"


def test_the_document_is_valid_openapi_3_1() -> None:
    doc = committed()
    assert doc["openapi"] == "3.1.0"
    validate(doc)
    broken = json.loads(json.dumps(doc))
    broken["paths"]["/api/v1/applications"]["post"]["responses"]["201"] = {"content": {}}  # no description
    with pytest.raises(OpenAPIValidationError):
        validate(broken)


def test_internal_routes_are_left_out_and_every_service_is_merged() -> None:
    doc = committed()
    assert not [p for p in doc["paths"] if p.startswith("/internal/")]
    served = {op["x-ail-service"] for item in doc["paths"].values() for op in item.values()}
    # The signer's one route is for operators inside (tag "internal"): the entry point has no route for it.
    assert served == {"application", "submission", "status", "customs", "stats"}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))
    assert doc["components"]["securitySchemes"]["session_cookie"]["name"] == "ail_session"


def test_the_merge_refuses_one_schema_name_with_two_shapes() -> None:
    one = {"paths": {}, "components": {"schemas": {"View": {"type": "object"}}}}
    two = {"paths": {}, "components": {"schemas": {"View": {"type": "string"}}}}
    with pytest.raises(openapi.MergeError, match="'View' differs between one and two"):
        openapi.merge({"one": one, "two": two}, title="t", description="d")


def _routed_service(path: str, routes: list[dict[str, Any]]) -> str:
    concrete = re.sub(r"\{[^}]+\}", "x1", path)
    return next(r["service"] for r in routes if re.search(r["match"], concrete))


def test_the_entry_point_routes_every_path_to_the_service_that_declares_it() -> None:
    spec = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())
    wrong = [
        f"{method.upper()} {path}: declared by {op['x-ail-service']}, routed to {routed}"
        for path, item in committed()["paths"].items()
        for method, op in item.items()
        if (routed := _routed_service(path, spec["routes"])) != op["x-ail-service"]
    ]
    assert not wrong, wrong


def test_the_document_and_its_reference_page_are_served_without_authentication() -> None:
    spec = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())
    documents = {d["path"]: d["file"] for d in spec["documents"]}
    assert documents["/api/v1/openapi.json"] == "docs/openapi.json"
    assert documents["/api/v1/docs"] == "tools/openapi/reference.html"
    page = (REPO / "tools" / "openapi" / "reference.html").read_text()
    # Assets from the project itself (npm swagger-ui-dist), never a CDN.
    assets = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert assets and all(a.startswith("/api/v1/docs/") for a in assets), assets
    assert set(assets) <= set(documents)


def test_openapi_typescript_generates_types_without_warnings(tmp_path: Path) -> None:
    """The console's types come from this document (openapi-typescript, pinned in tools/openapi)."""
    tools = REPO / "tools" / "openapi"
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed (Debian: apt-get install nodejs npm)")
    if not (tools / "node_modules" / "openapi-typescript").is_dir():
        # The pinned tools from tools/openapi/package-lock.json (./dev install does the same).
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=tools, check=True, timeout=900
        )
    out = tmp_path / "openapi.d.ts"
    result = subprocess.run(
        [node, "node_modules/openapi-typescript/bin/cli.js", str(DOCUMENT), "-o", str(out)],
        cwd=tools,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    said = result.stdout + result.stderr
    assert result.returncode == 0, said
    assert "warn" not in said.lower() and "error" not in said.lower(), said
    types = out.read_text()
    assert "create_application: {" in types and "ErrorBody: {" in types
