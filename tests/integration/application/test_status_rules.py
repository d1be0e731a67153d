"""Edit, delete and copy by status (DOMAIN section 4), including the refusals."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.application.support import set_status

EDITABLE = ["draft", "revoked", "first_review_rejected"]
NOT_EDITABLE = [
    "submitting",
    "pending_first_review",
    "pending_second_review",
    "second_review_rejected",
    "approved",
    "license_issued",
]


@pytest.mark.parametrize("status", EDITABLE)
async def test_edit_and_delete_allowed(enterprise_a_direct, make_draft, db, status):
    app = await make_draft(remarks="before")
    await set_status(db, app["id"], status)
    r = await enterprise_a_direct.patch(f"/api/v1/applications/{app['id']}", json={"remarks": "after"})
    assert r.status_code == 200 and r.json()["remarks"] == "after"
    r = await enterprise_a_direct.put(
        f"/api/v1/applications/{app['id']}/contract", json={"other": {"detailed_use": "炼钢"}}
    )
    assert r.status_code == 200
    assert (await enterprise_a_direct.delete(f"/api/v1/applications/{app['id']}")).status_code == 204
    assert (await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}")).status_code == 404


@pytest.mark.parametrize("status", NOT_EDITABLE)
async def test_edit_and_delete_refused(enterprise_a_direct, make_draft, db, status):
    app = await make_draft(remarks="before")
    await set_status(db, app["id"], status)
    r = await enterprise_a_direct.patch(f"/api/v1/applications/{app['id']}", json={"remarks": "after"})
    assert r.status_code == 409
    assert status in r.json()["error"]["message"]
    assert (
        await enterprise_a_direct.put(f"/api/v1/applications/{app['id']}/contract", json={})
    ).status_code == 409
    assert (await enterprise_a_direct.delete(f"/api/v1/applications/{app['id']}")).status_code == 409
    got = (await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}")).json()
    assert got["remarks"] == "before" and got["status"] == status and not got["has_contract"]


@pytest.mark.parametrize("status", ["draft", "pending_first_review", "approved", "license_issued"])
async def test_copy_any_status_gives_new_drafts(enterprise_a_direct, make_draft, db, status):
    app = await make_draft(complete=True)
    await set_status(
        db,
        app["id"],
        status,
        form_no=f"26{uuid.uuid4().int % 10**19:019d}",
        license_no=f"26AA{uuid.uuid4().hex[:8]}",
    )
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/copies", json={"count": 3})
    assert r.status_code == 201, r.text
    copies = r.json()["copies"]
    assert len(copies) == 3
    assert len({c["serial_no"] for c in copies} | {app["serial_no"]}) == 4
    for c in copies:
        assert c["status"] == "draft" and c["form_no"] is None and c["license_no"] is None
        assert c["copied_from"] == app["id"]
        assert c["goods"] == app["goods"] and c["import_user_name"] == app["import_user_name"]
        assert c["has_contract"]


async def test_copy_count_bounds(enterprise_a_direct, make_draft):
    app = await make_draft()
    for count in (0, 51):
        r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/copies", json={"count": count})
        assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "count"
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/copies", json={"count": 50})
    assert r.status_code == 201 and len(r.json()["copies"]) == 50


async def test_batch_delete_gives_a_result_per_id(enterprise_a_direct, make_draft, db):
    draft, pending, rejected = await make_draft(), await make_draft(), await make_draft()
    await set_status(db, pending["id"], "pending_first_review")
    await set_status(db, rejected["id"], "first_review_rejected")
    missing = str(uuid.uuid4())
    r = await enterprise_a_direct.post(
        "/api/v1/applications/batch-delete",
        json={"ids": [draft["id"], pending["id"], missing, rejected["id"]]},
    )
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [(x["id"], x["outcome"]) for x in results] == [
        (draft["id"], "deleted"),
        (pending["id"], "refused"),
        (missing, "not_found"),
        (rejected["id"], "deleted"),
    ]
    assert (await enterprise_a_direct.get(f"/api/v1/applications/{pending['id']}")).status_code == 200
    assert (await enterprise_a_direct.get(f"/api/v1/applications/{draft['id']}")).status_code == 404


async def test_copies_with_an_idempotency_key_are_made_once(enterprise_a_direct, make_draft):
    app = await make_draft(import_user_name=f"幂等{uuid.uuid4().hex[:8]}")
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await enterprise_a_direct.post(
        f"/api/v1/applications/{app['id']}/copies", json={"count": 2}, headers=key
    )
    again = await enterprise_a_direct.post(
        f"/api/v1/applications/{app['id']}/copies", json={"count": 2}, headers=key
    )
    assert first.status_code == again.status_code == 201
    assert [c["id"] for c in first.json()["copies"]] == [c["id"] for c in again.json()["copies"]]
    listed = (
        await enterprise_a_direct.get(
            "/api/v1/applications", params={"import_user_name": app["import_user_name"]}
        )
    ).json()
    assert listed["total"] == 3
