"""One license calendar from the form to Customs (issue 11): the ``valid_until`` the applicant's
form shows, the one ``LicenseIssued`` carries and the customs ledger's expiry are one date, that of
``ail_shared.calendar`` for the application's year and the China date of the issue.

The application is made for next year when the catalogue has it (late in a year, the copies that
disagreed gave 31 December of this year to the license while the form said six months on)."""

from __future__ import annotations

import csv
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from ail_shared.calendar import china_date, valid_until_of
from tests.integration.submission.support import create_draft, get_app, valid_form, wait_status
from tests.support import eventually

CATALOGUE = (
    Path(__file__).resolve().parents[2] / "services/application/ail_application/reference_data/catalogue.csv"
)
COMMODITY = "2303300010"  # the DDGS of valid_form()


def _latest_catalogue_year(today: date) -> int:
    with CATALOGUE.open(encoding="utf-8") as f:
        years = {int(r["year"]) for r in csv.DictReader(f) if r["code"] == COMMODITY}
    return max(y for y in years if today.year <= y <= today.year + 1)


async def _license_issued(db: asyncpg.Pool, application_id: str) -> dict[str, Any]:
    raw = await db.fetchval(
        "SELECT value FROM submission.outbox WHERE message_key = $1 AND event_type = 'LicenseIssued'",
        application_id,
    )
    assert raw is not None, "no LicenseIssued in the submission service's outbox"
    payload: dict[str, Any] = json.loads(raw)["payload"]
    return payload


async def test_the_form_the_license_and_the_customs_ledger_show_one_validity(
    enterprise_a: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    year = _latest_catalogue_year(china_date(datetime.now(UTC)))
    app_id = await create_draft(enterprise_a, valid_form(year=year))
    form_says = (await get_app(enterprise_a, app_id))["valid_until"]
    submitted = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    assert submitted.status_code == 202, submitted.text
    app = await wait_status(enterprise_a, app_id, "license_issued", timeout=120)

    issued = await _license_issued(db, app_id)
    assert issued["license_no"] == app["license_no"]
    issued_at = datetime.fromisoformat(issued["issued_at"])

    async def ledger() -> dict[str, Any] | None:
        r = await enterprise_a.get(f"/api/v1/licenses/{app['license_no']}")
        return r.json() if r.status_code == 200 else None

    customs = await eventually(ledger, what="the customs service to hold the license")
    expiry = customs["ledger"]["valid_until"]
    assert form_says == issued["valid_until"] == expiry, (form_says, issued, customs)
    assert issued["valid_until"] == valid_until_of(issued_at, year).isoformat()
