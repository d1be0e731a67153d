"""Another tenant's id is not found; lists and batches never leak or touch its data."""

from __future__ import annotations

from tests.integration.application.support import complete_contract, iron_ore_contract, token


async def test_other_tenant_cannot_read_edit_delete_copy_or_print(
    enterprise_a_direct, enterprise_b_direct, make_draft
):
    app = await make_draft(complete=True, commodity_code="2601110000", remarks="A's")
    assert (
        await enterprise_a_direct.put(
            f"/api/v1/applications/{app['id']}/iron-ore-contract", json=iron_ore_contract()
        )
    ).status_code == 200
    pdf = b"%PDF-1.4\n%test\n"
    att = (
        await enterprise_a_direct.post(
            f"/api/v1/applications/{app['id']}/attachments", files={"file": ("a.pdf", pdf)}
        )
    ).json()
    base = f"/api/v1/applications/{app['id']}"
    version = (await enterprise_a_direct.get(base)).json()["version"]
    calls = [
        enterprise_b_direct.get(base),
        enterprise_b_direct.patch(base, json={"remarks": "B's"}),
        enterprise_b_direct.delete(base),
        enterprise_b_direct.post(f"{base}/copies", json={"count": 1}),
        enterprise_b_direct.get(f"{base}/contract"),
        enterprise_b_direct.put(f"{base}/contract", json=complete_contract()),
        enterprise_b_direct.get(f"{base}/iron-ore-contract"),
        enterprise_b_direct.put(f"{base}/iron-ore-contract", json=iron_ore_contract()),
        enterprise_b_direct.get(f"{base}/print"),
        enterprise_b_direct.post("/api/v1/applications/print", json={"ids": [app["id"]]}),
        enterprise_b_direct.post(f"{base}/submit"),
        enterprise_b_direct.get(f"{base}/attachments"),
        enterprise_b_direct.post(f"{base}/attachments", files={"file": ("b.pdf", pdf)}),
        enterprise_b_direct.get(f"{base}/attachments/{att['id']}"),
        enterprise_b_direct.delete(f"{base}/attachments/{att['id']}"),
    ]
    for call in calls:
        r = await call
        assert r.status_code == 404, (r.request.method, r.request.url, r.status_code, r.text)
        assert app["id"] not in r.text or "not found" in r.text
    got = (await enterprise_a_direct.get(base)).json()
    assert got["remarks"] == "A's" and got["status"] == "draft" and got["version"] == version
    assert (
        (await enterprise_a_direct.get(f"{base}/contract"))
        .json()["foreign_contract"]["contract_no"]
        .startswith("C-")
    )
    assert len((await enterprise_a_direct.get(f"{base}/attachments")).json()) == 1


async def test_lists_and_batches_never_leak(enterprise_a_direct, enterprise_b_direct, make_draft):
    name = f"隔离{token()}"
    mine = await make_draft(import_user_name=name)
    theirs = await make_draft(client=enterprise_b_direct, import_user_name=name)
    listed_a = (
        await enterprise_a_direct.get("/api/v1/applications", params={"import_user_name": name})
    ).json()
    listed_b = (
        await enterprise_b_direct.get("/api/v1/applications", params={"import_user_name": name})
    ).json()
    assert [x["id"] for x in listed_a["items"]] == [mine["id"]] and listed_a["total"] == 1
    assert [x["id"] for x in listed_b["items"]] == [theirs["id"]] and listed_b["total"] == 1
    assert (
        await enterprise_b_direct.get("/api/v1/applications", params={"serial_no": mine["serial_no"]})
    ).json()["total"] == 0
    r = await enterprise_b_direct.post(
        "/api/v1/applications/batch-delete", json={"ids": [mine["id"], theirs["id"]]}
    )
    assert [x["outcome"] for x in r.json()["results"]] == ["not_found", "deleted"]
    assert (await enterprise_a_direct.get(f"/api/v1/applications/{mine['id']}")).status_code == 200


async def test_agency_acts_only_for_authorising_enterprises(agency, demo, enterprise_a_direct, make_draft):
    # The shared fixture talks to the entry point; that is the same service behind nginx.
    codes = [e["code"] for e in demo["enterprises"]]
    r = await agency.post("/api/v1/applications", json={"remarks": "agency"})
    assert r.status_code == 422 and "X-Enterprise-Code" in r.json()["error"]["message"]
    r = await agency.post(
        "/api/v1/applications", json={"remarks": "agency"}, headers={"X-Enterprise-Code": codes[0]}
    )
    assert r.status_code == 201 and r.json()["enterprise_code"] == codes[0]
    created = r.json()
    assert (await enterprise_a_direct.get(f"/api/v1/applications/{created['id']}")).status_code == 200
    r = await agency.get(f"/api/v1/applications/{created['id']}", headers={"X-Enterprise-Code": codes[1]})
    assert r.status_code == 404
    # Without the header an agency reads across every enterprise that authorised it.
    listed = (await agency.get("/api/v1/applications", params={"serial_no": created["serial_no"]})).json()
    assert [x["id"] for x in listed["items"]] == [created["id"]] and listed["total"] == 1
    r = await agency.get("/api/v1/applications", headers={"X-Enterprise-Code": "1234567890123"})
    assert r.status_code == 403
