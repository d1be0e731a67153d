"""Issue 10, item 4: no door open. Every internal route of every running service (every route
the entry point does not route to that service, read from the service's own OpenAPI, so a new
route is covered by itself) refuses a request without the service credential with 401 and
works with it; the entry point exposes none of them."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import pytest

from ail_shared.auth import SERVICE_CREDENTIAL_HEADER, callback_headers
from tests.support import REPO

SERVICES = {
    "application": "AIL_APPLICATION_URL",
    "submission": "AIL_SUBMISSION_URL",
    "status": "AIL_STATUS_URL",
    "customs": "AIL_CUSTOMS_SERVICE_URL",
    "signer": "AIL_SIGNER_URL",
    "stats": "AIL_STATS_URL",
}
# Authenticated as MOFCOM (its signature), not with our service credential.
MOFCOM_CALLBACKS = {"/internal/mofcom/results", "/internal/mofcom/license-cancellations"}
KNOWN_INTERNAL = {
    ("submission", "/internal/mofcom/results"),
    ("submission", "/internal/mofcom/license-cancellations"),
    ("submission", "/internal/submissions"),
    ("submission", "/internal/ekey-bindings"),
    ("signer", "/api/v1/signer/keys"),
    ("application", "/internal/applications/{application_id}/attachments/{attachment_id}"),
}
DUMMY = "00000000-0000-0000-0000-000000000000"


def routed_to(path: str) -> str | None:
    """The service the entry point sends ``path`` to (deploy/nginx/routes.json, first match)."""
    routes = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())["routes"]
    for r in routes:
        if re.search(r["match"], path):
            return str(r["service"])
    return None


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", DUMMY, path)


def internal_routes(stack: dict[str, str]) -> list[tuple[str, str, str, str]]:
    """(service, base url, method, path) of every route its entry point does not reach."""
    out = []
    for service, var in SERVICES.items():
        base = stack[var]
        spec: dict[str, Any] = httpx.get(f"{base}/openapi.json", timeout=10).json()
        for path, ops in spec["paths"].items():
            if routed_to(concrete(path)) == service:
                continue
            out.extend((service, base, method.upper(), path) for method in ops if method != "parameters")
    return out


async def test_every_internal_route_requires_the_service_credential(stack: dict[str, str]) -> None:
    routes = internal_routes(stack)
    assert KNOWN_INTERNAL <= {(s, p) for s, _, _, p in routes}, routes
    token = stack["AIL_INTERNAL_TOKEN"]
    secret = stack["AIL_MOFCOM_CALLBACK_SECRET"]
    problems = []
    async with httpx.AsyncClient(timeout=10) as client:
        for service, base, method, path in routes:
            url = base + concrete(path)
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            plain = {"Content-Type": "application/json"}
            for label, headers in (
                ("none", plain),
                ("wrong", {**plain, SERVICE_CREDENTIAL_HEADER: token[:-2] + "xx"}),
                ("api key", {**plain, "Authorization": "Bearer ail_x_y"}),
            ):
                resp = await client.request(method, url, content=body, headers=headers)
                if resp.status_code != 401:
                    problems.append(f"{service} {method} {path} with {label} credential: {resp.status_code}")
            if path in MOFCOM_CALLBACKS:
                good = {**plain, **callback_headers(secret, body or b"")}
            else:
                good = {**plain, SERVICE_CREDENTIAL_HEADER: token}
            resp = await client.request(method, url, content=body, headers=good)
            # With the credential the route itself answers: its data, or a 4xx about the input.
            if resp.status_code == 401 or resp.status_code >= 500:
                problems.append(
                    f"{service} {method} {path} with the credential: {resp.status_code} {resp.text}"
                )
    assert not problems, "\n".join(problems)


async def test_the_entry_point_exposes_no_internal_route(stack: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=stack["AIL_ENTRY_URL"], timeout=10) as client:
        for service, _, method, path in internal_routes(stack):
            resp = await client.request(method, concrete(path), headers={SERVICE_CREDENTIAL_HEADER: "x"})
            assert resp.status_code == 404, (service, method, path, resp.status_code)


@pytest.mark.parametrize("path", ["/internal/submissions", "/internal/mofcom/results", "/internal/x"])
async def test_nginx_answers_404_for_internal(stack: dict[str, str], path: str) -> None:
    async with httpx.AsyncClient(base_url=stack["AIL_ENTRY_URL"], timeout=10) as client:
        assert (await client.get(path)).status_code == 404
        assert (await client.post(path, json={})).status_code == 404
