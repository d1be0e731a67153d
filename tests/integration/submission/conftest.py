"""Fixtures of the submission tests: the signer (the stack's real signer process when it runs,
else the test-only stand-in), the MOFCOM sandbox's control API, and bound e-keys."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.submission.helpers import REPO, Signer


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def signer(stack: dict[str, str]) -> Iterator[Signer]:
    """The signer host. The stack's own signer (pid file ``run/signer.pid``) when it runs; the
    stand-in otherwise, started here and stopped at the end of the session."""
    state = Path(stack.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test"))
    pidfile = state / "run" / "signer.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().split()[0])
        if _pid_alive(pid):
            yield Signer(stack=stack, pidfile=pidfile, real=True)
            return
    log = state / "logs" / "standin-signer.log" if (state / "logs").exists() else state / "standin-signer.log"
    standin_pid = state / "run" / "standin-signer.pid"
    standin_pid.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **stack, "PYTHONUNBUFFERED": "1"}
    s = Signer(stack=stack, pidfile=standin_pid, real=False, log=log, env=env)
    s.start()
    yield s
    for proc in s.procs:  # a stand-in: no state worth a graceful stop
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
