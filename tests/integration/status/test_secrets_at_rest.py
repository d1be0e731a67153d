"""Issue 10, item 10: the webhook secret is stored encrypted, never in an idempotency record;
a replay of the creation (same Idempotency-Key) gives the secret again, decrypted from the
subscription row; deliveries verify with the published standardwebhooks library."""

from __future__ import annotations

import json
import uuid

import asyncpg
import httpx
from standardwebhooks import Webhook

from ail_shared.secretbox import SecretBox
from ail_status.domain import webhooks
from tests.integration.status.support import App, Enterprise, Publisher, Received, Receiver
from tests.support import eventually


async def test_secret_encrypted_at_rest_not_in_idempotency_record_replay_and_delivery_verify(
    db: asyncpg.Pool,
    stack: dict[str, str],
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    key = f"sub-{uuid.uuid4()}"
    body = {"url": receiver.url, "all_applications": True}
    r = await enterprise_client.post("/api/v1/subscriptions", json=body, headers={"Idempotency-Key": key})
    assert r.status_code == 201, r.text
    sub = r.json()
    secret = sub["secret"]
    key_part = secret.removeprefix("whsec_")

    row = await db.fetchrow("SELECT secret FROM status.subscriptions WHERE id = $1", uuid.UUID(sub["id"]))
    assert row is not None
    stored = row["secret"]
    assert secret not in stored and key_part not in stored and stored.startswith("v1:")
    box = SecretBox.from_setting(stack["AIL_WEBHOOK_SECRET_KEYS"])
    assert box.decrypt(stored, aad=webhooks.aad(sub["id"])) == secret  # the stack's key, bound to the row

    records = await db.fetch(
        "SELECT response::text AS response FROM status.idempotency_keys WHERE key = $1", key
    )
    assert len(records) == 1 and sub["id"] in records[0]["response"]
    assert key_part not in records[0]["response"] and "secret" not in json.loads(records[0]["response"])
    everywhere = await db.fetchval(
        "SELECT count(*) FROM status.idempotency_keys WHERE response::text LIKE '%' || $1 || '%'", key_part
    )
    assert everywhere == 0

    # Replay (the first answer lost): the same subscription and its secret, rebuilt from the row.
    again = await enterprise_client.post("/api/v1/subscriptions", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == sub
    assert len((await enterprise_client.get("/api/v1/subscriptions")).json()["items"]) == 1

    await publisher.publish(App(enterprise.code).submitted())
    got = await eventually(lambda: _first(receiver), timeout=60, what="a delivery")
    payload = Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "application.application_submitted"

    # After deletion a replay answers without a secret (there is nothing left to sign with).
    assert (await enterprise_client.delete(f"/api/v1/subscriptions/{sub['id']}")).status_code == 204
    after = await enterprise_client.post("/api/v1/subscriptions", json=body, headers={"Idempotency-Key": key})
    assert after.status_code == 201 and "secret" not in after.json() and after.json()["id"] == sub["id"]


async def _first(receiver: Receiver) -> Received | None:
    return receiver.accepted()[0] if receiver.accepted() else None
