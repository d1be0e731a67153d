"""Helpers of the CLI tests: the ``ail`` console script (``Cli``), and import workbooks for the
CLI tests and the benchmark: N complete applications (one goods line
and a contract each, DDGS, for the demo enterprise whose e-key is bound), some of them broken on
purpose. Written with openpyxl's write-only mode, so 10,000 rows are cheap."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook

from ail_cli.layout import APPLICATIONS, COLUMNS, CONTRACTS, GOODS
from tests.support import REPO, api_client

ENTERPRISE = "1100776367555"  # the demo enterprise with a bound e-key
TODAY = date.today()
# What each broken row gets wrong: (column, bad value). All on the applications sheet, so the
# refused row is exactly the broken row.
BREAKS: tuple[tuple[str, Any], ...] = (
    ("trade_country", "999"),
    ("handler_name", None),
    ("expected_arrival_date", "2026-13-45"),
    ("commodity_code", "0000000000"),
    ("import_user_code", "12345"),
    ("customs_port_2", "2200"),  # the same port as customs_port_1
)


def application(i: int, token: str) -> dict[str, Any]:
    return {
        "reference": f"{token}-{i:05d}",
        "enterprise_code": ENTERPRISE,
        "handler_name": "张三",
        "import_user_code": "1100776367555",
        "import_user_name": f"示例用户{token}",
        "trade_country": "502",
        "origin_country": "502",
        "customs_port_1": "2200",
        "expected_arrival_date": (TODAY + timedelta(days=40)).isoformat(),
        "commodity_code": "2303300010",
        "remarks": f"cli test {token}",
    }


def goods(i: int, token: str) -> dict[str, Any]:
    ref = f"{token}-{i:05d}"
    return {"reference": ref, "spec": "蛋白≥26%", "unit": "070", "quantity": 1000, "unit_price": 250.5}


def contract(i: int, token: str) -> dict[str, Any]:
    return {
        "reference": f"{token}-{i:05d}",
        "applicant.enterprise_code": ENTERPRISE,
        "applicant.name": "北京示例进出口有限公司",
        "applicant.uscc": "91110000776367555X",
        "applicant.address": "北京市朝阳区示例路1号",
        "applicant.contact": "李四",
        "applicant.phone": "010-12345678",
        "foreign_contract.contract_no": f"C-{token}-{i}",
        "foreign_contract.foreign_party_name_en": "ADM Export",
        "foreign_contract.signing_date": (TODAY - timedelta(days=30)).isoformat(),
        "foreign_contract.expiry_date": (TODAY + timedelta(days=300)).isoformat(),
        "foreign_contract.total_quantity": 1000,
        "foreign_contract.total_amount": 250500,
        "foreign_contract.settlement_currency": "USD",
        "foreign_contract.departure_date": (TODAY + timedelta(days=10)).isoformat(),
        "other.import_change_band": "within_10",
    }


def _sheet(wb: Workbook, name: str, rows: Iterable[dict[str, Any]]) -> None:
    ws = wb.create_sheet(name)
    keys = [c.key for c in COLUMNS[name]]
    ws.append(keys)
    for r in rows:
        ws.append([r.get(k) for k in keys])


def write_workbook(path: Path, n: int, *, token: str | None = None, broken: Iterable[int] = ()) -> str:
    """Write ``n`` applications; rows whose index is in ``broken`` carry one mistake each.
    Returns the token that makes this workbook's references unique."""
    token = token or uuid.uuid4().hex[:8]
    bad = {i: BREAKS[k % len(BREAKS)] for k, i in enumerate(sorted(set(broken)))}
    wb = Workbook(write_only=True)

    def apps() -> Iterable[dict[str, Any]]:
        for i in range(n):
            row = application(i, token)
            if i in bad:
                col, value = bad[i]
                row[col] = value
            yield row

    _sheet(wb, APPLICATIONS, apps())
    _sheet(wb, GOODS, (goods(i, token) for i in range(n)))
    _sheet(wb, CONTRACTS, (contract(i, token) for i in range(n)))
    wb.save(path)
    return token


def spreadsheet_row(i: int) -> int:
    """The applications sheet's row number of application ``i`` (the header is row 1)."""
    return i + 2


def sheet_rows(path: Path, sheet: str | None = None) -> list[tuple[Any, ...]]:
    """Every row of a sheet (the first when None), the header first; the file is closed after."""
    wb = load_workbook(path, read_only=True)
    try:
        ws = wb[sheet] if sheet else wb.worksheets[0]
        return list(ws.iter_rows(values_only=True))
    finally:
        wb.close()


AIL = REPO / ".venv" / "bin" / "ail"


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 600.0) -> tuple[int, dict[str, Any], str]:
        """(exit code, the --json document, stderr)."""
        cp = subprocess.run(
            [str(AIL), *args, "--json"],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        try:
            doc = json.loads(cp.stdout) if cp.stdout.strip() else {}
        except ValueError:
            raise AssertionError(f"ail {' '.join(args)} printed no JSON:\n{cp.stdout}\n{cp.stderr}") from None
        return cp.returncode, doc, cp.stderr

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Started, not waited for (to be killed); its output is not kept."""
        return subprocess.Popen(
            [str(AIL), *args, "--json"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


async def drafts_of(entry_url: str, demo: dict[str, Any], token: str) -> list[dict[str, Any]]:
    """Every application of this workbook (its import user name carries the token)."""
    out: list[dict[str, Any]] = []
    async with api_client(entry_url, demo["agency"]["api_key"], ENTERPRISE) as c:
        page = 1
        while True:
            r = await c.get(
                "/api/v1/applications",
                params={"import_user_name": token, "page": page, "page_size": 200},
            )
            assert r.status_code == 200, r.text
            body = r.json()
            out += body["items"]
            if page * 200 >= body["total"]:
                return out
            page += 1
