"""The pipelined request consumer with the real handlers on fakes (token, unit of work): chunks,
counts, dead letters, and a failing write failing the whole batch (so that offsets are not
committed)."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest

from ail_shared.events import SignatureRequested, envelope_for
from ail_signer.entrypoints import consumers as consumer_module
from ail_signer.entrypoints.consumers import SignatureRequestConsumer
from tests.unit.signer.fakes import FakeTokens, FakeUnitOfWork, host, key


@dataclass
class Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any = ()


def consumer_with(uow: FakeUnitOfWork) -> SignatureRequestConsumer:
    return SignatureRequestConsumer(
        host=host(FakeTokens(key("k")), keys=[key("k")]),
        uow=lambda _source: uow,  # type: ignore[arg-type,return-value]
        pool=None,
        schema="signer",
        bootstrap="unused:9092",
    )


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


async def test_a_poll_batch_flows_in_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "CHUNK", 4)
    uow = FakeUnitOfWork()
    records = [record(i, host="host-a" if i % 3 else "host-b") for i in range(10)]
    records.insert(5, Rec("ail.signer.requests", 0, 99, b"k", b"not json"))
    outcome = await consumer_with(uow)._pipeline(records, {"SignatureRequested"})
    # the malformed record never reaches the handlers; one write per chunk (4, 3 + 1 malformed,
    # 3 records), each with its host-a requests
    assert uow.answers.claims == [2, 2, 2]
    assert outcome.applied == 6 and outcome.ignored == 4
    assert len(uow.store.events("ail.signer")) == 6
    assert [dl.record.offset for dl in outcome.dead_letters] == [99]
    assert outcome.commits == {("ail.signer.requests", 0): 10}  # last record's offset + 1


async def test_a_failed_write_fails_the_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "CHUNK", 2)
    uow = FakeUnitOfWork()
    uow.answers.fail_claims = [None, ConnectionError("database went away")]  # the second chunk's write
    with pytest.raises(ConnectionError):
        await consumer_with(uow)._pipeline([record(i) for i in range(8)], {"SignatureRequested"})


async def test_other_hosts_requests_for_keys_not_held_are_skipped_undecoded() -> None:
    uow = FakeUnitOfWork()
    other = record(1, host="host-b")
    other.key = b"someone-elses-key"
    mine_by_host = record(2)
    mine_by_host.key = b"someone-elses-key"
    outcome = await consumer_with(uow)._pipeline(
        [other, mine_by_host, record(3, host="host-b")], {"SignatureRequested"}
    )
    # host-a named in the value, or key "k" held: two decoded, one of them host-b's
    assert outcome.ignored == 2 and outcome.applied == 1
    assert outcome.commits == {("ail.signer.requests", 0): 4}
