"""Issue 4's benchmark, two sets of figures, each measured in one run:

1. Signatures per second through the signer service against raw python-pkcs11 signing with the
   same e-key:

   * raw: this process opens the demo e-key (SoftHSM2) with python-pkcs11 and signs N canonical
     application snapshots: SHA-256, then CKM_ECDSA, nothing else; then the same plus the
     verification that the service must make of every signature (the ceiling of any signer
     that verifies, on one token session: python-pkcs11 initialises the module without locking,
     so one process may sign on one thread only);
   * service: N SignatureRequested events produced to Kafka for the running stack's signer
     host, timed from the first send until the N-th answer (ApplicationSigned) has been read
     back from Kafka (consumer, signing, outbox, relay included). Measured twice: with the
     stack's other services paused (SIGSTOP, resumed at the end), as on an e-key host in
     production where the signer runs alone, and with the whole stack running, where the
     application, submission and status services read every answer on the same cores.

2. End-to-end submissions per second from HTTP to ``pending_first_review``, with p50 and p99
   latency (``submission_bench.py``, single and batch submit).

Run against a running stack: ``.venv/bin/python benchmarks/signer_bench.py [-n 5000]``
(the environment of ``.devstack/$AIL_PROFILE/env``, default profile ``dev``, else ``test``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import signal
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks import submission_bench  # noqa: E402
from benchmarks._stack import stack_env  # noqa: E402  (the one env-file reader)

# The stack's processes that are not on the signer's path (Kafka and PostgreSQL are).
OTHERS = (
    "application",
    "submission",
    "status",
    "customs",
    "stats",
    "sandbox-mofcom",
    "sandbox-customs",
    "nginx",
)


def _processes() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far, user + system)."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            stats[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / tick)
    return stats


def _tree(root: int, stats: dict[int, tuple[int, float]]) -> set[int]:
    wanted = {root}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in wanted and pid not in wanted:
                wanted.add(pid)
                changed = True
    return wanted & set(stats)


def _tree_cpu(root: int) -> float:
    """CPU seconds (user + system) used so far by ``root`` and its descendants."""
    stats = _processes()
    return sum(stats[pid][1] for pid in _tree(root, stats))


@contextlib.contextmanager
def others_paused(env: dict[str, str]) -> Iterator[list[str]]:
    """SIGSTOP the stack's services that are not on the signer's path (and their children) for
    the duration; SIGCONT them on the way out, also on Ctrl-C or SIGTERM."""
    run = Path(env.get("AIL_DEVSTACK_DIR", "")) / "run"
    stats = _processes()
    paused: list[int] = []
    names: list[str] = []
    for name in OTHERS:
        try:
            root = int((run / f"{name}.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        pids = _tree(root, stats)
        if pids:
            names.append(name)
            paused += sorted(pids)

    def resume(*_: object) -> None:
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)

    previous = signal.signal(signal.SIGTERM, lambda *a: (resume(), sys.exit(143)))
    try:
        for pid in paused:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        yield names
    finally:
        resume()
        signal.signal(signal.SIGTERM, previous)


def stack_processes(env: dict[str, str]) -> dict[str, int]:
    """pids of the stack's signer, Kafka broker and PostgreSQL server (for CPU accounting)."""
    state = Path(env.get("AIL_DEVSTACK_DIR", ""))
    found: dict[str, int] = {}
    for name, path in (
        ("signer", state / "run" / "signer.pid"),
        ("kafka", state / "run" / "kafka.pid"),
        ("postgres", state / "pg" / "postmaster.pid"),
    ):
        try:
            found[name] = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return found


def snapshot(i: int, enterprise: str = "1100776367555") -> dict[str, object]:
    """About 1.5 KB of canonical JSON, the size of a small application."""
    return {
        "application_id": f"bench-{i}",
        "enterprise_code": enterprise,
        "enterprise_name": "北京示例进出口有限公司",
        "commodity_code": "0201100010",
        "commodity_name": "整头及半头鲜或冷牛肉",
        "trade_mode": "一般贸易",
        "trade_country": "澳大利亚",
        "goods": [
            {"line_no": n, "quantity": f"{100 + n}.5", "unit": "千克", "unit_price_usd": 4.25, "spec": "冷藏"}
            for n in range(1, 9)
        ],
        "contract_no": f"CN-2026-{i:06d}",
        "total_value_usd": 5102.13,
    }


