"""The OpenAPI document generates a working client (openapi-python-client), and the draft,
contract, copy and query flow runs through that generated client against the running service."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.integration.application.support import complete_contract, complete_form, token

REPO = Path(__file__).resolve().parents[3]


async def generate(app_url: str, where: Path) -> Any:
    spec = where / "openapi.json"
    spec.write_bytes(httpx.get(f"{app_url}/openapi.json", timeout=10).content)
    package = f"ail_app_client_{uuid.uuid4().hex[:8]}"
    exe = shutil.which("openapi-python-client", path=str(REPO / ".venv" / "bin")) or "openapi-python-client"
    env = {**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
    proc = await asyncio.create_subprocess_exec(
        exe,
        "generate",
        "--path",
        str(spec),
        "--output-path",
        str(where / package),
        "--meta",
        "none",
        cwd=where,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode()
    assert b"Failure to process schema" not in out and b"Unable to parse" not in out, out.decode()
    sys.path.insert(0, str(where))
    try:
        return importlib.import_module(package)
    finally:
        sys.path.remove(str(where))


async def test_generated_client_drives_draft_contract_copy_and_query(app_url, demo, tmp_path):
    pkg = await generate(app_url, tmp_path)
    name = pkg.__name__
    api = lambda mod: importlib.import_module(f"{name}.api.{mod}")  # noqa: E731
    models = importlib.import_module(f"{name}.models")
    client = pkg.AuthenticatedClient(base_url=app_url, token=demo["enterprises"][0]["api_key"])

    async with client:
        user = f"生成客户端{token()}"
        draft = models.DraftCreate.from_dict({"handler_name": "张三", "import_user_name": user})
        created = await api("applications.create_application").asyncio(
            client=client, body=draft, idempotency_key=str(uuid.uuid4())
        )
        assert isinstance(created, models.ApplicationView), created
        assert created.status == "draft" and created.trade_mode == "10"

        changes = {k: v for k, v in complete_form().items() if k != "import_user_name"}
        edited = await api("applications.edit_application").asyncio(
            client=client, application_id=created.id, body=models.FormFields.from_dict(changes)
        )
        assert isinstance(edited, models.ApplicationView), edited
        assert edited.total_value == "380630.00" and edited.handler_name == "张三"

        saved = await api("contracts.put_contract").asyncio(
            client=client, application_id=created.id, body=models.ContractInfo.from_dict(complete_contract())
        )
        assert isinstance(saved, models.ContractView) and saved.saved
        got = await api("contracts.get_contract").asyncio(client=client, application_id=created.id)
        assert got.foreign_contract.settlement_currency == "USD"

        copies = await api("applications.copy_application").asyncio(
            client=client, application_id=created.id, body=models.CopyRequest(count=2)
        )
        assert isinstance(copies, models.CopyResult) and len(copies.copies) == 2
        assert all(c.copied_from == created.id and c.has_contract for c in copies.copies)

        page = await api("applications.query_applications").asyncio(
            client=client, import_user_name=user, page_size=2
        )
        assert isinstance(page, models.ApplicationPage)
        assert page.total == 3 and len(page.items) == 2

        submitted = await api("applications.submit_application").asyncio_detailed(
            client=client, application_id=copies.copies[0].id
        )
        assert submitted.status_code == 202, submitted.content
        again = await api("applications.edit_application").asyncio_detailed(
            client=client,
            application_id=copies.copies[0].id,
            body=models.FormFields.from_dict({"remarks": "x"}),
        )
        assert again.status_code == 409 and isinstance(again.parsed, models.ErrorBody)
