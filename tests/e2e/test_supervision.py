"""The stack's supervisor (scripts/devstack/supervisor.py): a service that dies on its own under
``./dev up`` is back and healthy within 30 s by itself, and ``./dev status`` counts the restart;
one stopped on purpose with ``./dev kill`` stays down until ``./dev start``. While it is down,
the events produced for it are its consumer group's lag on the stack's lag exporter (issue 14,
must show), which falls back to 0 once it is started."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ail_shared import topics
from ail_shared.events import ApplicationSigned, envelope_for
from ail_shared.kafka import make_producer
from tests.support import REPO, dev, stack_env

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

NAME = "status"  # any service will do; this one holds no test's state between requests
DEADLINE = 30.0  # the issue: "back and healthy within 30 s by itself"
GROUP = "status.lifecycle"  # NAME's consumer group
LAG_TOPIC = topics.SIGNER  # one of the topics it consumes
PROBES = 5  # events produced while it is down


@pytest.fixture
def stack() -> dict[str, str]:
    env = stack_env()
    assert env is not None, "the test stack is not running"
    dev("start", NAME)  # supervised and healthy, whatever an earlier test did with it
    return env


def _state(env: dict[str, str]) -> Path:
    return Path(env.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test"))


def _pid(env: dict[str, str]) -> int | None:
    try:
        pid = int((_state(env) / "run" / f"{NAME}.pid").read_text().split()[0])
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError, IndexError):
        return None
    return None if stat.rsplit(")", 1)[1].split()[0] == "Z" else pid


def _healthy(env: dict[str, str]) -> bool:
    try:
        return httpx.get(env["AIL_STATUS_URL"] + "/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def _status_row(name: str) -> dict[str, str]:
    """The row of NAME in ``./dev status``, cut at the header's column starts (values such as
    ``SIGKILL (-9)`` hold a space)."""
    lines = dev("status", check=False).splitlines()
    header = next(line for line in lines if line.startswith("COMPONENT"))
    titles = ["COMPONENT", "PID", "PORT", "HEALTHY", "STATE", "RESTARTS", "LAST EXIT"]
    starts = [header.index(t) for t in titles]
    row = next(line for line in lines if line.split() and line.split()[0] == name)
    ends = [*starts[1:], len(row) + 1]
    return {t: row[a:b].strip() for t, a, b in zip(titles, starts, ends, strict=True)}


def _restart_logged(env: dict[str, str], pid: int) -> bool:
    log = _state(env) / "logs" / "supervisor.log"
    for line in log.read_text().splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("event") == "process_restarted" and entry.get("component") == NAME:
                if entry.get("pid") == pid:
                    return True
    return False


def test_a_service_killed_by_the_os_is_back_and_healthy_within_30_s_by_itself(stack: dict[str, str]) -> None:
    before = _status_row(NAME)
    assert before["STATE"] == "up", before
    old = _pid(stack)
    assert old is not None and _healthy(stack)

    os.kill(old, signal.SIGKILL)  # a crash: the OS kill, not ./dev kill

    deadline = time.monotonic() + DEADLINE
    new = None
    while time.monotonic() < deadline:
        new = _pid(stack)
        if new is not None and new != old and _healthy(stack):
            break
        time.sleep(0.2)
    else:
        pytest.fail(
            f"{NAME} was not back and healthy within {DEADLINE:.0f}s (pid now {new}): {_status_row(NAME)}"
        )

    row = _status_row(NAME)
    assert row["PID"] == str(new), row
    assert row["HEALTHY"] == "yes", row
    assert int(row["RESTARTS"]) == int(before["RESTARTS"]) + 1, (before, row)
    assert row["LAST EXIT"] == "SIGKILL (-9)", row
    assert _restart_logged(stack, new), "the restart is a JSON line of logs/supervisor.log"


def _produce_probes(env: dict[str, str]) -> None:
    """``PROBES`` events on a topic NAME consumes, that change nothing anywhere: signatures of
    submissions nobody made (status ignores ApplicationSigned, submission finds no submission).
    Real, documented events: test_asyncapi_live reads every topic and checks each one."""

    async def send() -> None:
        producer = make_producer(env["AIL_KAFKA_BOOTSTRAP"])
        await producer.start()
        try:
            for _ in range(PROBES):
                probe = f"lag-probe-{uuid.uuid4()}"
                signed = ApplicationSigned(
                    application_id=probe,
                    submission_id=str(uuid.uuid4()),
                    ekey_serial="lag-probe",
                    algorithm="ECDSA-P256-SHA256",
                    signature="",
                    certificate_pem="",
                )
                envelope = envelope_for(signed, aggregate_id=probe, tenant="")
                await producer.send_and_wait(LAG_TOPIC, value=envelope.to_bytes(), key=probe.encode())
        finally:
            await producer.stop()

    asyncio.run(send())


def _exported_lag(env: dict[str, str]) -> float:
    """GROUP's lag on LAG_TOPIC (all partitions) as the stack's lag exporter says it."""
    text = httpx.get(env["AIL_LAG_URL"] + "/metrics", timeout=20.0).text
    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        if family.name == "ail_kafka_group_lag"
        for s in family.samples
        if s.labels["group"] == GROUP and s.labels["topic"] == LAG_TOPIC
    )


def _wait_lag(env: dict[str, str], ok: Callable[[float], bool], what: str, timeout: float = 60.0) -> float:
    deadline = time.monotonic() + timeout
    lag = _exported_lag(env)
    while not ok(lag):
        assert time.monotonic() < deadline, f"timed out waiting for {what}; lag now {lag}"
        time.sleep(0.5)
        lag = _exported_lag(env)
    return lag


def test_a_service_killed_with_dev_kill_stays_down_until_dev_start(stack: dict[str, str]) -> None:
    restarts = int(_status_row(NAME)["RESTARTS"])
    dev("kill", NAME)
    # Longer than any backoff the supervisor could be in after the test above (1 s, then 2 s):
    # a supervisor that undid the kill would have started it within this window.
    window = time.monotonic() + 5.0
    while time.monotonic() < window:
        assert _pid(stack) is None, f"{NAME} was started again while held down"
        assert not _healthy(stack)
        time.sleep(0.5)
    row = _status_row(NAME)
    assert row["STATE"] == "held", row
    assert row["HEALTHY"] == "not running", row
    # Its consumer is down: what is produced for it now is lag, seen from outside.
    before = _exported_lag(stack)
    _produce_probes(stack)
    grown = _wait_lag(stack, lambda lag: lag >= before + PROBES, f"{GROUP}'s lag to grow by {PROBES}")
    assert grown >= PROBES

    dev("start", NAME)
    assert _healthy(stack)
    _wait_lag(stack, lambda lag: lag == 0, f"{GROUP}'s lag back to 0 after ./dev start")
    row = _status_row(NAME)
    assert row["STATE"] == "up" and row["HEALTHY"] == "yes", row
    assert int(row["RESTARTS"]) == restarts, "a start asked for is not a restart"
