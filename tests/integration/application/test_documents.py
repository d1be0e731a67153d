"""Print (PDF with embedded CJK font, HTML) and attachments."""

from __future__ import annotations

import io
import re
import zipfile

from pypdf import PdfReader

from tests.integration.application.support import complete_form
from tests.support import page_one_png, pdftotext_layout


def pdf_text(content: bytes) -> list[str]:
    """Page texts without whitespace. fpdf2 writes the CJK font as a CID font with an embedded
    encoding CMap, which pypdf reads as 1-byte codes: it puts a NUL before every character."""
    return [re.sub(r"[\s\x00]+", "", p.extract_text()) for p in PdfReader(io.BytesIO(content)).pages]


def real_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="contract scan")
    return bytes(pdf.output())


async def test_printed_pdf_has_the_chinese_name_and_commodity_code(enterprise_a_direct, make_draft, demo):
    app = await make_draft(complete=True, commodity_code="2601110000")
    r = await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}/print")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    pages = pdf_text(r.content)
    text = "".join(pages)
    assert demo["enterprises"][0]["name"] in text
    assert "2601110000" in text and app["serial_no"] in text
    assert "未烧结铁矿砂" in text and "有效截止日期" in text and "总计" in text
    fonts = PdfReader(io.BytesIO(r.content)).pages[0]["/Resources"]["/Font"]
    font = next(iter(fonts.values())).get_object()
    assert "NotoSansCJK" in font["/BaseFont"]
    descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
    assert "/FontFile2" in descriptor or "/FontFile3" in descriptor  # embedded subset, not referenced


async def test_html_print_and_batch_print(enterprise_a_direct, make_draft):
    one, two = await make_draft(complete=True), await make_draft(complete=True, commodity_code="2709000000")
    r = await enterprise_a_direct.get(
        f"/api/v1/applications/{one['id']}/print", headers={"Accept": "text/html"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "北京示例进出口有限公司" in r.text and "2303300010" in r.text
    r = await enterprise_a_direct.post("/api/v1/applications/print", json={"ids": [one["id"], two["id"]]})
    assert r.status_code == 200
    pages = pdf_text(r.content)
    assert len(pages) == 2
    assert one["serial_no"] in pages[0] and "2709000000" in pages[1]


async def test_attachment_limits_and_byte_for_byte_round_trip(enterprise_a_direct, make_draft):
    app = await make_draft()
    base = f"/api/v1/applications/{app['id']}/attachments"
    too_big = b"%PDF-1.7\n" + b"0" * (1024 * 1024 + 1 - 9)
    assert len(too_big) == 1024 * 1024 + 1
    r = await enterprise_a_direct.post(base, files={"file": ("big.pdf", too_big, "application/pdf")})
    assert r.status_code == 422 and "over the limit" in r.json()["error"]["details"][0]["reason"]
    exe = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200
    r = await enterprise_a_direct.post(base, files={"file": ("invoice.pdf", exe, "application/pdf")})
    assert r.status_code == 422 and "not an allowed type" in r.json()["error"]["details"][0]["reason"]
    exactly = b"%PDF-1.7\n" + b"1" * (1024 * 1024 - 9)
    assert (await enterprise_a_direct.post(base, files={"file": ("max.pdf", exactly)})).status_code == 201

    content = real_pdf()
    r = await enterprise_a_direct.post(
        base, files={"file": ("合同扫描件.bin", content, "application/octet-stream")}
    )
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["content_type"] == "application/pdf" and meta["size"] == len(content)
    listed = (await enterprise_a_direct.get(base)).json()
    assert [x["id"] for x in listed][-1] == meta["id"] and len(listed) == 2
    got = await enterprise_a_direct.get(f"{base}/{meta['id']}")
    assert got.status_code == 200 and got.content == content
    assert got.headers["content-type"] == "application/pdf"
    assert (await enterprise_a_direct.delete(f"{base}/{meta['id']}")).status_code == 204
    assert (await enterprise_a_direct.get(f"{base}/{meta['id']}")).status_code == 404


async def test_other_allowed_types_and_paper_applications(enterprise_a_direct, make_draft):
    app = await make_draft()
    base = f"/api/v1/applications/{app['id']}/attachments"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    jpeg = b"\xff\xd8\xff\xe0" + b"\x00" * 32
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("OFD.xml", "<ofd:OFD/>")
    plain_zip = io.BytesIO()
    with zipfile.ZipFile(plain_zip, "w") as z:
        z.writestr("x.txt", "x")
    for name, content, expected in [
        ("a.png", png, "image/png"),
        ("a.pdf", jpeg, "image/jpeg"),
        ("a.ofd", buf.getvalue(), "application/ofd"),
    ]:
        r = await enterprise_a_direct.post(base, files={"file": (name, content)})
        assert r.status_code == 201 and r.json()["content_type"] == expected
    assert (
        await enterprise_a_direct.post(base, files={"file": ("a.ofd", plain_zip.getvalue())})
    ).status_code == 422
    paper = await make_draft(**complete_form(commodity="8003000010"))
    assert paper["electronic_license"] is False
    r = await enterprise_a_direct.post(
        f"/api/v1/applications/{paper['id']}/attachments", files={"file": ("a.png", png)}
    )
    assert r.status_code == 409 and "electronic" in r.json()["error"]["message"]


async def test_print_is_the_manuals_form_and_page_one_renders(enterprise_a, demo) -> None:
    """Issue 13, item 18: the print is the manual's 自动进口许可证申请表 (paired boxes 1-24,
    19/20 with the price currency, 23 with 申领日期 and 申请盖章单位, 24 签证机关审批, the footer),
    units by name. Page 1 is rendered to PNG as a test artifact (look at it:
    .devstack/<profile>/artifacts/print-page1.png)."""
    goods = [
        {"spec": "蛋白≥26%", "unit": "070", "quantity": "1000", "unit_price": "250.5"},
        {"spec": "蛋白≥28%", "unit": "035", "quantity": "500.5", "unit_price": "260"},
    ]
    created = await enterprise_a.post("/api/v1/applications", json=complete_form(currency="CNY", goods=goods))
    assert created.status_code == 201, created.text
    app = created.json()
    r = await enterprise_a.get(f"/api/v1/applications/{app['id']}/print")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text = "".join(pdf_text(r.content))
    for box in (
        "1.申请进口单位",
        "2.自动进口许可证申请表号",
        "4.自动进口许可证有效截止日期",
        "9.外汇来源",
        "15.商品名称",
    ):
        assert box in text, box
    assert "19.单价(CNY)" in text and "20.总值(CNY)" in text and "21.总值折美元" in text
    assert "22.总计" in text and "23.备注" in text and "申领日期" in text and "申请盖章单位" in text
    assert "24.签证机关审批" in text and "中华人民共和国商务部监制" in text
    assert "吨" in text and "千克" in text and "070吨" not in text and "035千克" not in text
    # Paired boxes: 1 and 2 share a line, as on the form (pdftotext keeps the layout).
    layout = pdftotext_layout(r.content)
    assert any(
        "1. 申请进口单位" in line and "2. 自动进口许可证申请表号" in line for line in layout.splitlines()
    )
    png = page_one_png(r.content, "print-page1")
    assert png.stat().st_size > 10_000
