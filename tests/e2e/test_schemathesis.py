"""schemathesis over the public OpenAPI document: no input gives a server error, and every answer
is what the document says (issues 10 and 12).

``test_no_server_error`` reads the MERGED document the entry point serves
(``/api/v1/openapi.json``) and sends every request through the entry point (nginx), as a client's
would, with a valid API key so that it gets past authentication to the validation and the
handlers: positive and negative cases, a bounded number per operation (``EXAMPLES``), plus a
positive round on a real draft for the routes of one application; one test per service that
answers the operations (``x-ail-service``). Checks: ``not_a_server_error`` and the response
conformance checks (``CONFORMANCE``: the body matches its schema, the status and the content
type are documented, the documented headers are sent). ``test_no_server_error_straight_to_the_service``
sends fewer negative cases to each service directly, from the service's own document (what nginx
would refuse itself reaches the service): ``not_a_server_error`` only. The whole module takes
about two minutes on the 2-core test machine; ``tools/openapi/fuzz.py`` is the longer run.

Side effects are kept off the demo data: the requests act as a scratch enterprise of their own
(``SCRATCH_ENTERPRISE``, created here), so deletes, copies and submits touch only its drafts;
``X-Enterprise-Code`` (for agencies) is dropped, since an enterprise key naming another
enterprise is refused before anything is read. Not generated:

- ``/internal/*``: service-to-service routes behind the service credential, not public input;
- subscription URLs: a generated webhook URL would make the status service resolve and call
  hosts outside this machine, so every generated subscription points at ``127.0.0.1:9``
  (discard; nothing listens), whatever else the body holds.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ail_shared.auth import new_api_key

# Per operation and generation mode (positive, negative); benchmarks/schemathesis_long.py raises
# it and has every answer's status written to AIL_SCHEMATHESIS_REPORT (JSON lines) to count them.
EXAMPLES = int(os.environ.get("AIL_SCHEMATHESIS_EXAMPLES", "15"))
REPORT = os.environ.get("AIL_SCHEMATHESIS_REPORT")
EXAMPLES_DIRECT = 6  # per operation, negative only, straight to the service
# Rendering a real draft as PDF takes seconds (CJK font subsetting); its inputs are one header.
FEWER = {"GET /api/v1/applications/{application_id}/print": 3}
SCRATCH_ENTERPRISE = "9990000000777"
HOOK_URL = "http://127.0.0.1:9/schemathesis"
CONFORMANCE = [
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
]
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=True,  # the same cases every run: a failure here is reproducible
    suppress_health_check=list(HealthCheck),
    # No shrinking: a server error is reported as generated (with a curl command), and the time
    # the test takes stays bounded.
    phases=[Phase.explicit, Phase.generate],
)


@pytest.fixture(scope="session")
async def scratch_key(pg_dsn: str) -> str:
    conn = await asyncpg.connect(pg_dsn)
    try:
        await conn.execute(
            "INSERT INTO iam.enterprises (code, name, uscc) VALUES ($1, $2, $3)"
            " ON CONFLICT (code) DO NOTHING",
            SCRATCH_ENTERPRISE,
            "模糊测试企业 (schemathesis)",
            "91999000000000777X",
        )
        raw, key_id, digest = new_api_key()
        await conn.execute(
            "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
            " VALUES ($1, $2, 'enterprise', $3, 'schemathesis')",
            key_id,
            digest,
            SCRATCH_ENTERPRISE,
        )
    finally:
        await conn.close()
    return raw


@pytest.fixture(scope="session")
def scratch_draft(entry_url: str, scratch_key: str) -> str:
    """An electronic-license draft of the scratch enterprise (attachments need one)."""
    r = requests.post(
        f"{entry_url}/api/v1/applications",
        json={"commodity_code": "2601110000", "electronic_license": True},
        headers={"Authorization": f"Bearer {scratch_key}"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    draft_id: str = r.json()["id"]
    return draft_id


SERVICES = {
    # service: (URL variable of its own OpenAPI document, where its routes are called)
    "application": ("AIL_APPLICATION_URL", "entry"),
    "submission": ("AIL_SUBMISSION_URL", "entry"),
    "status": ("AIL_STATUS_URL", "entry"),
    "customs": ("AIL_CUSTOMS_SERVICE_URL", "entry"),
    # The signer's one route is for operators inside (not in the public document): straight to it.
    "signer": ("AIL_SIGNER_URL", "direct"),
    "stats": ("AIL_STATS_URL", "entry"),
}


def _prepare(case: Any, key: str, demo: dict[str, Any]) -> dict[str, str]:
    if case.headers:
        case.headers = {k: v for k, v in case.headers.items() if k.lower() != "x-enterprise-code"}
    if (
        case.path.startswith("/api/v1/subscriptions")
        and case.method == "POST"
        and isinstance(case.body, dict)
    ):
        case.body = {**case.body, "url": HOOK_URL}
    if case.path.startswith("/api/v1/ops/"):
        key = demo["operations"]["api_key"]  # the only principal the route serves
    return {"Authorization": f"Bearer {key}"}


def _call(case: Any, base_url: str, key: str, demo: dict[str, Any], checks: list[Any]) -> str | None:
    """None, or what went wrong (status and a curl command to repeat it)."""
    headers = _prepare(case, key, demo)
    if case.path == "/api/v1/events/stream":
        # A stream does not end by itself: what counts is the status before the first event.
        kwargs = case.as_transport_kwargs(base_url=base_url, headers=headers)
        with requests.request(**kwargs, stream=True, timeout=30) as response:
            if response.status_code >= 500:
                return f"{response.status_code}: {case.as_curl_command(headers=headers)}"
        return None
    try:
        response = case.call(base_url=base_url, headers=headers, timeout=30)
        if REPORT:
            with open(REPORT, "a", encoding="utf-8") as out:
                out.write(
                    json.dumps({"operation": case.operation.label, "status": response.status_code}) + "\n"
                )
        case.validate_response(response, checks=checks, headers=headers)
    except (AssertionError, FailureGroup) as failure:
        # Authorization is filtered out of the curl command; add your key to repeat it.
        return f"{str(failure).strip()[:1500]}"
    return None


def _explore(
    operation: Any,
    mode: GenerationMode,
    path_parameters: dict[str, str] | None,
    examples: int,
    call: Callable[[Any], str | None],
) -> list[str]:
    """Up to three server errors among ``examples`` generated cases of one operation."""
    seen: list[str] = []
    if path_parameters:
        examples = FEWER.get(operation.label, examples)

    @settings(SETTINGS, max_examples=examples)
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case: Any) -> None:
        problem = call(case)
        if problem is not None and len(seen) < 3:
            seen.append(problem)

    try:
        run()
    except Unsatisfiable:
        # Negative mode on an operation without parameters or body: nothing to get wrong.
        assert mode is GenerationMode.NEGATIVE, f"{operation.label}: no positive case"
    return seen


def _sweep(
    service: str,
    document_url: str,
    base_url: str,
    key: str,
    demo: dict[str, Any],
    *,
    modes: tuple[GenerationMode, ...],
    draft: str | None,
    examples: int,
    checks: list[Any],
) -> list[str]:
    schema = schemathesis.openapi.from_url(document_url)
    operations = [
        op.ok()
        for op in schema.exclude(path_regex="^/internal/").get_all_operations()
        # The merged document says which service answers each operation.
        if op.ok().definition.raw.get("x-ail-service", service) == service
    ]
    assert operations, f"{service}: no operation in the OpenAPI document"
    rounds: list[tuple[Any, GenerationMode, dict[str, str] | None]] = []
    for operation in operations:
        rounds += [(operation, mode, None) for mode in modes]
        # Random ids only reach "not found"; one more positive round on a real draft of the
        # scratch enterprise gets the generated bodies to the handlers.
        names = {p.name for p in operation.path_parameters}
        if draft and names == {"application_id"} and operation.method.upper() != "DELETE":
            rounds.append((operation, GenerationMode.POSITIVE, {"application_id": draft}))
    failures: list[str] = []
    for operation, mode, path_parameters in rounds:
        found = _explore(
            operation, mode, path_parameters, examples, lambda case: _call(case, base_url, key, demo, checks)
        )
        failures += [f"{operation.label} ({mode.value}): {p}" for p in found]
    return failures


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_server_error(
    service: str,
    stack: dict[str, str],
    entry_url: str,
    scratch_key: str,
    scratch_draft: str,
    demo: dict[str, Any],
) -> None:
    """As a client sees the platform: the merged document, through the entry point, positive and
    negative cases, every answer checked against the document."""
    url_variable, where = SERVICES[service]
    if where == "entry":
        document, base_url, checks = (
            f"{entry_url}/api/v1/openapi.json",
            entry_url,
            [not_a_server_error, *CONFORMANCE],
        )
    else:
        document, base_url, checks = (
            stack[url_variable] + "/openapi.json",
            stack[url_variable],
            [not_a_server_error],
        )
    modes = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    failures = _sweep(
        service,
        document,
        base_url,
        scratch_key,
        demo,
        modes=modes,
        draft=scratch_draft,
        examples=EXAMPLES,
        checks=checks,
    )
    assert not failures, f"{len(failures)} failure(s):\n" + "\n\n".join(failures)


@pytest.mark.parametrize("service", [s for s, (_, where) in SERVICES.items() if where == "entry"])
def test_no_server_error_straight_to_the_service(
    service: str, stack: dict[str, str], scratch_key: str, demo: dict[str, Any]
) -> None:
    """Straight to each service, negative cases only, fewer of them: what the entry point would
    have refused itself (a NUL in a path, say) reaches the service, as from a caller inside."""
    failures = _sweep(
        service,
        stack[SERVICES[service][0]] + "/openapi.json",
        stack[SERVICES[service][0]],
        scratch_key,
        demo,
        modes=(GenerationMode.NEGATIVE,),
        draft=None,
        examples=EXAMPLES_DIRECT,
        checks=[not_a_server_error],
    )
    assert not failures, f"{len(failures)} server error(s):\n" + "\n\n".join(failures)
