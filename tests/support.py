"""Test helpers shared by integration and end-to-end tests: the running stack's settings, and
reading back what reached Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


def stack_env() -> dict[str, str] | None:
    """The stack's variables: from the environment (./dev test exports them) or from the env
    file of the test profile, so a developer can run pytest by hand after ./dev test --keep."""
    if os.environ.get("AIL_PG_DSN") and os.environ.get("AIL_KAFKA_BOOTSTRAP"):
        return dict(os.environ)
    profile = os.environ.get("AIL_PROFILE", "test")
    env_file = REPO / ".devstack" / profile / "env"
    if not env_file.exists():
        return None
    env: dict[str, str] = {}
    for line in env_file.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            k, v = line.removeprefix("export ").split("=", 1)
            env[k] = v.strip().strip("'\"")
    return env


async def create_topic(bootstrap: str, partitions: int = 6, prefix: str = "test") -> str:
    name = f"{prefix}.{uuid.uuid4().hex[:10]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def read_topic(
    bootstrap: str,
    topic: str,
    *,
    expect: int | None = None,
    timeout: float = 30.0,
    idle: float = 1.0,
) -> list[Any]:
    """Every committed record of ``topic`` from the beginning. Stops when ``expect`` records
    arrived (then waits ``idle`` more seconds to catch extras), or at ``timeout``."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        parts = None
        deadline = time.monotonic() + 10
        while not parts and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()  # noqa: SLF001 - fresh topic
            parts = consumer.partitions_for_topic(topic)
        assert parts, f"topic {topic} not found"
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        out: list[Any] = []
        deadline = time.monotonic() + timeout
        reached_at: float | None = None
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=300)
            for records in batch.values():
                out.extend(records)
            if expect is not None and len(out) >= expect:
                reached_at = reached_at or time.monotonic()
                if time.monotonic() - reached_at >= idle:
                    break
        return out
    finally:
        await consumer.stop()


async def eventually(
    fn: Callable[[], Awaitable[T]], *, timeout: float = 30.0, interval: float = 0.2, what: str = "condition"
) -> T:
    """Poll ``fn`` until it returns a truthy value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await fn()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}; last value: {last!r}")


def demo(env: dict[str, str]) -> dict[str, Any]:
    path = Path(env.get("AIL_DEVSTACK_DIR", REPO / ".devstack" / "test")) / "demo.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# ./dev verbs that stop, start or hold components of the shared stack: only serial tests use them.
STACK_CHANGING = frozenset({"kill", "hold", "start", "restart", "down", "up", "reset", "scale"})


def require_serial(what: str) -> None:
    """Refuse, in the parallel phase of ``./dev test``, what would disturb the other tests.

    ``./dev test`` runs the suite in two phases: every test not marked ``serial`` on several
    pytest-xdist workers at once against the one shared stack, then the ``serial`` ones alone.
    A test that kills, holds or restarts a component, or starts a second copy of a service
    (which joins its consumer group and takes partitions away from the stack's), would break
    the tests running beside it; it must carry ``pytestmark = pytest.mark.serial``. This check
    makes a missing mark fail loudly instead of making the neighbours flaky."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        raise RuntimeError(
            f"{what} changes the shared stack, but this test runs in the parallel phase: "
            "mark its module `pytestmark = pytest.mark.serial` (see tests/support.require_serial)"
        )


