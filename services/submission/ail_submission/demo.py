"""``python -m ail_submission.demo``: bind the demo enterprise's e-key, so that a demo
application can be submitted right after ``./dev up`` and reach ``license_issued`` on its own.

Runs after the services are healthy (scripts/devstack.py calls it after the demo tenants). It
waits for a signer host to announce the e-key (GET /api/v1/ekeys), then binds it through the
entry point as the enterprise (POST /api/v1/ekey-bindings), which also registers its certificate
with the MOFCOM sandbox. Rerunning is harmless. Without a signer it warns and exits 0.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import httpx

DEMO_ENTERPRISE = "1100776367555"


def main() -> int:
    demo_file = Path(os.environ.get("AIL_DEMO_FILE", ".devstack/dev/demo.json"))
    wait = float(os.environ.get("AIL_DEMO_EKEY_WAIT", "30"))
    try:
        demo = json.loads(demo_file.read_text())
    except OSError as exc:
        print(f"[demo-ekey] WARNING: {demo_file} unreadable ({exc}); no e-key bound", flush=True)
        return 0
    entry = demo.get("entry_url") or os.environ.get("AIL_ENTRY_URL", "http://127.0.0.1:18080")
    ent = next((e for e in demo.get("enterprises", []) if e["code"] == DEMO_ENTERPRISE), None)
    if ent is None:
        print(f"[demo-ekey] WARNING: enterprise {DEMO_ENTERPRISE} not in {demo_file}", flush=True)
        return 0
    headers = {"Authorization": f"Bearer {ent['api_key']}"}
    signer_url = os.environ.get("AIL_SIGNER_URL", "")
    if signer_url:
        try:
            httpx.get(f"{signer_url}/healthz", timeout=3.0).raise_for_status()
        except httpx.HTTPError:
            wait = min(wait, 3.0)  # no signer process here: look once, briefly
    deadline = time.monotonic() + wait
    with httpx.Client(base_url=entry, headers=headers, timeout=10.0) as client:
        keys: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            try:
                resp = client.get("/api/v1/ekeys")
                if resp.status_code == 200:
                    keys = resp.json()["items"]
                    if keys:
                        break
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        if not keys:
            print(
                f"[demo-ekey] WARNING: no signer host announced an e-key of {DEMO_ENTERPRISE} within "
                f"{wait:.0f}s; start the signer, then run `python -m ail_submission.demo`",
                flush=True,
            )
            return 0
        serial = keys[0]["serial"]
        resp = client.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
        if resp.status_code != 201:
            print(f"[demo-ekey] binding failed: HTTP {resp.status_code} {resp.text}", file=sys.stderr)
            return 1
    print(f"[demo-ekey] e-key {serial} bound to {DEMO_ENTERPRISE} ({keys[0]['subject']})", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
