"""Subscriptions: tenant isolation, validation (every problem at once), the secret shown once,
idempotent creation, cancellation, the webhook types a subscription chooses."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

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


async def _known(publisher: Publisher, client: httpx.AsyncClient, app: App) -> None:
    env = app.submitted()
    await publisher.publish(env)

    async def seen() -> bool:
        hist = await history(client, app.application_id)
        return bool(hist and own_entries(hist, [env]))

    await eventually(seen, timeout=60, what="application known to the status service")


async def test_subscription_to_another_tenants_application_is_refused(
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
) -> None:
    mine = App(enterprise.code)
    await _known(publisher, enterprise_client, mine)
    url = "http://127.0.0.1:9/hook"
    r = await enterprise_b.post(
        "/api/v1/subscriptions", json={"url": url, "application_ids": [mine.application_id]}
    )
    assert r.status_code == 404, r.text
    assert r.json()["error"]["code"] == "not_found" and mine.application_id in r.json()["error"]["message"]
    listed = (await enterprise_b.get("/api/v1/subscriptions")).json()["items"]
    assert all(mine.application_id not in s["application_ids"] for s in listed)

    # One's own, known application: accepted. An unknown id next to it: the whole request refused.
    unknown = str(uuid.uuid4())
    r = await enterprise_client.post(
        "/api/v1/subscriptions", json={"url": url, "application_ids": [mine.application_id, unknown]}
    )
    assert r.status_code == 404 and unknown in r.json()["error"]["message"]
    r = await enterprise_client.post(
        "/api/v1/subscriptions", json={"url": url, "application_ids": [mine.application_id]}
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    assert sub["application_ids"] == [mine.application_id] and not sub["all_applications"]
    r = await enterprise_b.get(f"/api/v1/subscriptions/{sub['id']}")
    assert r.status_code == 404
    r = await enterprise_b.delete(f"/api/v1/subscriptions/{sub['id']}")
    assert r.status_code == 404
    r = await enterprise_b.get(f"/api/v1/subscriptions/{sub['id']}/deliveries")
    assert r.status_code == 404


async def test_bad_subscription_names_every_problem(enterprise_client: httpx.AsyncClient) -> None:
    r = await enterprise_client.post(
        "/api/v1/subscriptions",
        json={"url": "ftp://user:pw@example.com/x", "application_ids": ["a", "a"], "all_applications": True},
    )
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    fields = [d["field"] for d in details]
    assert fields.count("url") == 2  # scheme, credentials
    assert "application_ids" in fields
    r = await enterprise_client.post("/api/v1/subscriptions", json={"url": "http://127.0.0.1:9/hook"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "application_ids"
    r = await enterprise_client.post(
        "/api/v1/subscriptions",
        json={"url": "not a url", "all_applications": True, "retry_period_seconds": 0},
    )
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"url", "retry_period_seconds"}
    r = await enterprise_client.post(
        "/api/v1/subscriptions", json={"url": "mailto:x@example.com", "all_applications": True}
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "url"


async def test_secret_shown_once_idempotent_create_and_delete(enterprise_client: httpx.AsyncClient) -> None:
    # (a loopback URL: the stack allows it; a public name would be resolved, and tests ask no DNS)
    body = {"url": "http://127.0.0.1:9/ail", "all_applications": True, "description": "ERP"}
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await enterprise_client.post("/api/v1/subscriptions", json=body, headers=key)
    again = await enterprise_client.post("/api/v1/subscriptions", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()  # the retry gets the same subscription, not a second one
    sub = first.json()
    assert sub["secret"].startswith("whsec_") and len(sub["secret"]) > 40

    got = (await enterprise_client.get(f"/api/v1/subscriptions/{sub['id']}")).json()
    assert "secret" not in got and got["url"] == body["url"] and got["description"] == "ERP"
    listed = (await enterprise_client.get("/api/v1/subscriptions")).json()["items"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert all("secret" not in s for s in listed)

    r = await enterprise_client.delete(f"/api/v1/subscriptions/{sub['id']}")
    assert r.status_code == 204
    assert (await enterprise_client.get(f"/api/v1/subscriptions/{sub['id']}")).status_code == 404
    assert (await enterprise_client.delete(f"/api/v1/subscriptions/{sub['id']}")).status_code == 404
    assert (await enterprise_client.get("/api/v1/subscriptions")).json()["items"] == []


async def test_a_subscription_for_chosen_event_types_gets_only_those(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    reviews = await subscribe(
        enterprise_client,
        url=receiver.url,
        all_applications=True,
        event_types=["application.review_result_received"],
    )
    every = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    assert reviews["event_types"] == ["application.review_result_received"] and every["event_types"] is None
    got = (await enterprise_client.get(f"/api/v1/subscriptions/{reviews['id']}")).json()
    assert got["event_types"] == ["application.review_result_received"]

    app = App(enterprise.code)
    envs = [
        app.submitted(),
        app.accepted(),
        app.review("first", "passed"),
        app.review("second", "passed", "同意"),
        app.license_issued(),
    ]
    await publisher.publish(*envs)
    ids = {str(e.event_id) for e in envs}

    async def delivered(sub: dict[str, Any], n: int) -> bool:
        r = await enterprise_client.get(f"/api/v1/subscriptions/{sub['id']}/deliveries")
        mine = [d for d in r.json()["items"] if d["event_id"] in ids]
        return len(mine) == n and all(d["state"] == "delivered" for d in mine)

    async def done() -> bool:
        return await delivered(every, len(envs)) and await delivered(reviews, 2)

    # The other types have happened (and were delivered to the subscription for every type)...
    await eventually(done, timeout=60, what="the changes delivered to both subscriptions")
    # ...while the one for reviews got the two review results only (other services, reacting to
    # these events, may add changes of their own: none of them is a review result either).
    r = await enterprise_client.get(f"/api/v1/subscriptions/{reviews['id']}/deliveries")
    items = r.json()["items"]
    assert {d["event_type"] for d in items} == {"ReviewResultReceived"}, items
    assert [d["event_id"] for d in items] == [str(envs[2].event_id), str(envs[3].event_id)]
    sent = [json.loads(x.body) for x in receiver.accepted()]
    for_reviews = [b for b in sent if b["data"]["event"]["id"] in {d["event_id"] for d in items}]
    assert len(for_reviews) == 4  # the two review results, to both subscriptions
    assert {b["data"]["event"]["id"] for b in sent} >= ids


async def test_bad_event_types_are_named_one_by_one(enterprise_client: httpx.AsyncClient) -> None:
    r = await enterprise_client.post(
        "/api/v1/subscriptions",
        json={
            "url": "http://127.0.0.1:9/hook",
            "all_applications": True,
            "event_types": ["application.license_issued", "LicenseIssued", "application.license_issued"],
        },
    )
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["field"] for d in details] == ["event_types", "event_types.1"]
    assert "application.clearance_recorded" in details[1]["reason"]  # names the allowed ones
    r = await enterprise_client.post(
        "/api/v1/subscriptions",
        json={"url": "http://127.0.0.1:9/hook", "all_applications": True, "event_types": []},
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "event_types"
