"""Issue 13, item 19: once issued, the license itself as PDF (自动进口许可证) with a QR code whose
URL is the public check (through the entry point, no credentials) of the license's current
state; the URL cannot be guessed, and the check shows nothing private."""

from __future__ import annotations

import io
import re
import shutil
import subprocess

import httpx
from pypdf import PdfReader

from tests.integration.submission.support import create_draft, wait_status
from tests.support import page_one_png


async def test_the_issued_license_prints_with_a_qr_code_of_its_public_check(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, mofcom_sandbox: httpx.AsyncClient, entry_url: str
) -> None:
    app_id = await create_draft(enterprise_a)
    early = await enterprise_a.get(f"/api/v1/applications/{app_id}/license")
    assert early.status_code == 409 and "license_issued" in early.text, early.text
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    app = await wait_status(enterprise_a, app_id, "license_issued", timeout=90)

    r = await enterprise_a.get(f"/api/v1/applications/{app_id}/license")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf", r.text
    text = re.sub(r"[\s\x00]+", "", PdfReader(io.BytesIO(r.content)).pages[0].extract_text())
    assert "中华人民共和国自动进口许可证" in text and app["license_no"] in text
    assert "有效截止日期" in text and str(app["valid_until"]) in text and "发证机关" in text

    png = page_one_png(r.content, "license-page1")
    assert shutil.which("zbarimg"), "install zbar-tools (./dev install)"
    decoded = subprocess.run(["zbarimg", "--raw", "-q", str(png)], capture_output=True, text=True, check=True)
    url = decoded.stdout.strip()
    assert url.startswith(f"{entry_url}/api/v1/verify/licenses/{app['license_no']}/"), url

    async with httpx.AsyncClient(timeout=30) as anonymous:  # Customs or a bank: no credentials
        check = await anonymous.get(url)
        assert check.status_code == 200, check.text
        body = check.json()
        assert body["license_no"] == app["license_no"] and body["state"] == "valid"
        assert body["valid_until"] == str(app["valid_until"]) and body["holder_name"]
        assert body["issuing_agency"] and body["goods_digest"].startswith("sha256:")
        # Only what a check needs: no quantities, prices, contract, ids or enterprise code.
        assert set(body) == {
            "license_no",
            "state",
            "valid_until",
            "holder_name",
            "issuing_agency",
            "commodity_code",
            "commodity_name",
            "goods_digest",
            "checked_on",
        }
        # Not guessable: another token, or the token of another license no., is not found.
        token = url.rsplit("/", 1)[1]
        forged = url[: -len(token)] + ("A" if token[0] != "A" else "B") + token[1:]
        assert (await anonymous.get(forged)).status_code == 404
        no = app["license_no"]
        other = url.replace(f"/{no}/", f"/{no[:-1]}{'1' if no[-1] == '0' else '0'}/")
        assert (await anonymous.get(other)).status_code == 404
