"""The pipelined request consumer with a fake signing service: chunks, counts, dead letters,
and a failing write failing the whole batch (so that offsets are not committed)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from ail_shared.events import SignatureRequested, envelope_for
from ail_signer.entrypoints import consumer as consumer_module
from ail_signer.entrypoints.consumer import SignatureRequestConsumer
from ail_signer.service_layer.signing import BatchResult, Stage


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = ()


class FakeService:
    host_id = "host-a"

    def held_serials(self) -> set[str]:
        return {"k"}

    def __init__(self, fail_on_complete: int | None = None) -> None:
        self.prepared: list[int] = []
        self.completed = 0
        self.fail_on_complete = fail_on_complete

    async def prepare(self, pool: Any, *, consumer: str, requests: list[Any]) -> Stage:
        self.prepared.append(len(requests))
        stage = Stage(requests=requests)
        stage.result = BatchResult(ignored=sum(1 for _, ev in requests if ev.signer_host != self.host_id))
        return stage

    async def complete(self, pool: Any, *, consumer: str, stage: Stage) -> BatchResult:
        self.completed += 1
        if self.fail_on_complete == self.completed:
            raise ConnectionError("database went away")
        mine = sum(1 for _, ev in stage.requests if ev.signer_host == self.host_id)
        return BatchResult(applied=mine, ignored=stage.result.ignored)


def record(offset: int, host: str = "host-a") -> Rec:
    ev = SignatureRequested(
        application_id=f"app-{offset}",
        submission_id="s",
        enterprise_code="1100776367555",
        ekey_serial="k",
        canonical_payload=base64.b64encode(b"{}").decode(),
        signer_host=host,
    )
    env = envelope_for(ev, aggregate_id=f"app-{offset}", tenant="1100776367555")
    return Rec("ail.signer.requests", 0, offset, b"k", env.to_bytes())


def make(service: FakeService) -> SignatureRequestConsumer:
    return SignatureRequestConsumer(service=service, pool=None, schema="signer", bootstrap="unused:9092")  # type: ignore[arg-type]


async def test_a_poll_batch_flows_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "CHUNK", 4)
    service = FakeService()
    records = [record(i, host="host-a" if i % 3 else "host-b") for i in range(10)]
    records.insert(5, Rec("ail.signer.requests", 0, 99, b"k", b"not json"))
    outcome = await make(service)._pipeline(records, {"SignatureRequested"})
    assert service.prepared == [4, 3, 3]  # the malformed record never reaches the service
    assert outcome.applied == 6 and outcome.ignored == 4
    assert [dl.record.offset for dl in outcome.dead_letters] == [99]
    assert outcome.commits == {("ail.signer.requests", 0): 10}  # last record's offset + 1


async def test_a_failed_write_fails_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "CHUNK", 2)
    service = FakeService(fail_on_complete=2)
    with pytest.raises(ConnectionError):
        await make(service)._pipeline([record(i) for i in range(8)], {"SignatureRequested"})


async def test_other_hosts_requests_for_keys_not_held_are_skipped_undecoded() -> None:
    service = FakeService()
    other = record(1, host="host-b")
    other.key = b"someone-elses-key"
    mine_by_host = record(2)
    mine_by_host.key = b"someone-elses-key"
    outcome = await make(service)._pipeline(
        [other, mine_by_host, record(3, host="host-b")], {"SignatureRequested"}
    )
    assert service.prepared == [2]  # host-a named in the value, or key "k" held
    assert outcome.ignored == 2 and outcome.applied == 1
    assert outcome.commits == {("ail.signer.requests", 0): 4}
