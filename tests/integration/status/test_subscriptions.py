"""Subscriptions: tenant isolation, validation (every problem at once), the secret shown once,
idempotent creation, cancellation."""

from __future__ import annotations

import uuid

import httpx

from tests.integration.status.support import App, Enterprise, Publisher, history, own_entries
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
