"""Print of the application form (自动进口许可证申请表), boxes 1 to 24, as PDF or HTML.

The PDF embeds a subset of Noto Sans CJK SC (Debian fonts-noto-cjk) so that Chinese text renders
and can be extracted. Rendering is CPU work: callers run it in a thread."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF, FontFace

from ail_application.domain.model import Application
from ail_application.domain.reference import ReferenceData

FONT_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
)
SC_INDEX = 2  # in the Noto CJK collections: 0 JP, 1 KR, 2 SC, 3 TC, 4 HK
TITLE = "中华人民共和国自动进口许可证申请表"
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


def boxes(app: Application, ref: ReferenceData) -> list[tuple[str, str, str]]:
    """(box number, label, value) for boxes 1-15, 22-24; goods lines (16-21) come apart."""
    f, c = app.form, app.computed
    ports = "、".join(_coded(ref, "customs_ports", p) for p in f.get("customs_ports") or [])
    importer = f"{app.enterprise_code} {app.importer_name}"
    numbers = f"{app.form_no or '-'} / {app.license_no or '-'}"
    return [
        ("1", "申请进口单位", importer),
        ("2", "申请表号 / 许可证号", numbers),
        ("3", "申请单位经办人", f.get("handler_name") or ""),
        ("4", "有效截止日期", str(c.get("valid_until") or "")),
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
        (
            "22",
            "总计",
            f"数量 {c.get('total_quantity') or 0}  总值 {c.get('total_value') or 0} {f.get('currency') or ''}"
            f"  折美元 {c.get('total_value_usd') or '-'}",
        ),
        ("23", "备注", f.get("remarks") or ""),
        ("24", "申请单位盖章 / 申请日期", app.applied_at.date().isoformat() if app.applied_at else ""),
    ]


HEADINGS = FontFace(emphasis="", fill_color=(235, 235, 235))
GOODS_HEAD = ("16 商品规格", "17 单位", "18 数量", "19 单价", "20 总值", "21 总值折美元")


def goods_rows(app: Application, ref: ReferenceData) -> list[tuple[str, ...]]:
    return [
        (
            str(g.get("spec") or ""),
            _coded(ref, "units", g.get("unit")),
            str(g.get("quantity") or ""),
            str(g.get("unit_price") or ""),
            str(g.get("total_value") or ""),
            str(g.get("total_value_usd") or ""),
        )
        for g in app.computed.get("goods", [])
    ]


def render_pdf(apps: Sequence[Application], ref: ReferenceData) -> bytes:
    """One PDF; one page (or more) per application."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=12)
    pdf.add_font("cjk", "", str(font_path()), collection_font_number=SC_INDEX)
    pdf.set_title("自动进口许可证申请表")
    for app in apps:
        pdf.add_page()
        pdf.set_font("cjk", size=15)
        pdf.cell(0, 10, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("cjk", size=9)
        status = STATUS_ZH.get(app.status.value, app.status.value)
        pdf.cell(
            0,
            6,
            f"申请表序号 {app.serial_no}    年度 {app.year}    状态 {status}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        one_batch = "是" if app.one_batch_one_license else "否"
        agency = _coded(ref, "issuing_agencies", app.issuing_agency)
        pdf.cell(0, 6, f"是否一批一证 {one_batch}    发证机构 {agency}", new_x="LMARGIN", new_y="NEXT")
        with pdf.table(
            col_widths=(8, 38, 144), text_align="LEFT", line_height=6, first_row_as_headings=False
        ) as table:
            for number, label, value in boxes(app, ref)[:15]:
                table.row((number, label, value))
        pdf.ln(2)
        with pdf.table(text_align="LEFT", line_height=6, headings_style=HEADINGS) as table:
            table.row(GOODS_HEAD)
            for row in goods_rows(app, ref):
                table.row(row)
        pdf.ln(2)
        with pdf.table(
            col_widths=(8, 38, 144), text_align="LEFT", line_height=6, first_row_as_headings=False
        ) as table:
            for number, label, value in boxes(app, ref)[15:]:
                table.row((number, label, value))
    return bytes(pdf.output())


def render_html(apps: Sequence[Application], ref: ReferenceData) -> str:
    e = html.escape
    parts = [
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><title>自动进口许可证申请表</title>",
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif}table{border-collapse:collapse;width:100%}"
        "td,th{border:1px solid #333;padding:4px}section{page-break-after:always}</style></head><body>",
    ]
    for app in apps:
        parts.append(
            f"<section><h1>{TITLE}</h1><p>申请表序号 {e(app.serial_no)} 年度 {app.year}"
            f" 状态 {e(STATUS_ZH.get(app.status.value, app.status.value))}</p><table>"
        )
        all_boxes = boxes(app, ref)
        for number, label, value in all_boxes[:15]:
            parts.append(f"<tr><th>{number}</th><th>{e(label)}</th><td>{e(value)}</td></tr>")
        parts.append("</table><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in GOODS_HEAD) + "</tr>")
        for row in goods_rows(app, ref):
            parts.append("<tr>" + "".join(f"<td>{e(v)}</td>" for v in row) + "</tr>")
        parts.append("</table><table>")
        for number, label, value in all_boxes[15:]:
            parts.append(f"<tr><th>{number}</th><th>{e(label)}</th><td>{e(value)}</td></tr>")
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "".join(parts)
