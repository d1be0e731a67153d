"""Signed webhooks against a real receiver on 127.0.0.1: retries while it is down, order per
application, duplicates dropped by webhook-id, verification with the published
``standardwebhooks`` library, the end of the retry period, redelivery."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from ail_shared.events import Envelope
from tests.integration.status.support import (
    App,
    Enterprise,
    Publisher,
    Receiver,
    history,
    own_entries,
    subscribe,
)
from tests.support import eventually


async def deliveries(client: httpx.AsyncClient, sub_id: str, **params: Any) -> list[dict[str, Any]]:
    r = await client.get(f"/api/v1/subscriptions/{sub_id}/deliveries", params=params)
    r.raise_for_status()
    items: list[dict[str, Any]] = r.json()["items"]
    return items


async def recorded(client: httpx.AsyncClient, apps: list[App], envs: list[Envelope]) -> None:
    async def done() -> bool:
        for app in apps:
            mine = [e for e in envs if e.aggregate_id == app.application_id]
            hist = await history(client, app.application_id)
            if hist is None or len(own_entries(hist, mine)) != len(mine):
                return False
        return True

    await eventually(done, timeout=60, what="events recorded by the status service")


STEPS: list[Callable[[App], Envelope]] = [
    lambda a: a.submitted(),
    lambda a: a.accepted(),
    lambda a: a.review("first", "passed"),
    lambda a: a.review("second", "passed", "同意"),
    lambda a: a.license_issued(),
]


async def test_receiver_down_then_back_gets_every_change_in_order_once(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500
    sub = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    apps = [App(enterprise.code) for _ in range(4)]
    produced: dict[str, list[Envelope]] = {a.application_id: [] for a in apps}
    everything: list[Envelope] = []
    for i, step in enumerate(STEPS):
        envs = [step(a) for a in apps]
        for env in envs:
            produced[env.aggregate_id].append(env)
        everything += envs
        await publisher.publish(*envs)
        await recorded(enterprise_client, apps, everything)
        if i == 1:
            # The receiver has been refusing for a while: each application's first delivery has
            # been tried more than once, the rest wait behind it.
            async def retried() -> bool:
                items = await deliveries(enterprise_client, sub["id"], state="pending")
                heads = [d for d in items if d["attempts"] >= 2]
                return len({d["application_id"] for d in heads}) == len(apps)

            await eventually(retried, timeout=30, what="each application's first delivery retried")
    items = await deliveries(enterprise_client, sub["id"], page_size=200)
    assert all(d["state"] == "pending" for d in items)
    tried = [d for d in items if d["attempts"]]
    assert tried and all(a["status_code"] == 500 for d in tried for a in d["attempt_log"])
    assert {d["application_id"] for d in tried} == set(produced)  # only the heads of the queues
    assert all(d["event_type"] == "ApplicationSubmitted" for d in tried)

    receiver.status = 200
    wanted = {str(e.event_id) for e in everything}

    async def all_arrived() -> bool:
        return wanted <= {r.headers["webhook-id"] for r in receiver.accepted()}

    await eventually(all_arrived, timeout=60, what="every change delivered after the receiver came back")

    hook = Webhook(sub["secret"])
    seen: set[str] = set()
    per_app: dict[str, list[dict[str, Any]]] = {}
    for r in receiver.accepted():
        payload = hook.verify(r.body, r.headers)  # raises if the signature does not match
        assert r.headers["webhook-id"] == payload["data"]["event"]["id"]
        if r.headers["webhook-id"] in seen:
            continue  # a receiver drops duplicates by webhook-id
        seen.add(r.headers["webhook-id"])
        per_app.setdefault(payload["data"]["application_id"], []).append(payload)
    for app_id, envs in produced.items():
        got = per_app[app_id]
        # Other services react to the test's events on the real topics and may add changes of
        # their own; ours arrive in the order they happened, all of them, each once.
        assert [p["data"]["event"]["id"] for p in got if p["data"]["event"]["id"] in wanted] == [
            str(e.event_id) for e in envs
        ]
        sequences = [p["data"]["sequence"] for p in got]
        assert sequences == sorted(sequences) and len(set(sequences)) == len(sequences)
        assert got[0]["type"] == "application.application_submitted"
    final = {p["data"]["current_status"] for got in per_app.values() for p in got[-1:]}
    assert final == {"license_issued"}

    async def all_delivered() -> list[dict[str, Any]] | None:
        items = await deliveries(enterprise_client, sub["id"], page_size=200)
        mine = [d for d in items if d["event_id"] in wanted]
        return mine if all(d["state"] == "delivered" for d in mine) else None

    mine = await eventually(all_delivered, timeout=30, what="deliveries marked delivered")
    assert len(mine) == len(wanted)
    head = next(d for d in mine if d["attempts"] > 1)
    assert head["attempt_log"][-1]["status_code"] == 200 and head["delivered_at"]


async def test_tampered_body_fails_the_standardwebhooks_check(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    app = App(enterprise.code)
    sub = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    env = app.submitted()
    await publisher.publish(env)

    async def arrived() -> Any:
        return [r for r in receiver.accepted() if r.headers["webhook-id"] == str(env.event_id)]

    got = (await eventually(arrived, timeout=30, what="the webhook"))[0]
    assert got.headers["content-type"] == "application/json"
    assert got.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(sub["secret"]).verify(got.body, got.headers)
    assert payload["data"]["status"] == "submitting"

    tampered = json.loads(got.body)
    tampered["data"]["status"] = "approved"
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(json.dumps(tampered).encode(), got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(got.body + b" ", got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(sub["secret"]).verify(got.body, {**got.headers, "webhook-id": "another-id"})
    other = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    with pytest.raises(WebhookVerificationError):
        Webhook(other["secret"]).verify(got.body, got.headers)


async def test_retry_period_end_marks_failed_then_redelivery_succeeds(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 503
    app = App(enterprise.code)
    sub = await subscribe(enterprise_client, url=receiver.url, all_applications=True, retry_period_seconds=2)
    assert sub["retry_period_seconds"] == 2
    first, second = app.submitted(), app.signing_failed()
    await publisher.publish(first)
    await recorded(enterprise_client, [app], [first])  # the two travel on different topics
    await publisher.publish(second)

    async def both_failed() -> list[dict[str, Any]] | None:
        items = [
            d
            for d in await deliveries(enterprise_client, sub["id"])
            if d["application_id"] == app.application_id
        ]
        failed = [d for d in items if d["state"] == "failed"]
        return failed if len(failed) >= 2 else None

    failed = await eventually(both_failed, timeout=60, what="deliveries failed after the retry period")
    one, two = failed[0], failed[1]
    assert one["event_id"] == str(first.event_id) and two["event_id"] == str(second.event_id)
    for d in (one, two):
        assert d["attempts"] >= 2 and d["failed_at"] and d["next_attempt_at"] is None
        assert "retry period ended" in d["last_error"] and "HTTP 503" in d["last_error"]
        assert [a["attempt_no"] for a in d["attempt_log"]] == list(range(1, d["attempts"] + 1))
        assert all(a["status_code"] == 503 for a in d["attempt_log"])
    # In order: the second was first tried only once the first had finally failed.
    assert two["attempt_log"][0]["started_at"] >= one["failed_at"]
    r = await enterprise_client.get(
        f"/api/v1/subscriptions/{sub['id']}/deliveries", params={"state": "failed"}
    )
    assert {d["id"] for d in r.json()["items"]} >= {one["id"], two["id"]}

    receiver.status = 200
    r = await enterprise_client.post(f"/api/v1/subscriptions/{sub['id']}/deliveries/{one['id']}/redeliver")
    assert r.status_code == 202, r.text

    async def redelivered() -> dict[str, Any] | None:
        d = next(d for d in await deliveries(enterprise_client, sub["id"]) if d["id"] == one["id"])
        return d if d["state"] == "delivered" else None

    done = await eventually(redelivered, timeout=30, what="redelivery")
    assert done["redeliveries"] == 1 and done["attempt_log"][-1]["status_code"] == 200
    assert [r.headers["webhook-id"] for r in receiver.accepted()] == [str(first.event_id)]
    Webhook(sub["secret"]).verify(receiver.accepted()[0].body, receiver.accepted()[0].headers)
    r = await enterprise_client.post(f"/api/v1/subscriptions/{sub['id']}/deliveries/{one['id']}/redeliver")
    assert r.status_code in (202, 409)  # delivered again is allowed; while pending it is refused


async def test_a_deferred_signing_is_pushed(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    """Issue 11: the application said "waiting for e-key ..." while the webhooks said nothing."""
    sub = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    app = App(enterprise.code)
    envs = [app.submitted(), app.signing_deferred()]
    await publisher.publish(*envs)
    wanted = {str(e.event_id) for e in envs}

    async def arrived() -> bool:
        return wanted <= {r.headers["webhook-id"] for r in receiver.accepted()}

    await eventually(arrived, timeout=60, what="the submission and its deferred signing delivered")
    hook = Webhook(sub["secret"])
    (waiting,) = [
        p
        for p in (hook.verify(r.body, r.headers) for r in receiver.accepted())
        if p["data"]["event"]["id"] == str(envs[1].event_id)
    ]
    assert waiting["type"] == "application.signing_deferred"
    assert waiting["data"]["status"] is None and waiting["data"]["current_status"] == "submitting"
    r = await enterprise_client.get(f"/api/v1/applications/{app.application_id}/status")
    assert r.json()["status_reason"] == "waiting_for_ekey: waiting for e-key demo on a signer host"
