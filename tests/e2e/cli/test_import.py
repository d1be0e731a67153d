"""``ail import`` against the real stack (issue 17): a bad workbook is refused with exactly its
bad rows named and nothing sent; fixed, it imports; again, it creates nothing; a crash half-way
and a rerun import each row exactly once; the generated template imports when filled."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from ail_cli.layout import APPLICATIONS, CONTRACTS, GOODS
from tests.e2e.cli.support import (
    ENTERPRISE,
    Cli,
    application,
    contract,
    drafts_of,
    goods,
    sheet_rows,
    spreadsheet_row,
    write_workbook,
)
from tests.support import api_client

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

ROWS = 1000
BROKEN = 30


async def test_bad_rows_refused_then_fixed_file_imports_once(
    cli: Cli, tmp_path: Path, entry_url: str, demo: dict[str, Any]
) -> None:
    bad = sorted(random.Random(17).sample(range(ROWS), BROKEN))
    book = tmp_path / "batch.xlsx"
    token = write_workbook(book, ROWS, broken=bad)

    code, doc, err = cli.run("import", str(book))
    assert code == 1, (doc, err)
    named = {(p["sheet"], p["row"]) for p in doc["problems"]}
    assert named == {(APPLICATIONS, spreadsheet_row(i)) for i in bad}
    assert doc["problem_count"] == BROKEN and doc["sent"] == 0
    assert await drafts_of(entry_url, demo, token) == [], "nothing may be sent when a row is bad"
    rows = sheet_rows(tmp_path / "batch.problems.xlsx", APPLICATIONS)
    refused = [n for n, r in enumerate(rows[1:], start=2) if r[-2] == "refused"]
    assert refused == [spreadsheet_row(i) for i in bad]

    write_workbook(book, ROWS, token=token)  # the same workbook, corrected
    code, doc, err = cli.run("import", str(book))
    assert code == 0, (doc, err)
    assert (doc["created"], doc["already_imported"], doc["failed"]) == (ROWS, 0, 0)
    apps = await drafts_of(entry_url, demo, token)
    assert len(apps) == ROWS
    results = tmp_path / "batch.results.xlsx"
    ids = [r[-5] for r in sheet_rows(results, APPLICATIONS)[1:]]
    assert sorted(ids) == sorted(a["id"] for a in apps)

    code, doc, err = cli.run("import", str(book))
    assert code == 0, (doc, err)
    assert (doc["created"], doc["already_imported"]) == (0, ROWS)
    assert len(await drafts_of(entry_url, demo, token)) == ROWS, "a rerun creates nothing new"
    again = [r[-5] for r in sheet_rows(results, APPLICATIONS)[1:]]
    assert again == ids


async def test_crash_half_way_then_rerun_imports_each_row_once(
    cli: Cli, tmp_path: Path, entry_url: str, demo: dict[str, Any]
) -> None:
    n = 300
    book = tmp_path / "crash.xlsx"
    token = write_workbook(book, n)
    proc = cli.popen("import", str(book), "--concurrency", "8")
    deadline = time.monotonic() + 180
    try:
        while time.monotonic() < deadline and proc.poll() is None:
            if len(await drafts_of(entry_url, demo, token)) >= n // 3:
                break
            await asyncio.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    half = len(await drafts_of(entry_url, demo, token))
    assert 0 < half < n, f"the kill should land half-way; {half} of {n} were in"

    code, doc, err = cli.run("import", str(book))
    assert code == 0, (doc, err)
    assert doc["created"] + doc["already_imported"] == n
    assert doc["already_imported"] >= half - 8, "what went in before the crash is replayed, not created again"
    apps = await drafts_of(entry_url, demo, token)
    assert len(apps) == n, "each row exactly once"
    async with api_client(entry_url, demo["agency"]["api_key"], ENTERPRISE) as c:
        sample = random.Random(1).sample(apps, 20)
        for a in sample:
            r = await c.get(f"/api/v1/applications/{a['id']}")
            assert r.json()["has_contract"], "the contract of a row cut by the crash is put on the rerun"


async def test_template_has_drop_down_lists_and_imports_when_filled(
    cli: Cli, tmp_path: Path, entry_url: str, demo: dict[str, Any]
) -> None:
    path = tmp_path / "applications.xlsx"
    code, doc, err = cli.run("template", str(path))
    assert code == 0, (doc, err)
    wb = load_workbook(path)
    assert {APPLICATIONS, GOODS, CONTRACTS, "iron_ore_contracts", "iron_ore_lines"} <= set(wb.sheetnames)
    ws = wb[APPLICATIONS]
    header = [c.value for c in ws[1]]
    lists = {
        header[ws[str(rng).split(":")[0]].column - 1]: dv.formula1
        for dv in ws.data_validations.dataValidation
        if dv.type == "list"
        for rng in dv.sqref.ranges
    }
    for column in (
        "trade_country",
        "origin_country",
        "customs_port_1",
        "commodity_code",
        "currency",
        "trade_mode",
    ):
        assert column in lists, f"no drop-down list on {column}"
    codes = wb["codes"]
    first_country = next(codes.cell(row=2, column=c.column).value for c in codes[1] if c.value == "countries")
    assert first_country and first_country.split()[0].isdigit()
    explain = wb["说明 columns"]
    explained = {(r[0], r[1]) for r in explain.iter_rows(min_row=2, values_only=True)}
    assert (APPLICATIONS, "trade_country") in explained and (
        CONTRACTS,
        "foreign_contract.contract_no",
    ) in explained

    token = "tpl" + str(int(time.time()))
    for sheet, rows in (
        (APPLICATIONS, [application(i, token) for i in range(3)]),
        (GOODS, [goods(i, token) for i in range(3)]),
        (CONTRACTS, [contract(i, token) for i in range(3)]),
    ):
        target = wb[sheet]
        keys = [c.value for c in target[1]]
        for n, row in enumerate(rows, start=2):
            for col, key in enumerate(keys, start=1):
                value = row.get(key)
                if key == "trade_country":
                    value = f"{value} 美国"  # as the drop-down list offers it: code and name
                target.cell(row=n, column=col, value=value)
    wb.save(path)
    code, doc, err = cli.run("import", str(path))
    assert code == 0, (doc, err)
    assert doc["created"] == 3
    apps = await drafts_of(entry_url, demo, token)
    assert len(apps) == 3 and all(a["status"] == "draft" for a in apps)


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
async def test_application_query_as_a_file(fmt: str, agency: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    """The server side of ail export: the query answers Accept text/csv and XLSX with every row."""
    accept = (
        "text/csv" if fmt == "csv" else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    r = await agency.get("/api/v1/applications", params={"year": 2026}, headers={"Accept": accept})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(accept)
    assert int(r.headers["X-Total-Count"]) >= 0


async def test_iron_ore_contracts_and_attachments_from_a_folder(
    cli: Cli, tmp_path: Path, entry_url: str, demo: dict[str, Any]
) -> None:
    """An iron-ore row gets its iron-ore contract with lines; files named in the attachments
    column are uploaded from --attachments DIR, once even when the import runs twice."""
    from openpyxl import Workbook

    from ail_cli.layout import COLUMNS, IRON_ORE, IRON_ORE_LINES

    token = "ore" + str(int(time.time() * 1000))[-9:]
    files = tmp_path / "scans"
    files.mkdir()
    (files / "contract.pdf").write_bytes(b"%PDF-1.4\n%test\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n")
    (files / "invoice.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    ore = {
        **application(0, token),
        "commodity_code": "2601110000",
        "trade_country": "601",
        "origin_country": "601",
        "customs_port_1": "4200",
        "attachments": "contract.pdf; invoice.png",
    }
    line = {**goods(0, token), "spec": "Fe 62% 粉矿", "quantity": 150000, "unit_price": 105.5}
    agreement = {
        **contract(0, token),
        "foreign_contract.total_quantity": 150000,
        "foreign_contract.total_amount": 15825000,
    }
    today = time.strftime("%Y-%m-%d")
    iron = {
        "reference": ore["reference"],
        "origin_country": "601",
        "trade_country": "601",
        "contract_no": f"IO-{token}",
        "contract_type": "long_term",
        "signing_date": today,
        "period_from": today,
        "period_to": f"{int(today[:4]) + 1}{today[4:]}",
        "enterprise_nature": "trader",
        "seller_name_zh": "必和必拓",
        "discharge_port_1": "4200",
    }
    ore_line = {
        "reference": ore["reference"],
        "category": "粉矿",
        "name": "PB粉",
        "grade_fe_pct": 61.5,
        "quantity_kt": 150,
        "unit_price_usd_per_kt": 105500,
    }
    wb = Workbook()
    assert wb.active is not None
    wb.remove(wb.active)
    for sheet, row in (
        (APPLICATIONS, ore),
        (GOODS, line),
        (CONTRACTS, agreement),
        (IRON_ORE, iron),
        (IRON_ORE_LINES, ore_line),
    ):
        ws = wb.create_sheet(sheet)
        keys = [c.key for c in COLUMNS[sheet]]
        ws.append(keys)
        ws.append([row.get(k) for k in keys])
    book = tmp_path / "ore.xlsx"
    wb.save(book)

    for _ in range(2):
        code, doc, err = cli.run("import", str(book), "--attachments", str(files))
        assert code == 0, (doc, err)
    (app,) = await drafts_of(entry_url, demo, token)
    async with api_client(entry_url, demo["agency"]["api_key"], ENTERPRISE) as c:
        full = (await c.get(f"/api/v1/applications/{app['id']}")).json()
        assert full["has_contract"] and full["has_iron_ore_contract"]
        assert full["problems"] == [], "imported complete: nothing submission would refuse"
        ioc = (await c.get(f"/api/v1/applications/{app['id']}/iron-ore-contract")).json()
        assert ioc["discharge_ports"] == ["4200"] and ioc["lines"][0]["amount_usd"] == "15825000.00"
        names = [a["filename"] for a in (await c.get(f"/api/v1/applications/{app['id']}/attachments")).json()]
        assert sorted(names) == ["contract.pdf", "invoice.png"], "each file once, after two imports"


async def test_an_application_service_restart_during_an_import_is_waited_out(
    cli: Cli, tmp_path: Path, entry_url: str, demo: dict[str, Any]
) -> None:
    """The service crashes (SIGKILL) and comes back while rows are in flight: the import retries
    with the same keys and ends with every row in, each once."""
    from tests.support import dev

    n = 300
    book = tmp_path / "outage.xlsx"
    token = write_workbook(book, n)
    proc = cli.popen("import", str(book), "--concurrency", "8")
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(await drafts_of(entry_url, demo, token)) < n // 4:
            await asyncio.sleep(0.2)
        assert proc.poll() is None, "the import should still be running when the service is killed"
        dev("kill", "application")
        dev("start", "application")
        assert proc.wait(timeout=300) == 0, "the import must wait the outage out"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert len(await drafts_of(entry_url, demo, token)) == n
    code, doc, err = cli.run("import", str(book))
    assert (code, doc["created"], doc["already_imported"]) == (0, 0, n), (doc, err)
