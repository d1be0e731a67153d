"""Issue 16: ``benchmarks/run_all.py --quick`` runs every figure of the issue's table against the
stack, prints the table and writes one row per figure with its numbers and its same-run baseline.
A smoke run (tiny sizes): it shows the one benchmark command still works end to end, not how fast
anything is (no timing assertions).

It runs in the parallel phase: --quick touches nothing another test relies on (benchmarks/
run_all.py says how: MOFCOM held per application by scopes, nothing paused, a tenant and data of
its own in every phase), and returns with nothing of it in flight. The second test checks that
part, which is what took it out of the suite before (its held submissions of the demo enterprise
were approved minutes later, under the chaos run that came next in CI): the run's submissions
are the run's own enterprise's, every one at a final status, none under review at MOFCOM, its
e-key unbound and its certificate withdrawn."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.support import REPO, stack_replicas

ROW_KEYS = [
    "submit_single",
    "submit_batch",
    "cpu_per_submission",
    "drafts",
    "signer",
    "availability",
    "webhooks",
    "page",
    "outbox",
    "stats",
]
# Where a run's submission may rest once it returns: nothing more comes for it.
ENDED = {"revoked", "first_review_rejected", "second_review_rejected", "approved", "license_issued"}


@pytest.fixture(scope="module")
async def quick_run(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One ``run_all.py --quick --json`` against the stack: its exit status, output and JSON."""
    out = tmp_path_factory.mktemp("run_all") / "run_all.json"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "benchmarks" / "run_all.py"),
        "--quick",
        "--json",
        str(out),
        env={**os.environ, **stack},
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), timeout=400)
    text = stdout.decode() + stderr.decode()
    return {
        "rc": proc.returncode,
        "stdout": stdout.decode(),
        "output": text[-6000:],
        "document": json.loads(out.read_text()) if out.exists() else None,
    }


@pytest.mark.timeout(450)
async def test_run_all_quick_prints_and_writes_every_row_with_its_baseline(
    quick_run: dict[str, Any], stack: dict[str, str]
) -> None:
    assert quick_run["document"] is not None, quick_run["output"]
    document = quick_run["document"]
    rows = {r["key"]: r for r in document["rows"]}
    # No phase error: each would name itself in its rows (and make the exit status 1).
    assert {k: r["error"] for k, r in rows.items() if r["error"]} == {}, quick_run["output"]
    assert document["closing_error"] == "", document["closing_error"]
    assert quick_run["rc"] == 0, quick_run["output"]
    assert list(rows) == ROW_KEYS
    for key, r in rows.items():
        assert isinstance(r["value"], int | float) and math.isfinite(r["value"]), (key, r)
        assert r["value"] >= 0, (key, r)
        assert r["met"] in (True, False), (key, r)
        assert r["figure"] and r["goal"] and r["path"], (key, r)
        # The baseline measured in the same run, with its number.
        assert any(ch.isdigit() for ch in r["baseline"]), (key, r["baseline"])
        assert isinstance(r["load"], int | float), (key, r)
    assert document["quick"] is True
    assert document["replicas"] == stack_replicas(stack)
    assert document["seconds"].keys() == {
        "submission",
        "application",
        "signer",
        "customs",
        "webhook",
        "outbox",
        "stats",
    }
    # The printed table: a header and one line per row, each with its figure, baseline and goal.
    stdout = quick_run["stdout"]
    assert f"replicas: {document['replicas']} of each service" in stdout
    printed = [line for line in stdout.splitlines() if line.startswith("| ")]
    assert len(printed) == 1 + len(ROW_KEYS), stdout[-4000:]
    assert printed[0].startswith("| path | figure | baseline (same run) | goal |")
    for r in rows.values():
        line = next((x for x in printed if x.startswith(f"| {r['path']} |")), None)
        assert line is not None, (r["path"], printed)
        assert f"| {r['figure']} | {r['baseline']} | {r['goal']} |" in line, line


@pytest.mark.timeout(450)
async def test_run_all_quick_leaves_nothing_in_flight_and_nothing_on_the_demo_tenants(
    quick_run: dict[str, Any], stack: dict[str, str], db: asyncpg.Pool
) -> None:
    document = quick_run["document"]
    assert document is not None, quick_run["output"]
    tenant = document["tenant"]
    demo = {e["code"] for e in json.loads(Path(stack["AIL_DEMO_FILE"]).read_text())["enterprises"]}
    assert tenant and tenant not in demo, tenant

    # Every submission of the run is its own enterprise's and ended: nothing submitting, nothing
    # pending a review that could approve it later.
    submission = document["figures"]["submission"]
    paced = submission["paced"]
    made = submission["single"]["n"] + submission["batch"]["n"]
    made += paced["n"] + paced["warmup_sent"] + paced["missing"]
    by_status = dict(
        await db.fetch(
            "SELECT status, count(*) FROM application.applications WHERE enterprise_code = $1"
            " AND status <> 'draft' GROUP BY status",
            tenant,
        )
    )
    assert sum(by_status.values()) == made, by_status
    assert set(by_status) <= ENDED, by_status
    assert by_status == submission["ended"], (by_status, submission["ended"])
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10) as mofcom:
        forms = await db.fetch(
            "SELECT form_no FROM application.applications WHERE enterprise_code = $1 AND form_no IS NOT NULL",
            tenant,
        )
        assert len(forms) == made
        for (form,) in forms:
            r = await mofcom.get(f"/mofcom/submissions/{form}")
            assert r.status_code == 200, r.text
            assert r.json()["status"] not in ("pending_first_review", "pending_second_review"), r.json()
        # Its e-key unbound again (the certificate withdrawn at MOFCOM) and no scope of it left.
        certs = (await mofcom.get("/control/certificates", params={"enterprise_code": tenant})).json()
        assert certs["registered"] in ([], {}), certs
        scopes = (await mofcom.get("/control/scopes")).json()["items"]
        mine = {
            r["id"]
            for r in await db.fetch(
                "SELECT id::text AS id FROM application.applications WHERE enterprise_code = $1", tenant
            )
        }
        assert [s for s in scopes if s["match"].get("application_id") in mine] == []
    bound = await db.fetchval(
        "SELECT count(*) FROM submission.ekey_bindings WHERE enterprise_code = $1", tenant
    )
    assert bound == 0
