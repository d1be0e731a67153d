"""Print of the application form (自动进口许可证申请表), boxes 1 to 24, as PDF or HTML.

The PDF embeds a subset of Noto Sans CJK SC (Debian fonts-noto-cjk) so that Chinese text renders
and can be extracted. Rendering is CPU work: callers run it in a thread."""

from __future__ import annotations

import html
import io
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import qrcode  # type: ignore[import-untyped]  # no stubs; one call site (qr_png)
import qrcode.constants  # type: ignore[import-untyped]
from fpdf import FPDF, FontFace

from ail_application.domain.model import Application
from ail_application.domain.reference import ReferenceData

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
SC_INDEX = 2  # in the Noto CJK collections: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK
FORM_TITLE = "自动进口许可证申请表"  # the manual's printed form (申请单证打印)
STATUS_ZH = {
    "draft": "暂存",
    "submitting": "上报中",
    "pending_first_review": "待初审",
    "revoked": "已撤销",
    "first_review_rejected": "初审不通过",
    "pending_second_review": "待复审",
    "second_review_rejected": "复审不通过",
    "approved": "复审通过",
    "license_issued": "已打印或生成电子许可证",
}


def font_path() -> Path:
    configured = os.environ.get("AIL_CJK_FONT")
    for candidate in ((configured,) if configured else ()) + FONT_CANDIDATES:
        if candidate and Path(candidate).exists():
            return Path(candidate)
    raise RuntimeError("no CJK font found: install Debian fonts-noto-cjk or set AIL_CJK_FONT")


def _coded(ref: ReferenceData, table: str, code: Any) -> str:
    if not code:
        return ""
    name = ref.name(table, str(code))
    return f"{code} {name}".strip()


Box = tuple[str, str, str]  # (box number, label, value)


def _unit_name(ref: ReferenceData, code: Any) -> str:
    """Units print by name (千克, 吨), as on the manual's form, never by code."""
    if not code:
        return ""
    return ref.name("units", str(code)) or str(code)


def boxes(app: Application, ref: ReferenceData) -> list[Box]:
    """(box number, label, value) of boxes 1-15 and 22-24; goods lines (16-21) come apart."""
    f, c = app.form, app.computed
    ports = "、".join(_coded(ref, "customs_ports", p) for p in f.get("customs_ports") or [])
    importer = f"{app.enterprise_code} {app.importer_name}"
    numbers = f"{app.form_no or '-'} / {app.license_no or '-'}"
    applied = app.applied_at.date().isoformat() if app.applied_at else ""
    return [
        ("1", "申请进口单位", importer),
        ("2", "自动进口许可证申请表号 / 自动进口许可证号", numbers),
        ("3", "申请单位经办人", f.get("handler_name") or ""),
        ("4", "自动进口许可证有效截止日期", str(c.get("valid_until") or "")),
        ("5", "进口用户", f"{f.get('import_user_code') or ''} {f.get('import_user_name') or ''}".strip()),
        ("6", "进口商", importer),
        ("7", "贸易方式", _coded(ref, "trade_modes", f.get("trade_mode"))),
        ("8", "贸易国(地区)", _coded(ref, "countries", f.get("trade_country"))),
        ("9", "外汇来源", _coded(ref, "forex_sources", f.get("forex_source"))),
        ("10", "原产地国(地区)", _coded(ref, "countries", f.get("origin_country"))),
        ("11", "报关口岸", ports),
        ("12", "商品用途", _coded(ref, "commodity_usages", f.get("commodity_usage"))),
        ("13", "预计到港时间", str(f.get("expected_arrival_date") or "")),
        ("14", "商品代码", f.get("commodity_code") or ""),
        ("15", "商品名称", c.get("commodity_name") or ""),
        ("22", "总计", ""),
        ("23", "备注", f"{f.get('remarks') or ''}\n申领日期：{applied}\n申请盖章单位：{app.importer_name}"),
        ("24", "签证机关审批", ""),
    ]


# The manual's form (申请单证打印) puts boxes side by side, two a row; box 9 stands alone on the
# right, under 8. ``None`` is the empty half.
PAIRS: tuple[tuple[str | None, str], ...] = (
    ("1", "2"),
    ("3", "4"),
    ("5", "6"),
    ("7", "8"),
    (None, "9"),
    ("10", "11"),
    ("12", "13"),
    ("14", "15"),
)
FOOTER = "中华人民共和国商务部监制"
HEADINGS = FontFace(emphasis="", fill_color=(235, 235, 235))


