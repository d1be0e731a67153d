"""Issue 13 item 7 and issue 12 item 5, through the entry point: the attachments' hashes are in
the signed snapshot and MOFCOM holds the very bytes uploaded; what was signed can be checked by
a third party with openssl alone."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
from pathlib import Path

import httpx

from tests.integration.submission.support import PAST_SUBMITTING, create_draft, wait_status

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
PDF = b"%PDF-1.7\n" + "合同扫描件".encode() * 100 + b"\n%%EOF\n"


async def test_attachments_reach_mofcom_and_what_was_signed_verifies_with_openssl(
    enterprise_a: httpx.AsyncClient, enterprise_b: httpx.AsyncClient, stack: dict[str, str], tmp_path: Path
) -> None:
    a = enterprise_a
    app_id = await create_draft(a)
    base = f"/api/v1/applications/{app_id}"
    uploaded = {}
    for name, content in (("scan.png", PNG), ("合同.pdf", PDF)):
        r = await a.post(f"{base}/attachments", files={"file": (name, content)})
        assert r.status_code == 201, r.text
        uploaded[r.json()["id"]] = content
    assert (await a.get(f"{base}/signed-content")).status_code == 404  # nothing signed yet

    assert (await a.post(f"{base}/submit")).status_code == 202
    app = await wait_status(a, app_id, *PAST_SUBMITTING, timeout=90)
    assert app["form_no"], app

    # MOFCOM holds the bytes uploaded, per submission (its form no.).
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10.0) as mofcom:
        held = (await mofcom.get(f"/control/submissions/{app['form_no']}/attachments")).json()
        assert sorted(x["id"] for x in held["attachments"]) == sorted(uploaded)
        for attachment_id, content in uploaded.items():
            r = await mofcom.get(f"/control/submissions/{app['form_no']}/attachments/{attachment_id}")
            assert r.status_code == 200 and r.content == content

    # What was signed: another tenant does not see it; the owner gets bytes a third party checks.
    assert (await enterprise_b.get(f"{base}/signed-content")).status_code == 404
    r = await a.get(f"{base}/signed-content")
    assert r.status_code == 200, r.text
    [signed] = r.json()["items"]
    payload = base64.b64decode(signed["payload"])
    assert hashlib.sha256(payload).hexdigest() == signed["payload_sha256"]
    snapshot = json.loads(payload)
    assert snapshot["id"] == app_id
    assert {x["id"]: x["sha256"] for x in snapshot["attachments"]} == {
        i: hashlib.sha256(c).hexdigest() for i, c in uploaded.items()
    }
    (tmp_path / "payload.bin").write_bytes(payload)
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(signed["signature"]))
    (tmp_path / "certificate.pem").write_text(signed["certificate_pem"])

    def openssl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["openssl", *args], cwd=tmp_path, capture_output=True, text=True, timeout=30)

    pub = openssl("x509", "-in", "certificate.pem", "-pubkey", "-noout")
    assert pub.returncode == 0, pub.stderr
    (tmp_path / "pubkey.pem").write_text(pub.stdout)
    check = openssl("dgst", "-sha256", "-verify", "pubkey.pem", "-signature", "signature.bin", "payload.bin")
    assert check.returncode == 0 and "Verified OK" in check.stdout, (signed["algorithm"], check.stderr)
    # One changed byte fails, so the check above is a real one.
    (tmp_path / "payload.bin").write_bytes(payload.replace(app_id.encode(), app_id[::-1].encode()))
    check = openssl("dgst", "-sha256", "-verify", "pubkey.pem", "-signature", "signature.bin", "payload.bin")
    assert check.returncode != 0 and "Verified OK" not in check.stdout
