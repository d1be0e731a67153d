"""Which applications a bulk command acts on: ids from a results workbook or CSV (its ``id``
column), ids given with ``--id``, or an application query (``--status draft --year 2026``).
A query is read completely before anything is changed, so acting on it cannot move its pages."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openpyxl import load_workbook

from ail_cli.api import Api
from ail_cli.layout import APPLICATIONS, sheet_of
from ail_cli.reader import InputError, header_key

PAGE = 200
QUERY_FILTERS = (
    "status",
    "serial_no",
    "form_no",
    "issuing_agency",
    "import_user_code",
    "import_user_name",
    "trade_mode",
    "year",
    "applied_from",
    "applied_to",
)


@dataclass
class Target:
    id: str
    serial_no: str | None = None
    status: str | None = None
    enterprise_code: str | None = None


def _table(path: Path) -> Iterator[list[Any]]:
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            titles = [t for t in wb.sheetnames if sheet_of(t) == APPLICATIONS] or wb.sheetnames[:1]
            yield from (list(r) for r in wb[titles[0]].iter_rows(values_only=True))
        finally:
            wb.close()
    else:
        with path.open(encoding="utf-8-sig", newline="") as f:
            yield from csv.reader(f)


def from_file(path: Path) -> list[Target]:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    rows = _table(path)
    header = [header_key(c) for c in next(rows, [])]
    if "id" not in header:
        raise InputError(
            f"{path}: no 'id' column; give the results workbook of ail import, or a CSV with ids"
        )
    col = {k: i for i, k in enumerate(header) if k}

    def cell(r: list[Any], k: str) -> str | None:
        i = col.get(k)
        v = r[i] if i is not None and i < len(r) else None
        return str(v).strip() if v is not None and str(v).strip() else None

    out: list[Target] = []
    for r in rows:
        app_id = cell(r, "id")
        if app_id:
            out.append(Target(app_id, cell(r, "serial_no"), cell(r, "status"), cell(r, "enterprise_code")))
    return out


async def from_query(api: Api, filters: dict[str, Any]) -> list[Target]:
    params = {k: v for k, v in filters.items() if v not in (None, "")}
    out: list[Target] = []
    page = 1
    while True:
        body = await api.json(
            "GET", "/api/v1/applications", params={**params, "page": page, "page_size": PAGE}
        )
        out += [
            Target(r["id"], r.get("serial_no"), r.get("status"), r.get("enterprise_code"))
            for r in body["items"]
        ]
        if page * PAGE >= body["total"] or not body["items"]:
            return out
        page += 1


async def select(api: Api, *, source: Path | None, ids: list[str], filters: dict[str, Any]) -> list[Target]:
    targets: list[Target] = []
    if source is not None:
        targets += from_file(source)
    targets += [Target(i) for i in ids]
    if any(v not in (None, "") for v in filters.values()):
        targets += await from_query(api, filters)
    elif source is None and not ids:
        raise InputError(
            "which applications? give a results workbook, --id ID, or a query such as --status draft"
        )
    seen: set[str] = set()
    unique = []
    for t in targets:
        if t.id not in seen:
            seen.add(t.id)
            unique.append(t)
    return unique
