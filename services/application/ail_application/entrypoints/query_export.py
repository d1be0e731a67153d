"""The application query as a file: ``Accept: text/csv`` or the XLSX media type.

A file is an export, not a page: it holds every row that matches the filters (up to
``EXPORT_MAX``; beyond that the caller is asked to narrow the filters), read in one snapshot,
in the JSON list's order and with its columns (``ApplicationRow``)."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi.responses import Response
from openpyxl import Workbook

from ail_application.entrypoints.schemas import ApplicationRow

CSV = "text/csv"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
EXPORT_MAX = 100_000
COLUMNS = tuple(ApplicationRow.model_fields)


def wanted(accept: str | None) -> str | None:
    """The file type the request accepts, when it prefers one to JSON."""
    if not accept:
        return None
    low = accept.lower()
    if XLSX in low:
        return XLSX
    if CSV in low:
        return CSV
    return None


def render(kind: str, rows: list[dict[str, Any]], total: int) -> Response:
    headers = {
        "X-Total-Count": str(total),
        "Content-Disposition": f'attachment; filename="applications.{"csv" if kind == CSV else "xlsx"}"',
    }
    if kind == CSV:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(COLUMNS)
        for r in rows:
            w.writerow(["" if r.get(c) is None else r[c] for c in COLUMNS])
        return Response(buf.getvalue().encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("applications")
    ws.append(list(COLUMNS))
    for r in rows:
        ws.append([r.get(c) for c in COLUMNS])
    out = io.BytesIO()
    wb.save(out)
    return Response(out.getvalue(), media_type=XLSX, headers=headers)