def goods_head(currency: str) -> tuple[str, ...]:
    """Boxes 16-21; 19 and 20 name the price currency, as the manual's form does."""
    return (
        "16. 商品规格",
        "17. 单位",
        "18. 数量",
        f"19. 单价({currency})",
        f"20. 总值({currency})",
        "21. 总值折美元",
    )


def goods_rows(app: Application, ref: ReferenceData) -> list[tuple[str, ...]]:
    return [
        (
            str(g.get("spec") or ""),
            _unit_name(ref, g.get("unit")),
            str(g.get("quantity") or ""),
            str(g.get("unit_price") or ""),
            str(g.get("total_value") or ""),
            str(g.get("total_value_usd") or ""),
        )
        for g in app.computed.get("goods", [])
    ]


def totals_row(app: Application) -> tuple[str, ...]:
    """Box 22: the quantity, value and USD columns totalled under their goods columns."""
    c = app.computed
    return (
        "22. 总计",
        "",
        str(c.get("total_quantity") or 0),
        "",
        str(c.get("total_value") or 0),
        str(c.get("total_value_usd") or "-"),
    )


def _box_text(box: Box | None) -> str:
    if box is None:
        return ""
    number, label, value = box
    return f"{number}. {label}：{value}"


def render_pdf(apps: Sequence[Application], ref: ReferenceData) -> bytes:
    """One PDF; one page (or more) per application: the manual's 自动进口许可证申请表, boxes
    1-15 paired two a row, the goods table (16-21) with the price currency in 19 and 20, the
    total (22), remarks with 申领日期 and 申请盖章单位 (23) beside 签证机关审批 (24), and the
    footer 中华人民共和国商务部监制."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_font("cjk", "", str(font_path()), collection_font_number=SC_INDEX)
    pdf.set_title(FORM_TITLE)
    for app in apps:
        by_number = {b[0]: b for b in boxes(app, ref)}
        pdf.add_page()
        pdf.set_font("cjk", size=16)
        pdf.cell(0, 10, FORM_TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=8)
        status = STATUS_ZH.get(app.status.value, app.status.value)
        one_batch = "是" if app.one_batch_one_license else "否"
        agency = _coded(ref, "issuing_agencies", app.issuing_agency)
        pdf.cell(
            0,
            5,
            f"申请表序号 {app.serial_no}   年度 {app.year}   状态 {status}   是否一批一证 {one_batch}"
            f"   发证机构 {agency}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_font("cjk", size=9)
        with pdf.table(
            col_widths=(1, 1), text_align="LEFT", line_height=6, first_row_as_headings=False
        ) as table:
            for left, right in PAIRS:
                table.row((_box_text(by_number.get(left) if left else None), _box_text(by_number[right])))
        currency = str(app.form.get("currency") or "USD")
        with pdf.table(
            col_widths=(34, 16, 22, 22, 26, 24), text_align="LEFT", line_height=6, headings_style=HEADINGS
        ) as table:
            table.row(goods_head(currency))
            for row in goods_rows(app, ref):
                table.row(row)
            table.row(totals_row(app))
        with pdf.table(
            col_widths=(1, 1), text_align="LEFT", line_height=7, first_row_as_headings=False
        ) as table:
            table.row((_box_text(by_number["23"]), "24. 签证机关审批\n\n\n"))
        pdf.ln(4)
        pdf.set_font("cjk", size=9)
        pdf.cell(
            0, 6, f"{FOOTER}    自动进口许可证联网申领系统 制表", align="C", new_x="LMARGIN", new_y="NEXT"
        )
    return bytes(pdf.output())


def render_html(apps: Sequence[Application], ref: ReferenceData) -> str:
    """The same form as ``render_pdf``, as HTML."""
    e = html.escape

    def cell(text: str) -> str:
        return "<td>" + e(text).replace("\n", "<br>") + "</td>"

    parts = [
        f"<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>{FORM_TITLE}</title>",
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #333;padding:4px;text-align:left}section{page-break-after:always}"
        "footer{text-align:center}</style></head><body>",
    ]
    for app in apps:
        by_number = {b[0]: b for b in boxes(app, ref)}
        parts.append(
            f"<section><h1>{FORM_TITLE}</h1><p>申请表序号 {e(app.serial_no)} 年度 {app.year}"
            f" 状态 {e(STATUS_ZH.get(app.status.value, app.status.value))}</p><table>"
        )
        for left, right in PAIRS:
            left_box = by_number.get(left) if left else None
            parts.append("<tr>" + cell(_box_text(left_box)) + cell(_box_text(by_number[right])) + "</tr>")
        currency = str(app.form.get("currency") or "USD")
        parts.append(
            "</table><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in goods_head(currency)) + "</tr>"
        )
        for row in [*goods_rows(app, ref), totals_row(app)]:
            parts.append("<tr>" + "".join(cell(v) for v in row) + "</tr>")
        parts.append(
            "</table><table><tr>" + cell(_box_text(by_number["23"])) + cell("24. 签证机关审批") + "</tr>"
        )
        parts.append(f"</table><footer>{FOOTER}</footer></section>")
    parts.append("</body></html>")
    return "".join(parts)


LICENSE_TITLE = "中华人民共和国自动进口许可证"


def qr_png(url: str) -> bytes:
    """The QR code of ``url`` as PNG (medium error correction: survives a creased print)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=8, border=4)
    code.add_data(url)
    code.make(fit=True)
    out = io.BytesIO()
    code.make_image().save(out)
    return out.getvalue()


