"""Helpers of the signer tests: build and send signature requests, watch the answer and heartbeat
topics from "now", make SoftHSM2 tokens in a test-owned directory, run a signer host process on
them, and check signatures with openssl against certificates read by OpenSC's pkcs11-tool."""

from __future__ import annotations

import asyncio
import base64
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from ail_shared import topics
from ail_shared.canonical import canonical_json
from ail_shared.events import Envelope, SignatureRequested, decode_envelope, envelope_for
from ail_shared.kafka import make_producer
from tests.support import REPO, require_serial, service_headers

USER_PIN = "123456"
SO_PIN = "12345678"


def snapshot(application_id: str, **extra: Any) -> dict[str, Any]:
    """An application snapshot as the submission service would canonicalise it."""
    return {
        "application_id": application_id,
        "enterprise_name": "北京示例进出口有限公司",
        "commodity_code": "0201100010",
        "goods": [{"line_no": 1, "quantity": "1200.5", "unit": "千克", "unit_price_usd": 4.25}],
        "total_value_usd": 5102.13,
        **extra,
    }


def request(
    serial: str,
    *,
    host: str,
    payload: bytes | None = None,
    application_id: str | None = None,
    enterprise: str = "1100776367555",
) -> Envelope:
    app_id = application_id or f"app-{uuid.uuid4().hex[:12]}"
    data = payload if payload is not None else canonical_json(snapshot(app_id))
    event = SignatureRequested(
        application_id=app_id,
        submission_id=f"sub-{uuid.uuid4().hex[:12]}",
        enterprise_code=enterprise,
        ekey_serial=serial,
        canonical_payload=base64.b64encode(data).decode(),
        signer_host=host,
    )
    return envelope_for(event, aggregate_id=app_id, tenant=enterprise)


async def send_requests(bootstrap: str, envelopes: list[Envelope]) -> None:
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        for env in envelopes:
            serial = env.payload["ekey_serial"]
            await producer.send(topics.SIGNER_REQUESTS, value=env.to_bytes(), key=serial.encode())
        await producer.flush()
    finally:
        await producer.stop()


class TopicWatch:
    """Reads a topic from the end offsets it had when started (so old records are skipped)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.records: list[Envelope] = []
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> TopicWatch:
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        await self._consumer.start()
        parts = self._consumer.partitions_for_topic(self.topic)
        if not parts:
            await self._consumer._client.force_metadata_update()  # noqa: SLF001
            parts = self._consumer.partitions_for_topic(self.topic)
        assert parts, f"topic {self.topic} does not exist"
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        self._consumer.assign(tps)
        for tp, end in (await self._consumer.end_offsets(tps)).items():
            self._consumer.seek(tp, end)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._consumer is not None
        await self._consumer.stop()

    async def poll(self) -> None:
        assert self._consumer is not None
        batch = await self._consumer.getmany(timeout_ms=200)
        for recs in batch.values():
            self.records.extend(decode_envelope(r.value) for r in recs)

    async def wait_for(self, predicate: Any, *, timeout: float = 30.0, what: str = "a record") -> Envelope:
        deadline = time.monotonic() + timeout
        while True:
            for env in self.records:
                if predicate(env):
                    return env
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what} on {self.topic}")
            await self.poll()

    def answers_for(self, application_id: str) -> list[Envelope]:
        return [e for e in self.records if e.aggregate_id == application_id]

    async def answer(self, application_id: str, *, timeout: float = 30.0) -> Envelope:
        return await self.wait_for(
            lambda e: e.aggregate_id == application_id,
            timeout=timeout,
            what=f"the answer for {application_id}",
        )


# ---------------------------------------------------------------------- tokens and openssl


def softhsm_module() -> str:
    return os.environ.get("AIL_PKCS11_MODULE") or "/usr/lib/softhsm/libsofthsm2.so"


def read_certificate_pem(conf: str, label: str, workdir: Path) -> str:
    """The token's certificate (id 01) as read by OpenSC's pkcs11-tool, converted by openssl."""
    der = workdir / f"{label}.cert.der"
    subprocess.run(
        ["pkcs11-tool", "--module", softhsm_module(), "--token-label", label, "--read-object",
         "--type", "cert", "--id", "01", "--output-file", str(der)],
        env={**os.environ, "SOFTHSM2_CONF": conf}, check=True, capture_output=True,
    )  # fmt: skip
    out = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-in", str(der), "-outform", "PEM"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return out.stdout


def openssl_verifies(cert_pem: str, data: bytes, signature: bytes, workdir: Path) -> bool:
    """``openssl dgst -sha256 -verify`` with the certificate's public key; True on Verified OK."""
    tag = uuid.uuid4().hex[:8]
    cert, pub = workdir / f"{tag}.cert.pem", workdir / f"{tag}.pub.pem"
    payload, sig = workdir / f"{tag}.payload", workdir / f"{tag}.sig"
    cert.write_text(cert_pem)
    payload.write_bytes(data)
    sig.write_bytes(signature)
    subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-pubkey", "-noout", "-out", str(pub)],
        check=True, capture_output=True,
    )  # fmt: skip
    res = subprocess.run(
        ["openssl", "dgst", "-sha256", "-verify", str(pub), "-signature", str(sig), str(payload)],
        capture_output=True, text=True,
    )  # fmt: skip
    if res.returncode == 0:
        assert "Verified OK" in res.stdout
        return True
    assert "Verification failure" in res.stdout + res.stderr, res.stdout + res.stderr
    return False


