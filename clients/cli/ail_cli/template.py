"""``ail template``: the import workbook, with the code tables as in-cell drop-down lists and a
sheet that explains every column in Chinese and English."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from ail_cli.checks import Reference
from ail_cli.layout import CODES_SHEET, COLUMNS, EXPLAIN_SHEET, SHEET_TITLES, SHEETS

ROWS = 10_000  # rows that carry the drop-down lists
HEADER = Font(bold=True)
REQUIRED_FILL = PatternFill("solid", fgColor="FFF2CC")
KIND_ZH = {
    "text": "文本 text",
    "code": "代码 code",
    "date": "日期 date YYYY-MM-DD",
    "decimal": "数字 number",
    "int": "整数 integer",
    "bool": "是/否 yes/no",
    "files": "文件名 file names; separated",
}


def list_values(ref: Reference, table: str, year: int) -> list[str]:
    """``"CODE name"`` entries of a drop-down list (the import reads the code before the space)."""
    if table == "commodities":
        entries = sorted((c, e) for (c, y), e in ref.commodities.items() if y == year)
        return [f"{c} {e.get('name_zh', '')}".strip() for c, e in entries]
    return [f"{code} {name}".strip() for code, name in ref.tables.get(table, {}).items()]


def write_template(path: Path, ref: Reference, *, year: int | None = None) -> dict[str, int]:
    year = year or date.today().year
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    codes = wb.create_sheet(CODES_SHEET)
    table_ranges: dict[str, str] = {}
    tables = sorted({c.table for cols in COLUMNS.values() for c in cols if c.table})
    for i, table in enumerate(tables, start=1):
        letter = get_column_letter(i)
        values = list_values(ref, table, year)
        codes.cell(row=1, column=i, value=table).font = HEADER
        for r, v in enumerate(values, start=2):
            codes.cell(row=r, column=i, value=v)
        table_ranges[table] = f"'{CODES_SHEET}'!${letter}$2:${letter}${max(2, len(values) + 1)}"
    validations = 0
    for sheet in SHEETS:
        ws = wb.create_sheet(sheet, index=SHEETS.index(sheet))
        for i, col in enumerate(COLUMNS[sheet], start=1):
            cell = ws.cell(row=1, column=i, value=col.key)
            cell.font = HEADER
            if col.required or col.key == "reference":
                cell.fill = REQUIRED_FILL
            cell.comment = Comment(f"{col.zh}\n{col.en}", "ail")
            letter = get_column_letter(i)
            ws.column_dimensions[letter].width = max(12, min(40, len(col.key) + 4))
            rng = f"{letter}2:{letter}{ROWS + 1}"
            if col.table:
                dv = DataValidation(type="list", formula1=table_ranges[col.table], allow_blank=True)
                # A warning, not a stop: a typed code without its name is also accepted.
                dv.errorStyle = "warning"
                dv.error = f"not in code table {col.table}"
                dv.prompt = f"{col.zh} / {col.en}"
                dv.add(rng)
                ws.add_data_validation(dv)
                validations += 1
            elif col.kind == "bool":
                dv = DataValidation(type="list", formula1='"yes,no"', allow_blank=True)
                dv.add(rng)
                ws.add_data_validation(dv)
                validations += 1
        ws.freeze_panes = "B2"
    explain = wb.create_sheet(EXPLAIN_SHEET)
    explain.append(
        ["sheet 工作表", "column 列", "中文", "English", "type 类型", "code table 代码表", "required 必填"]
    )
    for cell in explain[1]:
        cell.font = HEADER
    for sheet in SHEETS:
        zh, en = SHEET_TITLES[sheet]
        explain.append([sheet, "", zh, en, "", "", ""])
        explain.cell(row=explain.max_row, column=1).font = HEADER
        for col in COLUMNS[sheet]:
            explain.append(
                [
                    sheet,
                    col.key,
                    col.zh,
                    col.en,
                    KIND_ZH[col.kind],
                    col.table or "",
                    "是 yes" if col.required or col.key == "reference" else "",
                ]
            )
    for letter, width in zip("ABCDEFG", (20, 38, 26, 70, 22, 24, 10), strict=True):
        explain.column_dimensions[letter].width = width
    codes.sheet_state = "hidden"
    wb.save(path)
    return {"sheets": len(SHEETS), "drop_down_lists": validations, "code_tables": len(tables)}