def render_license_pdf(app: Application, ref: ReferenceData, *, verify_url: str, valid_until: str) -> bytes:
    """The electronic license (自动进口许可证) of an issued application: license no.,
    validity, holder, goods, issuing agency, and a QR code of the public verification URL."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.add_font("cjk", "", str(font_path()), collection_font_number=SC_INDEX)
    pdf.set_title(LICENSE_TITLE)
    pdf.add_page()
    pdf.set_font("cjk", size=18)
    pdf.cell(0, 12, LICENSE_TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("cjk", size=10)
    pdf.cell(
        0,
        6,
        "AUTOMATIC IMPORT LICENCE OF THE PEOPLE'S REPUBLIC OF CHINA",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(2)
    f, c = app.form, app.computed
    agency = _coded(ref, "issuing_agencies", app.issuing_agency)
    rows = (
        ("1. 进口商", f"{app.enterprise_code} {app.importer_name}"),
        ("2. 自动进口许可证号", app.license_no or ""),
        ("3. 进口用户", f"{f.get('import_user_code') or ''} {f.get('import_user_name') or ''}".strip()),
        ("4. 自动进口许可证有效截止日期", valid_until),
        ("5. 贸易方式", _coded(ref, "trade_modes", f.get("trade_mode"))),
        ("6. 贸易国(地区)", _coded(ref, "countries", f.get("trade_country"))),
        ("7. 原产地国(地区)", _coded(ref, "countries", f.get("origin_country"))),
        ("8. 报关口岸", "、".join(_coded(ref, "customs_ports", p) for p in f.get("customs_ports") or [])),
        ("9. 商品名称 / 商品编码", f"{c.get('commodity_name') or ''} / {f.get('commodity_code') or ''}"),
        ("10. 是否一批一证", "是" if app.one_batch_one_license else "否"),
        ("11. 申请表号", app.form_no or ""),
        ("12. 发证机关", agency),
    )
    with pdf.table(
        col_widths=(60, 130), text_align="LEFT", line_height=7, first_row_as_headings=False
    ) as table:
        for label, value in rows:
            table.row((label, value))
    currency = str(f.get("currency") or "USD")
    with pdf.table(
        col_widths=(34, 16, 22, 22, 26, 24), text_align="LEFT", line_height=6, headings_style=HEADINGS
    ) as table:
        table.row(("商品规格", "单位", "数量", f"单价({currency})", f"总值({currency})", "总值折美元"))
        for row in goods_rows(app, ref):
            table.row(row)
        table.row(
            (
                "总计",
                "",
                str(c.get("total_quantity") or 0),
                "",
                str(c.get("total_value") or 0),
                str(c.get("total_value_usd") or "-"),
            )
        )
    pdf.ln(4)
    top = pdf.get_y()
    pdf.image(io.BytesIO(qr_png(verify_url)), x=pdf.l_margin, y=top, w=42, h=42)
    pdf.set_xy(pdf.l_margin + 48, top + 4)
    pdf.set_font("cjk", size=9)
    pdf.multi_cell(
        0,
        5,
        "海关或银行扫描二维码，核验本许可证的真实性及当前状态：\n"
        + verify_url
        + f"\n\n发证机关：{agency}（电子许可证）",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_y(max(pdf.get_y(), top + 46))
    pdf.cell(0, 6, FOOTER, align="C", new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())
