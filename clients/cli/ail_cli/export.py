"""``ail export``: the application query, customs status, clearances or monthly statistics to
XLSX or CSV.

The application query is asked of the API in the file's format (``Accept: text/csv`` or the
XLSX media type), so the file is one consistent snapshot written by the server and streamed to
disk. The others are read as JSON, every page of the list, and written row by row, CSV with
the csv module, XLSX with openpyxl's write-only mode."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from ail_cli.api import Api, error_of

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def fmt_of(path: Path, fmt: str | None) -> str:
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in ("csv", "xlsx"):
        raise ValueError(f"{path}: say --format csv or --format xlsx (or name the file .csv / .xlsx)")
    return chosen


async def applications(api: Api, path: Path, fmt: str, params: dict[str, Any]) -> int:
    accept = "text/csv" if fmt == "csv" else XLSX
    query = {k: v for k, v in params.items() if v not in (None, "")}
    tmp = path.with_name(path.name + ".part")
    async with api.client.stream(
        "GET", "/api/v1/applications", params=query, headers=_headers(api, accept)
    ) as resp:
        if resp.status_code >= 400:
            await resp.aread()
            raise error_of(resp, api.profile)
        with tmp.open("wb") as f:
            async for chunk in resp.aiter_bytes():
                f.write(chunk)
        total = int(resp.headers.get("X-Total-Count", "-1"))
    tmp.replace(path)
    return total


def _headers(api: Api, accept: str) -> dict[str, str]:
    h = {"Accept": accept}
    if api.profile.enterprise:
        h["X-Enterprise-Code"] = api.profile.enterprise
    return h


def write_rows(path: Path, fmt: str, header: list[str], rows: Iterable[list[Any]]) -> int:
    n = 0
    tmp = path.with_name(path.name + ".part")
    if fmt == "csv":
        with tmp.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            for r in rows:
                w.writerow(["" if v is None else v for v in r])
                n += 1
    else:
        wb = Workbook(write_only=True)
        ws = wb.create_sheet("export")
        ws.append(header)
        for r in rows:
            ws.append(r)
            n += 1
        wb.save(tmp)
    tmp.replace(path)
    return n


CUSTOMS_COLUMNS = [
    "serial_no",
    "license_no",
    "form_no",
    "application_id",
    "commodity_code",
    "commodity_name",
    "application_status",
    "applied_at",
    "year",
    "customs_status",
    "customs_status_label",
    "customs_detail",
    "delivery_rounds",
]


async def _pages(api: Api, path: str, params: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    async for body in api.pages(path, params):
        for item in body["items"]:
            yield item


async def customs_status(api: Api, path: Path, fmt: str, params: dict[str, Any]) -> int:
    query = {k: v for k, v in params.items() if v not in (None, "")}
    rows = [
        [item.get(c) for c in CUSTOMS_COLUMNS] async for item in _pages(api, "/api/v1/customs/status", query)
    ]
    return write_rows(path, fmt, CUSTOMS_COLUMNS, rows)


CLEARANCE_COLUMNS = [
    "license_no",
    "declaration_no",
    "declared_at",
    "port",
    "quantity",
    "state",
    "refusal_reason",
    "revision",
    "line_no",
    "line",
]


async def clearances(api: Api, path: Path, fmt: str, license_nos: list[str]) -> int:
    """One row per goods line of each declaration that used the licenses (a declaration without
    lines is one row)."""
    rows: list[list[Any]] = []
    for license_no in license_nos:
        declarations = await api.items("/api/v1/customs/clearances", {"license_no": license_no})
        for d in declarations:
            head = [license_no, *(d.get(c) for c in CLEARANCE_COLUMNS[1:8])]
            lines = d.get("lines") or [None]
            for i, line in enumerate(lines, start=1):
                text = None if line is None else ", ".join(f"{k}={v}" for k, v in dict(line).items())
                rows.append([*head, i if line is not None else None, text])
    return write_rows(path, fmt, CLEARANCE_COLUMNS, rows)


MONTHLY_COLUMNS = [
    "commodity_code",
    "commodity_name",
    "unit",
    "month_quantity",
    "month_amount_usd",
    "month_count",
    "ytd_quantity",
    "ytd_amount_usd",
    "ytd_count",
]


async def monthly(api: Api, path: Path, fmt: str, params: dict[str, Any]) -> int:
    query = {k: v for k, v in params.items() if v not in (None, "")}
    found = await api.items("/api/v1/stats/monthly", query)
    rows = [
        [
            r["commodity_code"],
            r["commodity_name"],
            r["unit"],
            r["month"]["quantity"],
            r["month"]["amount_usd"],
            r["month"]["count"],
            r["year_to_date"]["quantity"],
            r["year_to_date"]["amount_usd"],
            r["year_to_date"]["count"],
        ]
        for r in found
    ]
    return write_rows(path, fmt, MONTHLY_COLUMNS, rows)
