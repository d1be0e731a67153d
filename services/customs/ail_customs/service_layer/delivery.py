"""Delivering licenses to Customs.

A license is due when ``next_delivery_at <= now()``. The worker claims due licenses in one short
transaction (customs status ``not_arrived``, ``next_delivery_at`` pushed to the end of a lease, so
a worker that dies mid-round is replaced after the lease), calls Customs outside any transaction,
then records the outcome, its ``CustomsStored`` event (outbox) and the history in one transaction.
A failed round schedules an automatic re-send after a doubling back-off, a bounded number of
times; after that only the operator's re-send sends it again.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.adapters.repository import SCHEMA, CustomsRepository
from ail_customs.domain.delivery import DeliveryOutcome, auto_resend_delay
from ail_customs.service_layer.intake import DELIVERY_WAKE
from ail_shared import topics
from ail_shared.errors import Conflict
from ail_shared.events import CustomsStored, envelope_for
from ail_shared.logging import get_logger
from ail_shared.outbox import write_event

log = get_logger("ail.customs.delivery")

CLAIM = f"""
UPDATE {SCHEMA}.licenses SET customs_status = 'not_arrived', delivery_rounds = delivery_rounds + 1,
    next_delivery_at = now() + make_interval(secs => $2), updated_at = now()
WHERE license_no IN (
    SELECT license_no FROM {SCHEMA}.licenses WHERE next_delivery_at <= now()
    ORDER BY next_delivery_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING *
"""


def license_message(row: asyncpg.Record) -> dict[str, Any]:
    """What Customs receives for one license."""
    return {
        "license_no": row["license_no"],
        "enterprise_code": row["enterprise_code"],
        "form_no": row["form_no"],
        "commodity_code": row["commodity_code"],
        "commodity_name": row["commodity_name"],
        "unit": row["unit"],
        "quantity": str(row["quantity"]),
        "one_batch_one_license": row["one_batch_one_license"],
        "issued_at": row["issued_at"].isoformat(),
        "valid_until": row["valid_until"].isoformat(),
    }


class DeliveryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        customs: CustomsSystem,
        *,
        poll_seconds: float = 0.5,
        lease_seconds: float = 60.0,
        resend_base_seconds: float = 5.0,
        max_auto_rounds: int = 5,
        concurrency: int = 8,
    ) -> None:
        self.pool = pool
        self.customs = customs
        self.poll_seconds = poll_seconds
        self.lease_seconds = lease_seconds
        self.resend_base_seconds = resend_base_seconds
        self.max_auto_rounds = max_auto_rounds
        self.concurrency = concurrency
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        DELIVERY_WAKE.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                claimed = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep delivering after outages
                log.error("delivery_worker_error", error=repr(exc))
                claimed = 0
            if claimed == 0:
                DELIVERY_WAKE.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(DELIVERY_WAKE.wait(), self.poll_seconds)

    async def run_once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, self.concurrency, self.lease_seconds)
        if rows:
            await asyncio.gather(*(self._deliver(r) for r in rows))
        return len(rows)

    async def _deliver(self, row: asyncpg.Record) -> None:
        started = datetime.now(UTC)
        try:
            outcome = await self.customs.deliver(license_message(row))
        except Exception as exc:  # noqa: BLE001 - an adapter bug must still leave a visible state
            outcome = DeliveryOutcome("send_failed", f"delivery error: {exc!r}")
        await self._record(row, outcome, started)

    async def _record(self, row: asyncpg.Record, outcome: DeliveryOutcome, started: datetime) -> None:
        now = datetime.now(UTC)
        async with self.pool.acquire() as conn, conn.transaction():
            cur = await conn.fetchrow(
                f"SELECT delivery_rounds, failed_rounds FROM {SCHEMA}.licenses"
                " WHERE license_no = $1 FOR UPDATE",
                row["license_no"],
            )
            if cur is None or cur["delivery_rounds"] != row["delivery_rounds"]:
                return  # a newer round took over after our lease ran out; its outcome counts
            failed_rounds = 0 if outcome.result == "stored" else cur["failed_rounds"] + 1
            delay = (
                None
                if outcome.result == "stored"
                else auto_resend_delay(
                    failed_rounds, base_seconds=self.resend_base_seconds, max_rounds=self.max_auto_rounds
                )
            )
            next_at = now + timedelta(seconds=delay) if delay is not None else None
            await conn.execute(
                f"UPDATE {SCHEMA}.licenses SET customs_status = $2, failed_rounds = $3,"
                " next_delivery_at = $4, last_delivery_detail = $5, updated_at = now() WHERE license_no = $1",
                row["license_no"],
                outcome.result,
                failed_rounds,
                next_at,
                outcome.detail,
            )
            event = CustomsStored(
                application_id=row["application_id"],
                license_no=row["license_no"],
                result=outcome.result,
                detail=outcome.detail,
                attempt=row["delivery_rounds"],
            )
            await write_event(
                conn,
                schema=SCHEMA,
                topic=topics.CUSTOMS,
                envelope=envelope_for(
                    event, aggregate_id=row["application_id"], tenant=row["enterprise_code"]
                ),
            )
            text = {
                "stored": "Customs stored the license",
                "store_failed": "Customs failed to store the license",
                "send_failed": "the license could not be sent to Customs",
            }[outcome.result]
            await CustomsRepository(conn).add_history(
                application_id=row["application_id"],
                enterprise_code=row["enterprise_code"],
                license_no=row["license_no"],
                occurred_at=now,
                kind="customs_delivery",
                summary=f"delivery round {row['delivery_rounds']}: {text}"
                + (f" ({outcome.detail})" if outcome.detail else "")
                + (f"; automatic re-send at {next_at.isoformat()}" if next_at else ""),
                data={
                    "round": row["delivery_rounds"],
                    "result": outcome.result,
                    "detail": outcome.detail,
                    "tries": outcome.tries,
                    "receipt_no": outcome.receipt_no,
                    "started_at": started,
                    "next_auto_resend_at": next_at,
                },
            )
        log.info(
            "customs_delivery",
            license_no=row["license_no"],
            result=outcome.result,
            round=row["delivery_rounds"],
        )


async def request_resend(
    conn: asyncpg.Connection, *, license_no: str, enterprise_codes: tuple[str, ...], principal: str
) -> tuple[int, dict[str, Any]]:
    """The operator's re-send. Idempotent: a license already due or in flight is left as it is; a
    stored license is not sent again (409)."""
    repo = CustomsRepository(conn)
    lic = await repo.license_of_tenant(license_no, enterprise_codes, for_update=True)
    status = lic["customs_status"]
    if status == "stored":
        raise Conflict(f"license {license_no} is already stored at Customs; there is nothing to re-send")
    now = datetime.now(UTC)
    already = status in (None, "not_arrived") or (
        lic["next_delivery_at"] is not None and lic["next_delivery_at"] <= now
    )
    if not already:
        await conn.execute(
            f"UPDATE {SCHEMA}.licenses SET next_delivery_at = now(), failed_rounds = 0, updated_at = now()"
            " WHERE license_no = $1",
            license_no,
        )
        await repo.add_history(
            application_id=lic["application_id"],
            enterprise_code=lic["enterprise_code"],
            license_no=license_no,
            occurred_at=now,
            kind="customs_resend_requested",
            summary=f"re-send to Customs requested by {principal} (was {status})",
            data={"previous_status": status, "by": principal},
        )
        DELIVERY_WAKE.set()
    return 202, {
        "license_no": license_no,
        "customs_status": status,
        "resend": "already_scheduled" if already else "scheduled",
    }
