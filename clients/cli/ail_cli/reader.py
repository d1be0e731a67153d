"""Reading the sheets of an import, streaming: XLSX through openpyxl's read-only mode, CSV
through the standard csv module (one file per sheet, named after it: ``applications.csv``,
``goods.csv``, ... or ``<anything>-goods.csv``). Memory does not grow with the number of rows."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from ail_cli.layout import APPLICATIONS, SHEETS, columns_by_key, sheet_of

# Columns the results workbook adds; a results workbook can be imported again (or submitted).
RESULT_COLUMNS = ("id", "serial_no", "status", "outcome", "problems")


class InputError(Exception):
    """The files cannot be read as an import; the message says what to change."""


@dataclass(frozen=True)
class Source:
    sheet: str
    path: Path
    worksheet: str | None  # XLSX worksheet title; None for CSV


def sources(files: list[Path]) -> list[Source]:
    found: list[Source] = []
    for path in files:
        if not path.exists():
            raise InputError(f"{path}: no such file")
        suffix = path.suffix.lower()
        if suffix in (".xlsx", ".xlsm"):
            try:
                wb = load_workbook(path, read_only=True)
            except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
                raise InputError(f"{path}: not a readable XLSX workbook ({exc})") from exc
            try:
                for title in wb.sheetnames:
                    sheet = sheet_of(title)
                    if sheet:
                        found.append(Source(sheet, path, title))
            finally:
                wb.close()
        elif suffix in (".csv", ".txt"):
            sheet = sheet_of(path.stem) or (APPLICATIONS if len(files) == 1 else None)
            if sheet is None:
                raise InputError(
                    f"{path}: which sheet is this? name CSV files after their sheet ({', '.join(SHEETS)})"
                )
            found.append(Source(sheet, path, None))
        else:
            raise InputError(f"{path}: give an .xlsx workbook or .csv files")
    seen: dict[str, Source] = {}
    for s in found:
        if s.sheet in seen:
            raise InputError(f"sheet '{s.sheet}' is given twice ({seen[s.sheet].path} and {s.path})")
        seen[s.sheet] = s
    if APPLICATIONS not in seen:
        raise InputError(
            f"no '{APPLICATIONS}' sheet in {', '.join(map(str, files))}: start from ail template"
        )
    return sorted(found, key=lambda s: SHEETS.index(s.sheet))


def raw_rows(source: Source) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cell values) of every row, the header (row 1) first."""
    if source.worksheet is None:
        with source.path.open(encoding="utf-8-sig", newline="") as f:
            for n, cells in enumerate(csv.reader(f), start=1):
                yield n, list(cells)
        return
    wb = load_workbook(source.path, read_only=True, data_only=True)
    try:
        ws = wb[source.worksheet]
        for n, values in enumerate(ws.iter_rows(values_only=True), start=1):
            yield n, list(values)
    finally:
        wb.close()


def header_key(cell: Any) -> str:
    """A header cell's column key: its first line (the template writes ``key`` there)."""
    return str(cell or "").strip().splitlines()[0].strip() if str(cell or "").strip() else ""


def rows(source: Source) -> Iterator[tuple[int, dict[str, Any], list[str]]]:
    """(row number, {column key: raw value}, problems of the header) of every non-empty data row.
    Unknown header names are reported once, with the header row."""
    known = columns_by_key(source.sheet)
    keys: list[str] = []
    for n, cells in raw_rows(source):
        if n == 1:
            keys = [header_key(c) for c in cells]
            unknown = [k for k in keys if k and k not in known and k not in RESULT_COLUMNS]
            if unknown or "reference" not in keys:
                problems = [f"unknown column '{k}'" for k in unknown]
                if "reference" not in keys:
                    problems.append("no 'reference' column")
                yield 1, {}, problems
            continue
        row = {k: v for k, v in zip(keys, cells, strict=False) if k in known}
        if any(v is not None and str(v).strip() for v in row.values()):
            yield n, row, []
