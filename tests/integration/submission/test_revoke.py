"""Revoke (撤销) is allowed only from pending_first_review; every other status is refused with 409
naming the status. MOFCOM is changed for this module's own applications only (scopes), so it runs
in the parallel phase."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import uuid4

import httpx
import pytest

from ail_shared.errors import Conflict
from ail_shared.lifecycle import ApplicationStatus
from ail_submission.domain.model import ApplicationView
from tests.integration.submission.support import create_draft, wait_status
from tests.support import MofcomScopes, eventually


async def _submitted(
    client: httpx.AsyncClient,
    scopes: MofcomScopes | None = None,
    control: dict[str, Any] | None = None,
    *,
    mismatch: bool = False,
) -> str:
    """A new application submitted, MOFCOM set for it (``control``) before it gets there."""
    app_id = await create_draft(client, quantity_off_by=Decimal(1) if mismatch else Decimal(0))
    if scopes is not None and control:
        await scopes.add(control, application_id=app_id)
    resp = await client.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    return app_id


async def test_revoke_only_from_pending_first_review(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    mofcom_scopes: MofcomScopes,
) -> None:
    at: dict[str, str] = {}
    # Each application its own MOFCOM (a scope): all are on their way at once.
    at["pending_first_review"] = await _submitted(enterprise_a, mofcom_scopes, {"first_delay": 60})
    at["pending_second_review"] = await _submitted(
        enterprise_a, mofcom_scopes, {"first_delay": 0.2, "second_delay": 60}
    )
    at["license_issued"] = await _submitted(enterprise_a)
    # Our validation and the sandbox's default rule agree (ail_shared.formrules): a first-review
    # rejection for the contract's totals takes the sandbox's "equal" fault mode.
    at["first_review_rejected"] = await _submitted(
        enterprise_a, mofcom_scopes, {"contract_totals_rule": "equal"}, mismatch=True
    )
    at["second_review_rejected"] = await _submitted(enterprise_a, mofcom_scopes, {"second_reject_rate": 1.0})
    at["submitting"] = await _submitted(enterprise_a, mofcom_scopes, {"faults": {"error_rate": 1.0}})
    at["draft"] = await create_draft(enterprise_a)
    for status, app_id in at.items():
        await wait_status(enterprise_a, app_id, status)

    for status, app_id in at.items():
        if status == "pending_first_review":
            continue
        resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/revoke")
        assert resp.status_code == 409, (status, resp.text)
        assert f"is {status}" in resp.json()["error"]["message"], resp.text

    app_id = at["pending_first_review"]
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/revoke")
    assert resp.status_code == 200, resp.text
    assert resp.json()["status"] == "revoked"
    app = await wait_status(enterprise_a, app_id, "revoked")
    assert app["form_no"]
    mofcom = await mofcom_sandbox.get(f"/mofcom/submissions/{app['form_no']}")
    assert mofcom.json()["status"] == "revoked"
    again = await enterprise_a.post(f"/api/v1/applications/{app_id}/revoke")
    assert again.status_code == 409 and "is revoked" in again.json()["error"]["message"]


@pytest.mark.parametrize("status", list(ApplicationStatus))
def test_revoke_rule_for_every_status(status: ApplicationStatus) -> None:
    """Covers `approved` too, which lasts only an instant before license_issued in the sandbox."""
    view = ApplicationView(
        application_id=uuid4(), enterprise_code="1100776367555", submission_id=uuid4(), status=status
    )
    if status == ApplicationStatus.PENDING_FIRST_REVIEW:
        view.check_revocable()
    else:
        with pytest.raises(Conflict, match=f"is {status.value}"):
            view.check_revocable()


async def test_the_revoke_reason_is_kept_and_a_resubmission_shows_no_old_form_no(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    mofcom_scopes: MofcomScopes,
) -> None:
    """Issue 13, item 11: the reason the applicant gives is in the application's status reason,
    its history (the event) and at MOFCOM. Item 12: submitted again, it shows no form no. until
    MOFCOM answers (the revoked form's number is not the new submission's)."""
    app_id = await create_draft(enterprise_a)
    scope = await mofcom_scopes.add({"first_delay": 60}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(enterprise_a, app_id, "pending_first_review")
    too_long = await enterprise_a.post(f"/api/v1/applications/{app_id}/revoke", json={"reason": "x" * 501})
    assert too_long.status_code == 422 and "reason" in too_long.text, too_long.text
    resp = await enterprise_a.post(
        f"/api/v1/applications/{app_id}/revoke", json={"reason": "合同取消，改期进口"}
    )
    assert resp.status_code == 200, resp.text
    assert resp.json()["status_reason"] == "revoked by applicant: 合同取消，改期进口"
    app = await wait_status(enterprise_a, app_id, "revoked")
    assert app["status_reason"] == "revoked by applicant: 合同取消，改期进口"
    mofcom = (await mofcom_sandbox.get(f"/mofcom/submissions/{app['form_no']}")).json()
    assert mofcom["status"] == "revoked" and mofcom["revoke_reason"] == "合同取消，改期进口"

    async def revoked_entry() -> dict[str, Any] | None:
        history = (await enterprise_a.get(f"/api/v1/applications/{app_id}/history")).json()
        found = [e for e in history["items"] if e["event"]["type"] == "ApplicationRevoked"]
        return found[0] if found else None

    entry = await eventually(revoked_entry)
    assert entry["reason"] == "revoked by applicant: 合同取消，改期进口"
    assert entry["details"]["revoke_reason"] == "合同取消，改期进口"

    # Item 12: MOFCOM does not answer, so the resubmission stays in flight.
    await mofcom_scopes.change(scope, {"faults": {"error_rate": 1.0}})
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    in_flight = await wait_status(enterprise_a, app_id, "submitting")
    assert in_flight["form_no"] is None and in_flight["license_no"] is None, in_flight
    listed = (
        await enterprise_a.get("/api/v1/applications", params={"serial_no": in_flight["serial_no"]})
    ).json()
    assert [row["form_no"] for row in listed["items"]] == [None], listed
    await mofcom_scopes.change(scope, {"faults": {"error_rate": 0.0}})
    answered = await wait_status(enterprise_a, app_id, "pending_first_review")
    assert answered["form_no"] and answered["form_no"] != app["form_no"]
