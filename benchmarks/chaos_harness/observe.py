"""What the agency can see while the run goes on, through the public API: the application
query (status, form and license numbers) and the customs status query, paged, newest first,
stopping at the run's own rows. Outages only make a scan fail; the last good one stays."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from benchmarks.chaos_harness.stack import Stack, Unreachable, call

PAGE = 200


@dataclass
class Seen:
    status: str
    form_no: str | None
    license_no: str | None
    quantity: Decimal
    customs_status: str | None = None
    customs_detail: str | None = None
    next_auto_resend_at: str | None = None


@dataclass
class Observer:
    stack: Stack
    started_at: datetime  # the run's start (UTC): older rows are not the run's
    ids: set[str] = field(default_factory=set)
    seen: dict[str, Seen] = field(default_factory=dict)
    scans: int = 0
    failed_scans: int = 0

    async def scan(self) -> bool:
        try:
            async with self.stack.agency(timeout=60) as client:
                await self._applications(client)
                await self._customs(client)
        except (httpx.HTTPError, Unreachable, KeyError, ValueError):
            self.failed_scans += 1
            return False
        self.scans += 1
        return True

    async def _pages(self, client: httpx.AsyncClient, path: str, params: dict[str, Any], stop: Any) -> None:
        page = 1
        while True:
            r = await call(
                client, "GET", path, params={**params, "page": page, "page_size": PAGE}, deadline=60
            )
            r.raise_for_status()
            items = r.json()["items"]
            if stop(items) or len(items) < PAGE:
                return
            page += 1

    async def _applications(self, client: httpx.AsyncClient) -> None:
        pending = set(self.ids)

        def take(items: list[dict[str, Any]]) -> bool:
            older = False
            for row in items:
                if row["id"] in self.ids:
                    old = self.seen.get(row["id"])
                    s = Seen(
                        row["status"],
                        row.get("form_no"),
                        row.get("license_no"),
                        Decimal(str(row["total_quantity"] or 0)),
                    )
                    if old is not None:
                        s.customs_status, s.customs_detail = old.customs_status, old.customs_detail
                        s.next_auto_resend_at = old.next_auto_resend_at
                    self.seen[row["id"]] = s
                    pending.discard(row["id"])
                if datetime.fromisoformat(row["created_at"]) < self.started_at:
                    older = True
            return older or not pending

        await self._pages(client, "/api/v1/applications", {}, take)

    async def _customs(self, client: httpx.AsyncClient) -> None:
        pending = {i for i, s in self.seen.items() if s.license_no}
        if not pending:
            return

        def take(items: list[dict[str, Any]]) -> bool:
            older = False
            for row in items:
                s = self.seen.get(row["application_id"])
                if s is not None:
                    s.customs_status = row.get("customs_status")
                    s.customs_detail = row.get("customs_detail")
                    s.next_auto_resend_at = row.get("next_auto_resend_at")
                    pending.discard(row["application_id"])
                applied = row.get("applied_at")
                if applied and datetime.fromisoformat(applied) < self.started_at:
                    older = True
            return older or not pending

        applied_from = (self.started_at - timedelta(days=1)).date().isoformat()
        await self._pages(client, "/api/v1/customs/status", {"applied_from": applied_from}, take)

    def statuses(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for app_id in self.ids:
            s = self.seen.get(app_id)
            if s is None:
                out["unseen"] += 1
            elif s.status == "license_issued":
                out[f"issued/{s.customs_status or '-'}"] += 1
            else:
                out[s.status] += 1
        return out

    def stored(self) -> dict[str, tuple[str, Decimal]]:
        """Applications whose license Customs stored: id -> (license no., quantity)."""
        return {
            i: (s.license_no, s.quantity)
            for i, s in self.seen.items()
            if s.license_no and s.customs_status == "stored"
        }

    def failed_for_good(self) -> dict[str, str]:
        """Licenses whose delivery failed with no automatic re-send left: id -> license no."""
        return {
            i: s.license_no
            for i, s in self.seen.items()
            if s.license_no
            and s.customs_status in ("store_failed", "send_failed")
            and not s.next_auto_resend_at
        }