class SoftHsm:
    """A SoftHSM2 token directory of the test's own (the stack's tokens are never touched)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.tokendir = root / "tokens"
        self.away = root / "removed"
        self.tokendir.mkdir(parents=True)
        self.away.mkdir()
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(
            f"directories.tokendir = {self.tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
        )

    def _run(self, *cmd: str) -> str:
        env = {**os.environ, "SOFTHSM2_CONF": str(self.conf)}
        return subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout

    def make_token(
        self, label: str, *, key: str = "ec", pin: str = USER_PIN, foreign_certificate: bool = False
    ) -> str:
        """A token with a key pair and a self-signed certificate (id 01); returns its serial.
        With ``foreign_certificate`` the certificate is of another key pair (a token whose
        signatures cannot verify against its own certificate)."""
        self._run(
            "softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", pin
        )
        work = self.root / f".{label}"
        work.mkdir()
        newkey = (
            ["-newkey", "rsa:2048"]
            if key == "rsa"
            else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        )
        self._run(
            "openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(work / "key.pem"),
            "-out", str(work / "cert.pem"), "-days", "30", "-subj", f"/CN={label}/O=test", "-sha256",
        )  # fmt: skip
        if foreign_certificate:
            self._run(
                "openssl", "req", "-x509", *newkey, "-nodes", "-keyout", str(work / "other.pem"),
                "-out", str(work / "cert.pem"), "-days", "30", "-subj", f"/CN={label}/O=test", "-sha256",
            )  # fmt: skip
        self._run("openssl", "pkcs8", "-topk8", "-nocrypt", "-in", str(work / "key.pem"), "-outform", "DER",
                  "-out", str(work / "key.der"))  # fmt: skip
        self._run("openssl", "pkey", "-in", str(work / "key.pem"), "-pubout", "-outform", "DER",
                  "-out", str(work / "pub.der"))  # fmt: skip
        self._run(
            "openssl",
            "x509",
            "-in",
            str(work / "cert.pem"),
            "-outform",
            "DER",
            "-out",
            str(work / "cert.der"),
        )
        for kind, name in (("privkey", "key.der"), ("pubkey", "pub.der"), ("cert", "cert.der")):
            self._run("pkcs11-tool", "--module", softhsm_module(), "--token-label", label, "--login",
                      "--pin", pin, "--write-object", str(work / name), "--type", kind, "--id", "01",
                      "--label", label)  # fmt: skip
        shutil.rmtree(work)
        return self.serial_of(label)

    def serial_of(self, label: str) -> str:
        serial = ""
        for line in self._run("softhsm2-util", "--show-slots").splitlines():
            line = line.strip()
            if line.startswith("Serial number:"):
                serial = line.split(":", 1)[1].strip()
            elif line.startswith("Label:") and line.split(":", 1)[1].strip() == label:
                return serial
        raise AssertionError(f"token {label} not found")

    def _dir_of(self, serial: str, where: Path) -> Path:
        # SoftHSM2 names a token's directory after a UUID whose last 16 hex digits are the serial.
        found = [p for p in where.iterdir() if p.name.replace("-", "").endswith(serial)]
        assert len(found) == 1, f"token directory of {serial} not found in {where}"
        return found[0]

    def remove(self, serial: str) -> None:
        """Pull the token out: its directory leaves the token directory."""
        d = self._dir_of(serial, self.tokendir)
        d.rename(self.away / d.name)

    def insert(self, serial: str) -> None:
        d = self._dir_of(serial, self.away)
        d.rename(self.tokendir / d.name)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class SignerProcess:
    """``python -m ail_signer`` on a test-owned SoftHSM2 directory, with a host id of its own."""

    def __init__(self, stack: dict[str, str], hsm: SoftHsm, host_id: str, log_path: Path) -> None:
        self.host_id = host_id
        self.port = free_port()
        self.stack, self.hsm, self.log_path = stack, hsm, log_path
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            **stack,
            "SOFTHSM2_CONF": str(hsm.conf),
            "AIL_SIGNER_HOST_ID": host_id,
            "AIL_HTTP_PORT": str(self.port),
            "AIL_SERVICE_NAME": "signer",
            "AIL_SIGNER_HEARTBEAT_SECONDS": "1",
            "AIL_SIGNER_RESCAN_SECONDS": "0.5",
        }
        self.env = env
        self.log = log_path.open("ab")
        self.proc = self._spawn()

    def _spawn(self) -> subprocess.Popen[bytes]:
        require_serial(f"a second signer host ({self.host_id})")
        return subprocess.Popen(
            [sys.executable, "-m", "ail_signer"],
            env=self.env,
            cwd=REPO,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def restart(self) -> None:
        """Start the same host again (same host id, so the same consumer group)."""
        assert self.proc.poll() is not None, "still running"
        self.proc = self._spawn()

    async def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                assert self.proc.poll() is None, f"signer exited with {self.proc.returncode}"
                try:
                    r = await client.get(f"{self.url}/healthz")
                    if r.status_code == 200 and all(c["ready"] for c in r.json()["consumers"].values()):
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"signer {self.host_id} not healthy after {timeout}s")

    async def keys(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=5.0) as client:
            r = await client.get(f"{self.url}/api/v1/signer/keys", headers=service_headers())
            r.raise_for_status()
            data: dict[str, Any] = r.json()
            return data

    def kill(self) -> None:
        """SIGKILL: no shutdown hook runs, whatever was in flight is lost with the process."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is not None:
            self.log.close()
            return
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
