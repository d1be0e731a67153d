"""Issue 10, item 5: SSRF through webhook URLs. Against the running stack, which allows loopback
explicitly (AIL_WEBHOOK_ALLOW_LOOPBACK=true, its receivers listen on 127.0.0.1): every other
internal form is still refused at subscription (422 naming ``url`` and the reason), and at send
time a URL that does not pass is refused without connecting, with the reason in the attempt.
No test here sends anything to an address other than 127.0.0.1 (the refused forms below would
reach 127.0.0.1 if the check were missing)."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx
import pytest

from ail_status.domain import webhooks
from tests.integration.status.support import App, Enterprise, Publisher, Receiver
from tests.support import eventually

# (url, words of the reason). Refused even though the stack allows plain loopback.
REFUSED = [
    ("http://2130706433/hook", "is 127.0.0.1"),
    ("http://127.1/hook", "is 127.0.0.1"),
    ("http://0x7f.0.0.1/hook", "is 127.0.0.1"),
    ("http://0177.0.0.1/hook", "is 127.0.0.1"),
    ("http://017700000001/hook", "is 127.0.0.1"),
    ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped"),
    ("http://[::127.0.0.1]/hook", "IPv4-compatible"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata address"),
    ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata address"),
    ("http://2852039166/latest/meta-data/", "169.254.169.254"),
    ("http://10.0.0.8/hook", "private address"),
    ("http://192.168.0.1/hook", "private address"),
    ("http://[fd00::1]/hook", "private address"),
    ("http://169.254.10.10/hook", "link-local address"),
    ("http://[fe80::1]/hook", "link-local address"),
    ("http://224.0.0.251/hook", "multicast address"),
    ("http://0.0.0.0/hook", "unspecified address"),
    ("http://[::]/hook", "unspecified address"),
    ("http://api.localhost/hook", "internal name"),
    ("http://metadata.google.internal/computeMetadata/v1/", "internal name"),
    ("http://printer.local/hook", "internal name"),
    ("http://billing.default.svc/hook", "internal name"),
    ("http://billing.default.svc.cluster.local/hook", "internal name"),
    ("http://status/hook", "single-label name"),
]


@pytest.mark.parametrize(("url", "reason"), REFUSED)
async def test_each_ssrf_form_is_refused_at_subscription(
    url: str, reason: str, enterprise_client: httpx.AsyncClient
) -> None:
    r = await enterprise_client.post("/api/v1/subscriptions", json={"url": url, "all_applications": True})
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["field"] for d in details] == ["url"]
    assert reason in details[0]["reason"]
    assert (await enterprise_client.get("/api/v1/subscriptions")).json()["items"] == []


async def _subscription_row(db: asyncpg.Pool, enterprise: Enterprise, url: str) -> uuid.UUID:
    """A subscription stored without the subscription check, as one made before the guard (and
    before encryption: a clear secret, which the worker still signs with and encrypts at its
    next sweep). The send-time check must stop it."""
    sub_id = uuid.uuid4()
    await db.execute(
        "INSERT INTO status.subscriptions (id, enterprise_code, url, secret, all_applications, created_by)"
        " VALUES ($1, $2, $3, $4, true, 'test')",
        sub_id,
        enterprise.code,
        url,
        webhooks.new_secret(),
    )
    return sub_id


async def test_send_time_check_refuses_without_connecting_and_records_why(
    db: asyncpg.Pool,
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    receiver: Receiver,
) -> None:
    # Both URLs reach the receiver on 127.0.0.1 if nothing checks them at send time.
    urls = [f"http://2130706433:{receiver.port}/hook", f"http://[::ffff:127.0.0.1]:{receiver.port}/hook"]
    subs = [await _subscription_row(db, enterprise, u) for u in urls]
    await publisher.publish(App(enterprise.code).submitted())

    async def attempts() -> list[Any]:
        rows = await db.fetch(
            "SELECT d.subscription_id, a.error, a.status_code, a.response_body"
            " FROM status.delivery_attempts a JOIN status.deliveries d ON d.id = a.delivery_id"
            " WHERE d.subscription_id = ANY($1::uuid[])",
            subs,
        )
        return rows if {r["subscription_id"] for r in rows} == set(subs) else []

    rows = await eventually(attempts, timeout=60, what="an attempt of each subscription")
    for r in rows:
        assert r["error"].startswith("refused before connecting"), r["error"]
        assert r["status_code"] is None and r["response_body"] is None
    assert {next(r["error"] for r in rows if r["subscription_id"] == s) for s in subs} == {
        "refused before connecting: host '2130706433' is 127.0.0.1 (127.0.0.1 is a loopback address);"
        " write an IPv4 address as four decimal numbers a.b.c.d",
        "refused before connecting: ::ffff:7f00:1 is an IPv6 address embedding 127.0.0.1 (IPv4-mapped):"
        " 127.0.0.1 is a loopback address",
    }
    assert receiver.received == []  # nothing connected


async def test_no_answer_body_reaches_the_delivery_log(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.status = 500  # answers "receiver down"
    r = await enterprise_client.post(
        "/api/v1/subscriptions",
        json={"url": receiver.url, "all_applications": True, "retry_period_seconds": 1},
    )
    assert r.status_code == 201, r.text
    sub = r.json()
    await publisher.publish(App(enterprise.code).submitted())

    async def failed() -> list[Any]:
        items = (await enterprise_client.get(f"/api/v1/subscriptions/{sub['id']}/deliveries")).json()["items"]
        return [d for d in items if d["attempt_log"]]

    (delivery,) = await eventually(failed, timeout=60, what="a failed attempt")
    attempt = delivery["attempt_log"][0]
    assert attempt["status_code"] == 500 and attempt["error"] == "HTTP 500 Internal Server Error"
    assert attempt["response_body"] is None
    assert "receiver down" not in str(delivery)
