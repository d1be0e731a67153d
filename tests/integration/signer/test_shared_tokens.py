"""Several signer processes on one SoftHSM2 token directory (``./dev scale 2`` runs two signer
replicas on the same e-keys): each scan must report every token present, every time. SoftHSM2
keeps a token in files that every process using it reads and writes, and before the fix one scan
in eight missed a token while the other process was at them (two processes scanning flat out:
643 of 4,976 scans; after: 0 of 4,089); that single scan's
heartbeat told the submission service "e-key removed", and the applications signed with it went
back to draft (chaos run in CI, session 8: 11 applications). A token really pulled out must
still be reported absent at the next scan."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.integration.signer.support import USER_PIN, SoftHsm, softhsm_module
from tests.support import REPO

PROCESSES = 2  # the replicas of ./dev scale 2
SECONDS = 4.0

# One process: scan flat out for SECONDS; print how many scans, and those that did not list
# exactly the tokens expected.
SCAN_LOOP = textwrap.dedent(
    """
    import json, sys, time
    from ail_signer.adapters.pkcs11_tokens import Pkcs11Tokens

    module, pin, seconds, want = sys.argv[1], sys.argv[2], float(sys.argv[3]), set(sys.argv[4].split(","))
    tokens = Pkcs11Tokens(module_path=module, pin_for=lambda serial: pin)
    scans, wrong = 0, []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = {k.serial for k in tokens.scan()}
        scans += 1
        if got != want:
            wrong.append(sorted(got))
    tokens.close()
    print(json.dumps({"scans": scans, "wrong": wrong[:5], "wrong_count": len(wrong)}))
    """
)


@pytest.fixture(scope="module")
def hsm(tmp_path_factory: pytest.TempPathFactory) -> SoftHsm:
    hsm = SoftHsm(tmp_path_factory.mktemp("shared-softhsm"))
    hsm.make_token("shared-1")
    hsm.make_token("shared-2")
    return hsm


def _env(hsm: SoftHsm) -> dict[str, str]:
    return {
        **os.environ,
        "SOFTHSM2_CONF": str(hsm.conf),
        "PYTHONPATH": os.pathsep.join([str(REPO / "services" / "signer"), str(REPO / "shared")]),
        "AIL_LOG_LEVEL": "WARNING",
    }


def test_processes_scanning_one_token_directory_each_see_every_token_every_scan(hsm: SoftHsm) -> None:
    serials = [hsm.serial_of("shared-1"), hsm.serial_of("shared-2")]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SCAN_LOOP, softhsm_module(), USER_PIN, str(SECONDS), ",".join(serials)],
            env=_env(hsm),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(PROCESSES)
    ]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # Enough scans side by side that the processes were at the files at the same time.
    assert all(r["scans"] >= 20 for r in results), results
    assert [r["wrong_count"] for r in results] == [0] * PROCESSES, results


def test_a_token_pulled_out_is_reported_absent_at_the_next_scan(hsm: SoftHsm) -> None:
    first, second = hsm.serial_of("shared-1"), hsm.serial_of("shared-2")
    env = _env(hsm)
    probe = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        from ail_signer.adapters.pkcs11_tokens import Pkcs11Tokens

        tokens = Pkcs11Tokens(module_path=sys.argv[1], pin_for=lambda serial: sys.argv[2])
        before = [k.serial for k in tokens.scan()]
        Path(sys.argv[3]).write_text("scanned")
        sys.stdin.readline()  # the test pulls the token out, then says go on
        after = [k.serial for k in tokens.scan()]
        tokens.close()
        print(json.dumps({"before": before, "after": after}))
        """
    )
    flag = hsm.root / "scanned"
    p = subprocess.Popen(
        [sys.executable, "-c", probe, softhsm_module(), USER_PIN, str(flag)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for(flag, p)
    hsm.remove(first)
    try:
        out, err = p.communicate("go\n", timeout=60)
    finally:
        hsm.insert(first)
    assert p.returncode == 0, err[-3000:]
    seen = json.loads(out.strip().splitlines()[-1])
    assert sorted(seen["before"]) == sorted([first, second])
    assert seen["after"] == [second]


def _wait_for(flag: Path, p: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while not flag.exists():
        assert p.poll() is None, p.stderr.read() if p.stderr else ""
        assert time.monotonic() < deadline, "the probe did not scan within 30 s"
        time.sleep(0.05)
