"""Issue 13, item 13: a declaration Customs reported and the license ledger refused is in the
application's history and pushed, by webhook and on the live stream, like every change."""

from __future__ import annotations

from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.integration.status.support import App, Enterprise, Publisher, Receiver, Stream, history, subscribe
from tests.support import eventually


async def test_a_refused_declaration_is_in_the_history_and_pushed(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, receiver: Receiver
) -> None:
    app = App(enterprise.code)
    sub = await subscribe(enterprise_client, url=receiver.url, all_applications=True)
    await publisher.publish(app.submitted(), app.accepted(), app.review("first", "passed"))
    await publisher.publish(app.review("second", "passed"), app.license_issued())
    stream = await Stream(enterprise_client, last_event_id="0").open()
    refused = app.clearance_refused()
    await publisher.publish(refused)

    async def entry() -> dict[str, Any] | None:
        hist = await history(enterprise_client, app.application_id)
        found = [e for e in (hist or {}).get("items", []) if e["event"]["id"] == str(refused.event_id)]
        return found[0] if found else None

    got = await eventually(entry, what="the ClearanceRefused history entry")
    assert got["event"]["type"] == "ClearanceRefused"
    assert got["reason"].startswith("one_batch_already_used: the one-batch license has been used")
    assert got["license_no"] == app.license_no and got["status"] is None
    assert got["details"]["declaration_no"] == "2200" + app.serial_no[-14:]
    assert got["details"]["refusal"] == "one_batch_already_used"

    frames = await stream.events(
        until=lambda seen: any(f["data"]["event"]["id"] == str(refused.event_id) for f in seen)
    )
    await stream.close()
    [frame] = [f for f in frames if f["data"]["event"]["id"] == str(refused.event_id)]
    assert frame["event"] == "application.clearance_refused"

    async def delivered() -> Any:
        return [r for r in receiver.accepted() if r.headers["webhook-id"] == str(refused.event_id)]

    hook = (await eventually(delivered, what="the webhook of the refusal"))[0]
    payload = Webhook(sub["secret"]).verify(hook.body, hook.headers)
    assert payload["type"] == "application.clearance_refused"
    assert payload["data"]["details"]["refusal"] == "one_batch_already_used"
