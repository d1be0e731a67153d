"""Issue 19 (customs, push, operations) in headless Chromium against the real stack through the
entry point (console/e2e/customs.mjs). This test makes its own data first: three licenses of
enterprise A through the real broker (SubmissionAccepted, the second review, LicenseIssued: the
customs service delivers them to the Customs sandbox, per-license answers set there), two
declarations recorded by the sandbox on one, and a dead letter of its own. The browser then
checks: the customs status, license (availability) clearance and history pages show that license
and its declarations as the API has them; a webhook subscription made in the page receives a
delivery signed as docs/status.md says (the receiver here, on 127.0.0.1, checks the signature with
the secret the page showed once) and its redelivery; the live feed shows the change; the
operations pages are refused to an enterprise account (page and API) and work for operations:
time in status, both queues, closing our failed delivery and skipping our dead letter with a
recorded reason. Screenshots: .devstack/<profile>/artifacts/console-customs/ (not committed)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from ail_shared import topics
from tests.integration.customs.support import declare, licensed, wait_ledger, wait_status
from tests.support import REPO, api_client, eventually

CONSOLE = REPO / "console"


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"got": got})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
async def ops(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


def verified(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """docs/status.md, "How a receiver verifies a delivery", by hand."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    fresh = abs(time.time() - int(headers["webhook-timestamp"])) <= 300
    return fresh and any(
        hmac.compare_digest(s.removeprefix("v1,"), expected) for s in headers["webhook-signature"].split()
    )


async def test_customs_push_and_operations_in_chromium(
    stack: dict[str, str],
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    ops: httpx.AsyncClient,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
) -> None:
    node = shutil.which("node")
    if not (CONSOLE / "dist" / "index.html").exists() or not (CONSOLE / "node_modules").exists():
        pytest.fail("the console is not built: ./dev install (npm ci and vite build in console/)")
    assert node and Path("/usr/bin/chromium").exists(), "node and Debian's chromium are needed: ./dev install"
    hook_url, got = receiver

    # Our own data: a stored license with two declarations, one Customs refuses to store, one
    # stored (the subscription's), and a dead letter with a key of ours.
    stored, failed, hooked = await asyncio.gather(
        licensed(kafka_producer, customs_sandbox),
        licensed(kafka_producer, customs_sandbox, mode="failed"),
        licensed(kafka_producer, customs_sandbox),
    )
    await asyncio.gather(
        wait_status(enterprise_a, stored.license_no, "stored"),
        wait_status(enterprise_a, hooked.license_no, "stored"),
        wait_status(enterprise_a, failed.license_no, "store_failed"),
    )
    first = await declare(customs_sandbox, stored.license_no, "100", "20")
    second = await declare(customs_sandbox, stored.license_no, "50")
    await wait_ledger(enterprise_a, stored.license_no, 2)
    dlt_key = f"c19-{uuid.uuid4()}"
    await kafka_producer.send_and_wait(
        f"{topics.SIGNER}.dlt",
        value=json.dumps({"c19": "a message no consumer could apply"}).encode(),
        key=dlt_key.encode(),
        headers=[
            ("dlt-reason", b"refused: not an event (console e2e)"),
            ("dlt-source-topic", topics.SIGNER.encode()),
            ("dlt-source-partition", b"0"),
            ("dlt-source-offset", b"0"),
            ("dlt-consumer", b"status.lifecycle"),
        ],
    )

    async def dead_letter_listed() -> bool:
        r = await ops.get(
            "/api/v1/ops/dead-letters", params={"topic": f"{topics.SIGNER}.dlt", "state": "open"}
        )
        return r.status_code == 200 and dlt_key in r.text

    await eventually(dead_letter_listed, timeout=30, interval=0.5, what="our dead letter listed")

    # The console's search of the Customs queue: one license, ours (added for the page).
    r = await ops.get("/api/v1/ops/customs-deliveries", params={"license_no": failed.license_no})
    assert r.status_code == 200 and [d["license_no"] for d in r.json()["items"]] == [failed.license_no], (
        r.text
    )
    r = await ops.get("/api/v1/ops/customs-deliveries", params={"license_no": stored.license_no})
    assert r.status_code == 200 and r.json()["total"] == 0, r.text  # stored: not in the queue

    artifacts = Path(stack["AIL_DEMO_FILE"]).parent / "artifacts" / "console-customs"
    shutil.rmtree(artifacts, ignore_errors=True)
    data = {
        "stored": {
            "license_no": stored.license_no,
            "declarations": [first["declaration_no"], second["declaration_no"]],
        },
        "failed": {"license_no": failed.license_no},
        "hooked": {"license_no": hooked.license_no, "application_id": hooked.application_id},
        "hook_url": hook_url,
        "dlt_key": dlt_key,
    }
    env = {
        **os.environ,
        **stack,
        "AIL_CONSOLE_ARTIFACTS": str(artifacts),
        "AIL_C19_DATA": json.dumps(data),
        "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
    }
    cp = await asyncio.to_thread(
        subprocess.run,
        [node, "e2e/customs.mjs"],
        cwd=CONSOLE,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = artifacts / "results.json"
    results = json.loads(summary.read_text()) if summary.exists() else []
    assert cp.returncode == 0, f"{cp.stdout}\n{cp.stderr}\nscreenshots: {artifacts}"
    assert all(r["ok"] for r in results) and len(results) >= 10, results

    # The subscription made in the page got the clearance of our license, signed with the secret
    # the page showed once; the redelivery asked in the page came again with the same webhook-id.
    secret = (artifacts / "secret.txt").read_text().strip()
    declared = json.loads((artifacts / "declared.json").read_text())

    def ours() -> list[tuple[dict[str, str], dict[str, Any]]]:
        return [
            (h, json.loads(b))
            for h, b in list(got)
            if json.loads(b)["type"] == "application.clearance_recorded"
            and json.loads(b)["data"].get("application_id") == hooked.application_id
        ]

    async def redelivered() -> list[tuple[dict[str, str], dict[str, Any]]]:
        found = ours()
        return found if len({h["webhook-id"] for h, _ in found}) < len(found) else []

    deliveries = await eventually(
        redelivered, timeout=30, interval=0.3, what="the delivery and its redelivery"
    )
    assert all(verified(secret, h, b) for h, b in got), "a delivery whose signature does not verify"
    assert not verified("whsec_" + base64.b64encode(b"x" * 32).decode(), *got[0]), "any secret verifies"
    assert declared["declaration_no"] in json.dumps(deliveries[0][1])

    # The subscription made by the page, deleted (its deliveries are done).
    subs = (await enterprise_a.get("/api/v1/subscriptions", params={"page_size": "100"})).json()["items"]
    for sub in [s for s in subs if s["url"] == hook_url]:
        assert (await enterprise_a.delete(f"/api/v1/subscriptions/{sub['id']}")).status_code == 204

    # What the operations pages did is recorded in the API.
    r = await ops.get("/api/v1/ops/customs-deliveries", params={"license_no": failed.license_no})
    [closed] = r.json()["items"]
    assert closed["state"] == "closed" and any(
        "closed by the console" in a["reason"] for a in closed["actions"]
    )
    r = await ops.get(
        "/api/v1/ops/dead-letters", params={"topic": f"{topics.SIGNER}.dlt", "state": "skipped"}
    )
    [letter] = [m for t in r.json()["items"] for m in t["messages"] if m["key"] == dlt_key]
    assert letter["state"] == "skipped" and letter["actions"][-1]["reason"].startswith("c19 e2e: skipped")
