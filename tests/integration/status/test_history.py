"""History is complete on the happy path and on each rejection path: events put on the real
topics, consumed by the status service in the stack, read back through the entry point."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ail_shared.events import Envelope
from ail_shared.lifecycle import event_reason
from tests.integration.status.support import App, Enterprise, Publisher, history, own_entries
from tests.support import eventually, read_topic

Path = Callable[[App], list[Envelope]]

PATHS: dict[str, tuple[Path, list[str]]] = {
    "happy": (
        lambda a: [
            a.submitted(),
            a.accepted(),
            a.review("first", "passed", "初审通过"),
            a.review("second", "passed", "复审通过"),
            a.license_issued(),
            a.customs_stored(),
        ],
        ["submitting", "pending_first_review", "pending_second_review", "approved", "license_issued", None],
    ),
    "first_review_rejected": (
        lambda a: [a.submitted(), a.accepted(), a.review("first", "rejected", "数量超出配额")],
        ["submitting", "pending_first_review", "first_review_rejected"],
    ),
    "second_review_rejected": (
        lambda a: [
            a.submitted(),
            a.accepted(),
            a.review("first", "passed"),
            a.review("second", "rejected", "合同日期不符"),
        ],
        ["submitting", "pending_first_review", "pending_second_review", "second_review_rejected"],
    ),
    "signing_failed": (lambda a: [a.submitted(), a.signing_failed()], ["submitting", "draft"]),
    # issue 11: waiting for the e-key is in the history (no status of its own), then it goes on
    "signing_deferred": (
        lambda a: [a.submitted(), a.signing_deferred(), a.accepted()],
        ["submitting", None, "pending_first_review"],
    ),
    "mofcom_rejected": (lambda a: [a.submitted(), a.rejected()], ["submitting", "draft"]),
    "revoked": (
        lambda a: [a.submitted(), a.accepted(), a.revoked()],
        ["submitting", "pending_first_review", "revoked"],
    ),
}


async def _complete(client: httpx.AsyncClient, app: App, envs: list[Envelope]) -> dict[str, Any]:
    async def ready() -> dict[str, Any] | None:
        hist = await history(client, app.application_id)
        return hist if hist and len(own_entries(hist, envs)) == len(envs) else None

    return await eventually(ready, timeout=60, what=f"history of {app.application_id}")


@pytest.mark.parametrize("path", list(PATHS))
async def test_history_is_complete(
    path: str, publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient
) -> None:
    build, statuses = PATHS[path]
    app = App(enterprise.code)
    envs = build(app)
    # One event after the other, as the real producers emit them (each waits for the last).
    for env in envs:
        await publisher.publish(env)
        await _complete(enterprise_client, app, envs[: envs.index(env) + 1])
    hist = await _complete(enterprise_client, app, envs)
    entries = own_entries(hist, envs)

    assert [e["event"] for e in entries] == [{"id": str(e.event_id), "type": e.event_type} for e in envs]
    assert [e["status"] for e in entries] == statuses
    assert [e["occurred_at"] for e in entries] == sorted(e["occurred_at"] for e in entries)
    assert all(e["application_id"] == app.application_id and e["recorded_at"] for e in entries)
    by_type = {e["event"]["type"]: e for e in entries}
    assert by_type["ApplicationSubmitted"]["serial_no"] == app.serial_no
    if "SubmissionAccepted" in by_type:
        assert by_type["SubmissionAccepted"]["form_no"] == app.form_no
    final = [s for s in statuses if s][-1]
    assert hist["status"] == final

    if path == "happy":
        second = [e for e in entries if e["event"]["type"] == "ReviewResultReceived"][1]
        assert second["license_no"] == app.license_no and second["opinion"] == "复审通过"
        assert by_type["LicenseIssued"]["license_no"] == app.license_no
        assert by_type["CustomsStored"]["customs_status"] == "stored"
        assert by_type["CustomsStored"]["current_status"] == "license_issued"
        assert hist["customs_status"] == "stored" and hist["license_no"] == app.license_no
    elif path == "first_review_rejected":
        assert entries[-1]["opinion"] == "数量超出配额" and entries[-1]["reason"] == "数量超出配额"
    elif path == "second_review_rejected":
        assert entries[-1]["opinion"] == "合同日期不符"
    elif path == "signing_failed":
        assert entries[-1]["reason"] == event_reason("ekey_not_present", "plug the e-key in and submit again")
    elif path == "signing_deferred":
        waiting = by_type["SigningDeferred"]
        assert waiting["current_status"] == "submitting" and waiting["details"]["ekey_serial"] == "demo"
        assert waiting["reason"] == "waiting_for_ekey: waiting for e-key demo on a signer host"
    elif path == "mofcom_rejected":
        assert entries[-1]["reason"] == "mofcom_refused: 进口商代码与企业不符"
    elif path == "revoked":
        assert (
            entries[-1]["reason"] == "revoked by applicant: 申请人撤销"
            and entries[-1]["form_no"] == app.form_no
        )
        assert entries[-1]["details"]["revoke_reason"] == "申请人撤销"


async def test_late_event_is_listed_where_it_happened_and_moves_nothing_back(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient
) -> None:
    app = App(enterprise.code)
    submitted, accepted, passed = app.submitted(), app.accepted(), app.review("first", "passed")
    await publisher.publish(accepted, passed)
    await _complete(enterprise_client, app, [accepted, passed])
    await publisher.publish(submitted)  # arrives last, happened first
    hist = await _complete(enterprise_client, app, [submitted, accepted, passed])
    entries = own_entries(hist, [submitted, accepted, passed])
    assert [e["status"] for e in entries] == ["submitting", "pending_first_review", "pending_second_review"]
    assert entries[0]["current_status"] == "pending_second_review"
    assert hist["status"] == "pending_second_review"


async def test_history_of_another_tenant_is_not_found(
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
) -> None:
    app = App(enterprise.code)
    env = app.submitted()
    await publisher.publish(env)
    await _complete(enterprise_client, app, [env])
    r = await enterprise_b.get(f"/api/v1/applications/{app.application_id}/history")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await enterprise_b.get(f"/api/v1/applications/{app.application_id}/status")
    assert r.status_code == 404


async def test_event_naming_another_tenant_goes_to_the_dead_letter_topic(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    app = App(enterprise.code)
    submitted = app.submitted()
    await publisher.publish(submitted)
    await _complete(enterprise_client, app, [submitted])
    wrong = App(
        "3100123456789", application_id=app.application_id, submission_id=app.submission_id
    ).accepted()
    await publisher.publish(wrong)

    async def dead_lettered() -> list[Any]:
        records = await read_topic(kafka_bootstrap, "ail.submission.dlt", timeout=3, idle=0)
        return [
            r
            for r in records
            if r.key == app.application_id.encode()
            and dict(r.headers).get("dlt-consumer") == b"status.lifecycle"
        ]

    dead = await eventually(dead_lettered, timeout=60, interval=1, what="the event in ail.submission.dlt")
    assert b"belongs to" in dict(dead[0].headers)["dlt-reason"]
    hist = await history(enterprise_client, app.application_id)
    assert hist is not None and all(e["event"]["id"] != str(wrong.event_id) for e in hist["items"])
    assert hist["status"] in ("submitting", "draft")  # draft: the submission service may answer


async def _status(client: httpx.AsyncClient, app: App) -> str:
    r = await client.get(f"/api/v1/applications/{app.application_id}/status")
    r.raise_for_status()
    status: str = r.json()["status"]
    return status


async def test_out_of_order_events_never_move_the_view_back_and_history_is_in_authority_order(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient
) -> None:
    """Issue 10, item 6. (1) A signing failure that arrives before its submit event: the view
    stays draft. (2) MOFCOM's results out of order (the first review after the license): the
    view stays license_issued and history lists the first review where MOFCOM made it. (3) A
    resubmission after the failure still moves the view forward, and the first submission's
    late failure does not take it back."""
    failing = App(enterprise.code)
    submitted, failed = failing.submitted(), failing.signing_failed()
    await publisher.publish(failed)
    await _complete(enterprise_client, failing, [failed])
    await publisher.publish(submitted)  # late: happened first
    hist = await _complete(enterprise_client, failing, [submitted, failed])
    assert hist["status"] == "draft" and await _status(enterprise_client, failing) == "draft"
    entries = own_entries(hist, [submitted, failed])
    assert [e["event"]["type"] for e in entries] == ["ApplicationSubmitted", "SigningFailed"]
    assert entries[0]["current_status"] == "draft"

    mofcom = App(enterprise.code)
    sub, acc = mofcom.submitted(), mofcom.accepted()
    first, second, issued = (
        mofcom.review("first", "passed", "初审通过"),
        mofcom.review("second", "passed"),
        mofcom.license_issued(),
    )
    # As the submission service emits them when MOFCOM's answers come back out of order: the
    # second review and the license are processed (and stamped) before the first review, which
    # MOFCOM made first (reviewed_at) but which is stamped last (occurred_at).
    first = first.model_copy(update={"occurred_at": issued.occurred_at + timedelta(seconds=5)})
    for env in (sub, acc, second, issued, first):
        await publisher.publish(env)
        await _complete(
            enterprise_client,
            mofcom,
            [sub, acc, second, issued, first][: [sub, acc, second, issued, first].index(env) + 1],
        )
    hist = await _complete(enterprise_client, mofcom, [sub, acc, first, second, issued])
    assert hist["status"] == "license_issued"
    entries = own_entries(hist, [sub, acc, first, second, issued])
    assert [e["event"]["id"] for e in entries] == [str(e.event_id) for e in (sub, acc, first, second, issued)]
    assert [e["status"] for e in entries] == [
        "submitting",
        "pending_first_review",
        "pending_second_review",
        "approved",
        "license_issued",
    ]
    assert [e["occurred_at"] for e in entries] == sorted(e["occurred_at"] for e in entries)
    assert entries[2]["current_status"] == "license_issued"  # recorded last, moved nothing

    # Resubmission: forward; the first submission's failure arriving after it changes nothing.
    again = App(enterprise.code)
    s1 = again.submitted()
    first_id = again.submission_id
    s2 = again.submitted()  # a later submission (the first one failed)
    f1 = App(enterprise.code, application_id=again.application_id, submission_id=first_id)
    late_failure = f1.signing_failed(at=s1.occurred_at + timedelta(milliseconds=500))  # between s1 and s2
    await publisher.publish(s1, s2)
    await _complete(enterprise_client, again, [s1, s2])
    await publisher.publish(late_failure)
    hist = await _complete(enterprise_client, again, [s1, s2, late_failure])
    assert hist["status"] == "submitting"
    assert [e["event"]["id"] for e in own_entries(hist, [s1, s2, late_failure])] == [
        str(s1.event_id),
        str(late_failure.event_id),
        str(s2.event_id),
    ]
