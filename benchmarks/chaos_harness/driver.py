"""The agency's side: complete drafts made through the public API, copied and submitted in
batches; a declaration at Customs for each license Customs stored; an operator's re-send for a
delivery that failed for good. Every write carries an Idempotency-Key and is retried through
outages (``stack.call``)."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

from benchmarks.chaos_harness.stack import Stack, Unreachable, call
from tests.integration.application.support import complete_contract, complete_form

# Commodities of the catalogue that need no extra document (no iron-ore contract), so a copy of
# a template is submittable as it is. Different goods give the statistics several rows.
COMMODITIES = ("2303300010", "2709000000", "2701120010")


@dataclass
class App:
    id: str
    enterprise: str
    template: str
    submitted_at: float = 0.0
    submits: int = 0
    refused: str = ""  # why the batch submit refused it, if it did
    declaration_no: str = ""  # the declaration the harness made at Customs with its license
    declared_quantity: Decimal = Decimal(0)
    resends: int = 0


@dataclass
class Driver:
    stack: Stack
    rng: random.Random
    run_tag: str
    apps: dict[str, App] = field(default_factory=dict)
    templates: dict[str, list[str]] = field(default_factory=dict)  # enterprise -> template ids
    errors: list[str] = field(default_factory=list)
    declarations: int = 0
    _seq: int = 0

    def key(self, what: str) -> dict[str, str]:
        return {"Idempotency-Key": f"chaos-{self.run_tag}-{what}"}

    async def make_templates(self, per_enterprise: int = len(COMMODITIES)) -> None:
        """Complete drafts (form + contract whose totals equal the goods', as MOFCOM's rule asks)
        that the batches are copied from. They stay drafts and are not part of the N."""
        for enterprise in self.stack.enterprises:
            async with self.stack.agency(enterprise) as client:
                for i in range(per_enterprise):
                    code = COMMODITIES[i % len(COMMODITIES)]
                    goods = [
                        {
                            "spec": f"chaos {self.run_tag} {j}",
                            "unit": "070",
                            "quantity": str(self.rng.randint(100, 5000)),
                            "unit_price": f"{self.rng.randint(50, 900)}.{self.rng.randint(0, 99):02d}",
                        }
                        for j in range(self.rng.randint(1, 3))
                    ]
                    form = complete_form(code, goods=goods, remarks=f"chaos run {self.run_tag}")
                    r = await call(
                        client,
                        "POST",
                        "/api/v1/applications",
                        json=form,
                        headers=self.key(f"t{enterprise}{i}"),
                    )
                    if r.status_code != 201:
                        raise SystemExit(
                            f"cannot create a template draft: HTTP {r.status_code} {r.text[:500]}"
                        )
                    app = r.json()
                    contract = complete_contract(
                        enterprise,
                        total_quantity=app["total_quantity"],
                        total_amount=app["total_value_usd"],
                        settlement_currency="USD",
                    )
                    r = await call(client, "PUT", f"/api/v1/applications/{app['id']}/contract", json=contract)
                    if r.status_code != 200:
                        raise SystemExit(
                            f"cannot save the template's contract: HTTP {r.status_code} {r.text[:500]}"
                        )
                    self.templates.setdefault(enterprise, []).append(app["id"])

    async def submit_batch(self, size: int) -> int:
        """Copy a template ``size`` times and batch-submit the copies; returns how many were
        submitted. Round-robin over enterprises and templates."""
        self._seq += 1
        seq = self._seq
        enterprises = list(self.templates)
        enterprise = enterprises[seq % len(enterprises)]
        template = self.templates[enterprise][(seq // len(enterprises)) % len(self.templates[enterprise])]
        async with self.stack.agency(enterprise, timeout=120) as client:
            r = await call(
                client,
                "POST",
                f"/api/v1/applications/{template}/copies",
                json={"count": size},
                headers=self.key(f"c{seq}"),
            )
            if r.status_code != 201:
                self.errors.append(f"copy batch {seq}: HTTP {r.status_code} {r.text[:300]}")
                return 0
            ids = [c["id"] for c in r.json()["copies"]]
            for app_id in ids:
                self.apps[app_id] = App(app_id, enterprise, template)
            now = time.monotonic()
            r = await call(
                client, "POST", "/api/v1/applications/submit", json={"ids": ids}, headers=self.key(f"s{seq}")
            )
            if r.status_code != 202:
                self.errors.append(f"submit batch {seq}: HTTP {r.status_code} {r.text[:300]}")
                return 0
            submitted = 0
            for res in r.json()["results"]:
                app = self.apps[res["id"]]
                if res["result"] == "submitted":
                    app.submits += 1
                    app.submitted_at = now
                    submitted += 1
                else:
                    app.refused = str(res.get("error", {}).get("message", res))
            return submitted

    async def declare(self, licensed: dict[str, tuple[str, Decimal]]) -> None:
        """One customs declaration (using part of the quantity) for each application whose
        license Customs stored and that has none yet: ``licensed`` maps application id to
        (license no., licensed quantity). Appended to the Customs sandbox's feed in one call."""
        items: list[dict[str, Any]] = []
        todo: list[tuple[App, str, Decimal]] = []
        for app_id, (license_no, quantity) in licensed.items():
            app = self.apps.get(app_id)
            if app is None or app.declaration_no:
                continue
            self.declarations += 1
            no = f"2200{time.gmtime().tm_year}{self.run_tag[:6]}{self.declarations:09d}"
            used = (quantity * Decimal("0.25")).quantize(Decimal("0.001"))
            items.append(
                {
                    "license_no": license_no,
                    "declaration_no": no,
                    "port": "2200",
                    "lines": [{"quantity": str(used)}],
                }
            )
            todo.append((app, no, used))
        if not items:
            return
        async with self.stack.customs() as customs:
            r = await call(customs, "POST", "/control/declarations/bulk", json={"items": items})
        if r.status_code != 201:
            self.errors.append(f"declarations: HTTP {r.status_code} {r.text[:300]}")
            return
        for app, no, used in todo:
            app.declaration_no = no
            app.declared_quantity = used

    async def resend(self, failed: dict[str, str]) -> int:
        """What an operator does for a license whose delivery to Customs failed and has no more
        automatic re-sends: ``POST /licenses/{no}/resend``. ``failed`` maps application id to
        license no.; returns how many were scheduled."""
        scheduled = 0
        for app_id, license_no in failed.items():
            app = self.apps[app_id]
            app.resends += 1
            async with self.stack.agency(app.enterprise) as client:
                r = await call(
                    client,
                    "POST",
                    f"/api/v1/licenses/{license_no}/resend",
                    headers=self.key(f"r{app_id}-{app.resends}"),
                )
            if r.status_code == 202:
                scheduled += 1
            elif r.status_code != 409:  # 409: it was stored meanwhile
                self.errors.append(f"resend {license_no}: HTTP {r.status_code} {r.text[:200]}")
        return scheduled


def new_run_tag() -> str:
    return uuid.uuid4().hex[:8]


async def pace(driver: Driver, n: int, batch: int, target: Callable[[], int]) -> None:
    """Submit ``n`` applications in batches, never ahead of ``target()`` (how many should be
    submitted by now: a share per kill, or a rate)."""
    done = sum(1 for a in driver.apps.values() if a.submits or a.refused)
    while done < n:
        due = min(n, target())
        if done >= due:
            await asyncio.sleep(0.3)
            continue
        size = min(batch, due - done)
        try:
            await driver.submit_batch(size)
        except (httpx.HTTPError, Unreachable) as exc:  # counted and reported; the run goes on
            driver.errors.append(f"batch: {exc}")
        done += size
