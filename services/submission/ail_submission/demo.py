"""``python -m ail_submission.demo``: bind the demo enterprises' e-keys, so that a demo
application can be submitted right after ``./dev up`` and reach ``license_issued`` on its own.

Runs after the services are healthy (scripts/devstack/commands.py calls it after the demo tenants). For
each demo enterprise it waits briefly for a signer host to announce its e-key and binds it through
the entry point as the enterprise (POST /api/v1/ekey-bindings), which also registers the
certificate with the MOFCOM sandbox. When no signer announces it (no signer process yet), it binds
the token's certificate (``.devstack/<profile>/ekeys/<label>.pem``) through the submission
service's internal binding endpoint instead; submissions then fail fast with ``ekey_not_present``
until a signer holds the key. Rerunning is harmless.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from ail_shared.auth import SERVICE_CREDENTIAL_HEADER


def _present(client: httpx.Client, wait: float) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait
    while True:
        try:
            resp = client.get("/api/v1/ekeys")
            if resp.status_code == 200 and resp.json()["items"]:
                items: list[dict[str, Any]] = resp.json()["items"]
                return items
        except httpx.HTTPError:
            pass
        if time.monotonic() >= deadline:
            return []
        time.sleep(1.0)


def main() -> int:
    demo_file = Path(os.environ.get("AIL_DEMO_FILE", ".devstack/dev/demo.json"))
    state = Path(os.environ.get("AIL_DEVSTACK_DIR", demo_file.parent))
    wait = float(os.environ.get("AIL_DEMO_EKEY_WAIT", "20"))
    serials = os.environ.get("AIL_DEMO_EKEY_SERIALS", "").split(",")
    labels = os.environ.get("AIL_DEMO_EKEY_LABELS", "").split(",")
    submission_url = os.environ.get("AIL_SUBMISSION_URL", "http://127.0.0.1:18102")
    try:
        demo = json.loads(demo_file.read_text())
    except OSError as exc:
        print(f"[demo-ekey] WARNING: {demo_file} unreadable ({exc}); no e-key bound", flush=True)
        return 0
    entry = demo.get("entry_url") or os.environ.get("AIL_ENTRY_URL", "http://127.0.0.1:18080")
    signer_url = os.environ.get("AIL_SIGNER_URL", "")
    try:
        httpx.get(f"{signer_url}/healthz", timeout=3.0).raise_for_status()
    except httpx.HTTPError:
        wait = 0.0  # no signer process here: do not wait for heartbeats
    failed = 0
    for i, ent in enumerate(demo.get("enterprises", [])):
        headers = {"Authorization": f"Bearer {ent['api_key']}"}
        with httpx.Client(base_url=entry, headers=headers, timeout=10.0) as client:
            keys = _present(client, wait)
            if keys:
                resp = client.post("/api/v1/ekey-bindings", json={"ekey_serial": keys[0]["serial"]})
                how, serial = "present on a signer host", keys[0]["serial"]
            elif i < len(serials) and serials[i] and i < len(labels):
                pem = (state / "ekeys" / f"{labels[i]}.pem").read_text()
                body = {"enterprise_code": ent["code"], "ekey_serial": serials[i], "certificate_pem": pem}
                resp = httpx.post(
                    f"{submission_url}/internal/ekey-bindings",
                    json=body,
                    headers={SERVICE_CREDENTIAL_HEADER: os.environ.get("AIL_INTERNAL_TOKEN", "")},
                    timeout=10.0,
                )
                how, serial = "by its certificate; no signer holds it yet", serials[i]
            else:
                print(f"[demo-ekey] WARNING: no e-key known for {ent['code']}", flush=True)
                continue
        if resp.status_code != 201:
            print(
                f"[demo-ekey] binding {ent['code']} failed: HTTP {resp.status_code} {resp.text}",
                file=sys.stderr,
            )
            failed += 1
            continue
        print(f"[demo-ekey] e-key {serial} bound to {ent['code']} ({how})", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