def raw_signing(env: dict[str, str], label: str, payloads: list[bytes]) -> tuple[float, float, float]:
    """(signatures/s raw, signatures/s raw + software verification, CPU seconds per raw
    signature) with the token's key."""
    os.environ["SOFTHSM2_CONF"] = env["SOFTHSM2_CONF"]
    import pkcs11
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    from pkcs11 import Attribute, Mechanism, ObjectClass

    lib = pkcs11.lib(env["AIL_PKCS11_MODULE"])
    token = lib.get_token(token_label=label)
    with token.open(user_pin=env["AIL_SIGNER_PIN"]) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=b"\x01")
        cert = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE, Attribute.ID: b"\x01"}))
        public = x509.load_der_x509_certificate(bytes(cert[Attribute.VALUE])).public_key()
        started, cpu_started = time.perf_counter(), time.process_time()
        for data in payloads:
            key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
        raw = len(payloads) / (time.perf_counter() - started)
        raw_cpu = (time.process_time() - cpu_started) / len(payloads)
        started = time.perf_counter()
        for data in payloads:
            sig = key.sign(hashlib.sha256(data).digest(), mechanism=Mechanism.ECDSA)
            der = encode_dss_signature(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
            public.verify(der, data, ec.ECDSA(hashes.SHA256()))
        verified = len(payloads) / (time.perf_counter() - started)
    return raw, verified, raw_cpu


async def service_signing(
    env: dict[str, str],
    serial: str,
    host: str,
    payloads: list[bytes],
    timeout: float,
    enterprise: str = "1100776367555",
) -> float:
    from ail_shared import topics
    from ail_shared.events import SignatureRequested, envelope_for
    from ail_shared.kafka import make_producer

    bootstrap = env["AIL_KAFKA_BOOTSTRAP"]
    messages = []
    ours: set[bytes] = set()
    for data in payloads:
        # Real UUIDs: the submission service reads every answer and looks its submission up (a
        # UUID of no submission is a late answer, ignored; anything else would be dead-lettered).
        app_id = str(uuid.uuid4())
        ours.add(app_id.encode())
        event = SignatureRequested(
            application_id=app_id,
            submission_id=str(uuid.uuid4()),
            enterprise_code=enterprise,
            ekey_serial=serial,
            canonical_payload=base64.b64encode(data).decode(),
            signer_host=host,
        )
        messages.append(envelope_for(event, aggregate_id=app_id, tenant=enterprise).to_bytes())
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - partitions before assign
        parts = consumer.partitions_for_topic(topics.SIGNER)
        if not parts:
            raise SystemExit(f"topic {topics.SIGNER} not found")
        tps = [TopicPartition(topics.SIGNER, p) for p in sorted(parts)]
        consumer.assign(tps)
        for tp, end in (await consumer.end_offsets(tps)).items():
            consumer.seek(tp, end)
        signed = failed = 0

        async def produce() -> None:
            for value in messages:
                await producer.send(topics.SIGNER_REQUESTS, value=value, key=serial.encode())
            await producer.flush()

        started = time.perf_counter()
        sending = asyncio.create_task(produce())
        deadline = started + timeout
        while signed + failed < len(messages):
            if time.perf_counter() > deadline:
                raise SystemExit(f"timed out: {signed + failed} of {len(messages)} answers after {timeout}s")
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for recs in batch.values():
                for r in recs:
                    if r.key in ours:
                        if b'"ApplicationSigned"' in r.value:
                            signed += 1
                        else:
                            failed += 1
        elapsed = time.perf_counter() - started
        await sending
        if failed:
            raise SystemExit(f"{failed} requests failed; see ./dev logs signer")
        return len(messages) / elapsed
    finally:
        await producer.stop()
        await consumer.stop()


async def consumers_lag(bootstrap: str, topic: str) -> dict[str, int]:
    """group -> records of ``topic`` not yet committed by that group (groups that read it), to
    within one record per partition."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        lag: dict[str, int] = {}
        ends: dict[TopicPartition, int] = {}
        for group, *_ in await admin.list_consumer_groups():
            offsets = await admin.list_consumer_group_offsets(group)
            mine = {tp: om.offset for tp, om in offsets.items() if tp.topic == topic}
            if not mine:
                continue
            missing = [tp for tp in mine if tp not in ends]
            if missing:
                ends.update(await consumer.end_offsets(missing))
            # Less one per partition: a transaction's commit marker takes an offset that no
            # consumer commits past (ail.signer is written by the transactional relay).
            lag[group] = sum(max(0, ends[tp] - off - 1) for tp, off in mine.items())
        return lag
    finally:
        await consumer.stop()
        await admin.close()


def wait_until_quiet(env: dict[str, str], topic: str, timeout: float = 600.0) -> None:
    """Wait until every consumer group of ``topic`` has caught up (a previous run's answers are
    read by the application, submission and status services too), so that their catching up
    does not run on the cores being measured."""
    deadline = time.monotonic() + timeout
    while True:
        lag = asyncio.run(consumers_lag(env["AIL_KAFKA_BOOTSTRAP"], topic))
        behind = {g: n for g, n in lag.items() if n}
        if not behind:
            return
        if time.monotonic() > deadline:
            sys.exit(f"consumers of {topic} still behind after {timeout:.0f}s: {behind}; see ./dev status")
        print(f"  waiting for consumers of {topic} to catch up: {behind}", flush=True)
        time.sleep(5)


def measure_service(
    env: dict[str, str],
    serial: str,
    host: str,
    payloads: list[bytes],
    timeout: float,
    idle_s: float = 3.0,
    enterprise: str = "1100776367555",
) -> tuple[float, dict[str, float]]:
    """(signatures/s through the service, CPU microseconds per signature by process)."""
    procs = stack_processes(env)
    # What the stack burns while idle (consumers polling, heartbeats), subtracted below.
    idle_before, idle_started = {name: _tree_cpu(pid) for name, pid in procs.items()}, time.monotonic()
    time.sleep(idle_s)
    idle_secs = time.monotonic() - idle_started
    idle_rate = {name: (_tree_cpu(pid) - idle_before[name]) / idle_secs for name, pid in procs.items()}
    cpu_before = {name: _tree_cpu(pid) for name, pid in procs.items()}
    own_before, started = time.process_time(), time.monotonic()
    rate = asyncio.run(service_signing(env, serial, host, payloads, timeout, enterprise))
    elapsed = time.monotonic() - started
    n = len(payloads)
    cpu = {
        name: (_tree_cpu(pid) - cpu_before[name] - idle_rate[name] * elapsed) / n * 1e6
        for name, pid in procs.items()
    }
    cpu["benchmark client"] = (time.process_time() - own_before) / n * 1e6
    return rate, cpu


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=5000, help="signatures per measurement (default 5000)")
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds allowed for each service run")
    parser.add_argument(
        "--e2e-n", type=int, default=300, help="applications per end-to-end mode (default 300)"
    )
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP requests in flight (end-to-end)")
    parser.add_argument("--signatures-only", action="store_true", help="skip the end-to-end figures")
    args = parser.parse_args()
    env = stack_env()
    signatures(env, n=args.n, timeout=args.timeout)
    if not args.signatures_only:
        from ail_shared import topics

        print()
        wait_until_quiet(env, topics.SIGNER)
        print("2. ", end="")
        asyncio.run(submission_bench.run(n=args.e2e_n, concurrency=args.concurrency))


def signatures(
    env: dict[str, str],
    *,
    n: int,
    timeout: float,
    alone: bool = True,
    idle_s: float = 3.0,
    ekey: tuple[str, str, str] | None = None,
) -> dict[str, float]:
    """Part 1; prints it and returns signatures/s: raw, ceiling (raw + verification), alone
    (signer alone, the stack's others paused; only when ``alone``: pausing stops the stack for
    everyone else) and shared (whole stack running), and cpu_us (per signature, signer alone).

    ``ekey``: (token label, serial, enterprise code) of the e-key to sign with (``run_all
    --quick``: its own tenant's, so that the answers name no demo enterprise), else the demo
    enterprise 1100776367555's."""
    sys.path.insert(0, str(REPO / "shared"))
    from ail_shared import topics
    from ail_shared.canonical import canonical_json

    keys_request = urllib.request.Request(
        f"{env['AIL_SIGNER_URL']}/api/v1/signer/keys",
        headers={"X-AIL-Service-Token": env.get("AIL_INTERNAL_TOKEN", "")},
    )
    with urllib.request.urlopen(keys_request, timeout=10) as resp:
        held = json.load(resp)
    label, serial, enterprise = ekey or (
        env["AIL_DEMO_EKEY_LABELS"].split(",")[0],
        env["AIL_DEMO_EKEY_SERIALS"].split(",")[0],
        "1100776367555",
    )
    if serial not in {k["serial"] for k in held["keys"]}:
        sys.exit(f"the signer at {env['AIL_SIGNER_URL']} does not hold {label} ({serial})")
    payloads = [canonical_json(snapshot(i, enterprise)) for i in range(n)]
    print(
        f"1. signatures: e-key {label} (serial {serial}), ECDSA P-256, {n} signatures each,"
        f" payload {len(payloads[0])} B ({os.cpu_count()} cores)",
        flush=True,
    )
    out: dict[str, float] = {}
    if alone:
        wait_until_quiet(env, topics.SIGNER)
        with others_paused(env) as paused:
            raw, raw_verified, raw_cpu = raw_signing(env, label, payloads)
            out["alone"], cpu = measure_service(
                env, serial, held["host_id"], payloads, timeout, enterprise=enterprise
            )
        wait_until_quiet(env, topics.SIGNER)
    else:
        raw, raw_verified, raw_cpu = raw_signing(env, label, payloads)
        paused, cpu = [], {}
    shared, _ = measure_service(env, serial, held["host_id"], payloads, timeout, idle_s, enterprise)
    out |= {"raw": raw, "ceiling": raw_verified, "shared": shared, "raw_cpu_us": raw_cpu * 1e6}
    ceiling = raw_verified / raw
    print(f"raw python-pkcs11 (SHA-256 + CKM_ECDSA)             {raw:9.0f} signatures/s")
    print(
        f"raw + the verification every signature gets         {raw_verified:9.0f} signatures/s"
        f" = {ceiling:4.0%} of raw: the ceiling of a signer that verifies, one token session"
    )
    if alone:
        print(
            f"signer service alone, Kafka in -> Kafka out         {out['alone']:9.0f} signatures/s"
            f" = {out['alone'] / raw:4.0%} of raw, {out['alone'] / raw_verified:4.0%} of the ceiling"
        )
        print(f"  (paused meanwhile: {', '.join(paused) or 'nothing found to pause'})")
    print(
        f"signer service, whole stack running on these cores  {shared:9.0f} signatures/s"
        f" = {shared / raw:4.0%} of raw, {shared / raw_verified:4.0%} of the ceiling"
    )
    if alone:
        verdict = "met" if out["alone"] >= 0.5 * raw else "NOT met"
        why = (
            f"; unreachable here, since verifying alone caps any signer at {ceiling:.0%} of raw"
            if ceiling < 0.5 and verdict != "met"
            else ""
        )
        print(f"goal: service at least 50% of raw: {verdict}{why}")
    print(f"raw: CPU per signature                              {raw_cpu * 1e6:9.0f} us")
    if cpu:
        print("CPU per signature, signer alone (user + system, all threads, idle use subtracted):")
        for name, us in cpu.items():
            print(f"  {name:49s} {us:9.0f} us")
        print(
            f"  {'total':49s} {sum(cpu.values()):9.0f} us = {sum(cpu.values()) / (raw_cpu * 1e6):.1f} x raw"
            f"  (load average {os.getloadavg()[0]:.1f})",
            flush=True,
        )
        out["cpu_us"] = sum(cpu.values())
    return out


if __name__ == "__main__":
    main()