class MofcomScopes:
    """MOFCOM changed for this test's own submissions only: the sandbox's ``/control/scopes``
    (sandbox/ail_sandbox/mofcom/control.py). Unlike the global ``POST /control`` it leaves the
    tests running beside this one alone, so a test that uses only scopes may run in the parallel
    phase. Match on what only this test's submissions carry (its ``application_id``, usually).
    The ``mofcom_scopes`` fixture deletes the scopes after the test.

    Mind what a scope cannot confine: a fault that trips state OUR services share (a sender's
    slots held by hanging requests, a binding of a demo enterprise) still needs a serial test."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.ids: list[str] = []

    async def add(self, control: dict[str, Any], **match: str) -> str:
        r = await self.client.post("/control/scopes", json={"match": match, "control": control})
        assert r.status_code == 201, r.text
        scope_id = str(r.json()["id"])
        self.ids.append(scope_id)
        return scope_id

    async def change(self, scope_id: str, control: dict[str, Any]) -> None:
        r = await self.client.patch(f"/control/scopes/{scope_id}", json=control)
        assert r.status_code == 200, r.text

    async def remove_all(self) -> None:
        for scope_id in self.ids:
            await self.client.delete(f"/control/scopes/{scope_id}")
        self.ids.clear()


def dev(*args: str, timeout: float = 180.0, check: bool = True) -> str:
    """Run ``./dev ARGS`` against the stack under test (same profile and port base), e.g.
    ``dev("kill", "postgres")`` then ``dev("start", "postgres")`` for an outage test. Raises
    with the output when the command fails (unless ``check`` is false: ``./dev status`` exits
    3 while anything is down). Verbs that change the stack need a serial test (require_serial)."""
    import subprocess

    if args and args[0] in STACK_CHANGING:
        require_serial(f"./dev {' '.join(args)}")

    env = dict(os.environ)
    stack = stack_env() or {}
    for key in ("AIL_PROFILE", "AIL_PORT_BASE"):
        if stack.get(key):
            env[key] = stack[key]
    cp = subprocess.run(
        [str(REPO / "dev"), *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and cp.returncode != 0:
        raise RuntimeError(f"./dev {' '.join(args)} exited {cp.returncode}:\n{cp.stdout}\n{cp.stderr}")
    return cp.stdout


def stack_replicas(stack: dict[str, str]) -> int:
    """How many copies of each service the stack runs now (``./dev up --replicas``, ``scale``)."""
    recorded = json.loads((Path(stack["AIL_DEVSTACK_DIR"]) / "stack.json").read_text())
    return int(recorded.get("AIL_STACK_REPLICAS") or 1)


@contextlib.contextmanager
def scaled(replicas: int) -> Iterator[dict[str, str]]:
    """The test stack with ``replicas`` copies of every service (``./dev scale``); as before
    afterwards. For a module fixture of a serial module."""
    stack = stack_env()
    assert stack is not None, "the test stack is not running"
    before = stack_replicas(stack)
    if before != replicas:
        dev("scale", str(replicas), timeout=900)
    try:
        yield stack
    finally:
        if before != replicas:
            dev("scale", str(before), timeout=600)


def service_headers(env: dict[str, str] | None = None) -> dict[str, str]:
    """The service credential header that internal routes require (issue 10, item 4)."""
    from ail_shared.auth import SERVICE_CREDENTIAL_HEADER

    env = env if env is not None else (stack_env() or {})
    return {SERVICE_CREDENTIAL_HEADER: env.get("AIL_INTERNAL_TOKEN", "")}


def api_client(entry_url: str, api_key: str, enterprise: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key}"}
    if enterprise:
        headers["X-Enterprise-Code"] = enterprise
    return httpx.AsyncClient(base_url=entry_url, headers=headers, timeout=30.0)


# ---------------------------------------------------------------- rendered documents


def artifacts() -> Path:
    """The profile's folder of test artifacts (rendered pages to look at; never committed)."""
    folder = REPO / ".devstack" / os.environ.get("AIL_PROFILE", "test") / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def pdftotext_layout(content: bytes) -> str:
    assert shutil.which("pdftotext"), "install poppler-utils (./dev install)"
    cp = subprocess.run(["pdftotext", "-layout", "-", "-"], input=content, capture_output=True, check=True)
    return cp.stdout.decode()


def page_one_png(content: bytes, name: str) -> Path:
    """Page 1 as PNG (pdftoppm, poppler-utils), kept under the profile's artifacts."""
    assert shutil.which("pdftoppm"), "install poppler-utils (./dev install)"
    folder = artifacts()
    pdf = folder / f"{name}.pdf"
    pdf.write_bytes(content)
    subprocess.run(
        ["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(folder / name)],
        check=True,
    )
    return folder / f"{name}.png"
