"""The public OpenAPI document as a client meets it, at the entry point (issue 12, item 1).

The entry point serves the merged document and its reference page without authentication; a
Python client generated from the served document (openapi-python-client, at test time into a
temporary folder, without a warning) drives a draft through create, contract, copy, query,
submit and history with typed results, against the real stack through nginx.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import re
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.integration.application.support import complete_contract, complete_form, token
from tests.support import eventually

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"


async def test_the_entry_point_serves_the_document_and_its_reference_page(entry_url: str) -> None:
    async with httpx.AsyncClient(base_url=entry_url, timeout=30) as anon:
        served = await anon.get("/api/v1/openapi.json")
        assert served.status_code == 200
        assert served.content == (REPO / "docs" / "openapi.json").read_bytes()
        page = await anon.get("/api/v1/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
        assert len(assets) == 3, assets
        for asset in assets:
            got = await anon.get(asset)
            assert got.status_code == 200 and len(got.content) > 100, asset
        # A route of the API is still closed without a key.
        assert (await anon.get("/api/v1/applications")).status_code == 401


async def generate(entry_url: str, where: Path) -> Any:
    spec = where / "openapi.json"
    spec.write_bytes(httpx.get(f"{entry_url}/api/v1/openapi.json", timeout=10).content)
    package = f"ail_client_{uuid.uuid4().hex[:8]}"
    # A PDF is a file like any other to a generated client: the generator knows files only as
    # application/octet-stream (its own setting for other file types).
    config = where / "client-config.json"
    config.write_text(json.dumps({"content_type_overrides": {"application/pdf": "application/octet-stream"}}))
    env = {**os.environ, "PATH": f"{VENV_BIN}:{os.environ.get('PATH', '')}"}  # its ruff hook
    proc = await asyncio.create_subprocess_exec(
        str(VENV_BIN / "openapi-python-client"),
        "generate",
        "--path",
        str(spec),
        "--output-path",
        str(where / package),
        "--meta",
        "none",
        "--config",
        str(config),
        cwd=where,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    text = out.decode()
    assert proc.returncode == 0, text
    assert "Warning" not in text and "Unable to" not in text and "Failure" not in text, text
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(where))


async def test_a_generated_client_drives_create_query_submit_and_history(
    entry_url: str, demo: dict[str, Any], tmp_path: Path
) -> None:
    pkg = await generate(entry_url, tmp_path)
    name = pkg.__name__

    def api(module: str) -> Any:
        return importlib.import_module(f"{name}.api.{module}")

    models = importlib.import_module(f"{name}.models")
    enterprise = demo["enterprises"][0]
    client = pkg.AuthenticatedClient(base_url=entry_url, token=enterprise["api_key"], timeout=30)

    async with client:
        user = f"生成客户端{token()}"
        created = await api("applications.create_application").asyncio_detailed(
            client=client,
            body=models.DraftCreate.from_dict(complete_form(import_user_name=user)),
            idempotency_key=str(uuid.uuid4()),
        )
        assert created.status_code == 201, created.content
        draft = created.parsed
        assert isinstance(draft, models.ApplicationView), draft
        assert created.headers["location"] == f"/api/v1/applications/{draft.id}"
        assert draft.status == "draft" and draft.trade_mode == "10"

        saved = await api("contracts.put_contract").asyncio(
            client=client,
            application_id=draft.id,
            body=models.ContractInfo.from_dict(complete_contract(enterprise["code"])),
        )
        assert isinstance(saved, models.ContractView) and saved.saved

        copies = await api("applications.copy_application").asyncio_detailed(
            client=client, application_id=draft.id, body=models.CopyRequest(count=1)
        )
        assert copies.status_code == 201 and isinstance(copies.parsed, models.CopyResult)
        assert copies.headers["location"] == f"/api/v1/applications/{copies.parsed.copies[0].id}"

        page = await api("applications.query_applications").asyncio(
            client=client, import_user_name=user, page_size=1
        )
        assert isinstance(page, models.ApplicationPage), page
        assert page.total == 2 and len(page.items) == 1

        submitted = await api("applications.submit_application").asyncio_detailed(
            client=client, application_id=draft.id
        )
        assert submitted.status_code == 202, submitted.content
        assert isinstance(submitted.parsed, models.ApplicationView)
        assert submitted.parsed.status == "submitting"

        refused = await api("applications.edit_application").asyncio_detailed(
            client=client, application_id=draft.id, body=models.FormFields.from_dict({"remarks": "x"})
        )
        assert refused.status_code == 409 and isinstance(refused.parsed, models.ErrorBody)
        assert refused.parsed.error.code == "conflict"

        history_of = api("status.application_history")

        async def history() -> Any:
            got = await history_of.asyncio(client=client, application_id=str(draft.id))
            return got if isinstance(got, models.History) and got.items else None

        seen = await eventually(history, what="the status service's history of the submitted draft")
        assert seen.serial_no == draft.serial_no
        first = seen.items[0]
        assert (
            isinstance(first, models.HistoryEntry) and first.event.type_ == "ApplicationSubmitted"
        )  # `type` is `type_` in Python

        other = pkg.AuthenticatedClient(base_url=entry_url, token=demo["enterprises"][1]["api_key"])
        async with other:
            hidden = await history_of.asyncio_detailed(client=other, application_id=str(draft.id))
        assert hidden.status_code == 404 and isinstance(hidden.parsed, models.ErrorBody)
