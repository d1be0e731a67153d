"""The pure part of the consumer loop, with fake records and a fake apply function."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from ail_shared.consumer import PermanentError, process_batch
from ail_shared.events import Envelope, Event, SubmissionAccepted, envelope_for, utcnow


@dataclass
class Rec:
    value: bytes | None
    offset: int
    topic: str = "t"
    partition: int = 0
    key: bytes | None = b"k"
    headers: Any = ()


def _good(app: str = "a") -> bytes:
    return envelope_for(
        SubmissionAccepted(application_id=app, submission_id="s", form_no="f", applied_at=utcnow()),
        aggregate_id=app,
        tenant="t",
    ).to_bytes()


async def test_bad_messages_go_to_dead_letters_and_offsets_advance_past_them() -> None:
    seen: list[str] = []

    async def apply(env: Envelope, event: Event, rec: Any) -> str:
        seen.append(env.aggregate_id)
        return "applied"

    future = json.loads(_good("f"))
    future["schema_version"] = "5.1"
    records = [
        Rec(b"garbage", 10),
        Rec(_good("a"), 11),
        Rec(json.dumps(future).encode(), 12),
        Rec(_good("b"), 13),
    ]
    out = await process_batch(records, apply, {"SubmissionAccepted"})
    assert seen == ["a", "b"]
    assert out.applied == 2
    assert [d.record.offset for d in out.dead_letters] == [10, 12]
    assert out.dead_letters[0].reason.startswith("undecodable_event")
    assert out.dead_letters[1].reason.startswith("unsupported_schema_version")
    assert out.commits == {("t", 0): 14}


async def test_unhandled_types_are_ignored_not_dead_lettered() -> None:
    async def apply(env: Envelope, event: Event, rec: Any) -> str:
        raise AssertionError("must not be called")

    out = await process_batch([Rec(_good(), 3)], apply, {"SomethingElse"})
    assert out.ignored == 1 and not out.dead_letters and out.commits == {("t", 0): 4}


async def test_permanent_handler_error_is_dead_lettered_transient_propagates() -> None:
    async def refuse(env: Envelope, event: Event, rec: Any) -> str:
        raise PermanentError("license unknown")

    out = await process_batch([Rec(_good(), 0)], refuse, {"SubmissionAccepted"})
    assert out.dead_letters[0].reason == "handler_refused: license unknown"

    async def flaky(env: Envelope, event: Event, rec: Any) -> str:
        raise ConnectionError("database went away")

    with pytest.raises(ConnectionError):
        await process_batch([Rec(_good(), 0)], flaky, {"SubmissionAccepted"})


async def test_duplicates_are_counted() -> None:
    async def dup(env: Envelope, event: Event, rec: Any) -> str:
        return "duplicate"

    out = await process_batch([Rec(_good(), 0), Rec(_good(), 1)], dup, {"SubmissionAccepted"})
    assert out.duplicates == 2 and out.applied == 0


async def test_apply_all_gets_every_good_event_in_one_call_and_errors_propagate() -> None:
    calls: list[list[str]] = []

    async def apply_one(env: Envelope, event: Event, rec: Any) -> str:
        raise AssertionError("the batch path must not apply one by one")

    async def apply_all(items: list[Any]) -> list[str]:
        calls.append([env.aggregate_id for env, _, _ in items])
        return ["applied", "duplicate"]

    records = [Rec(_good("a"), 0), Rec(b"junk", 1), Rec(_good("b"), 2)]
    out = await process_batch(records, apply_one, {"SubmissionAccepted"}, apply_all)
    assert calls == [["a", "b"]]
    assert (out.applied, out.duplicates, len(out.dead_letters)) == (1, 1, 1)
    assert out.commits == {("t", 0): 3}

    async def failing(items: list[Any]) -> list[str]:
        raise PermanentError("one of them is bad")

    with pytest.raises(PermanentError):
        await process_batch(records, apply_one, {"SubmissionAccepted"}, failing)


def test_outages_are_transient_bad_data_is_not() -> None:
    import asyncpg

    from ail_shared.consumer import is_transient

    assert is_transient(ConnectionResetError())
    assert is_transient(TimeoutError())
    assert is_transient(asyncpg.DeadlockDetectedError("deadlock"))
    assert not is_transient(ValueError("badly formed hexadecimal UUID string"))
    assert not is_transient(KeyError("form_no"))
    assert not is_transient(asyncpg.UniqueViolationError("duplicate key"))


async def test_bound_handlers_are_keyed_by_type_and_get_a_unit_of_work_on_the_consumers_connection() -> None:
    from ail_shared.consumer import bind_handlers, handled_names
    from ail_shared.events import SubmissionRejected

    seen: list[tuple[object, object, object]] = []

    class FakeUoW:
        def __init__(self, conn: object) -> None:
            self.conn = conn

    async def on_accepted(uow: FakeUoW, event: SubmissionAccepted, env: Envelope) -> None:
        seen.append((uow.conn, event.form_no, env.event_id))

    async def on_rejected(uow: FakeUoW, event: SubmissionRejected, env: Envelope) -> None:
        raise AssertionError("called with the wrong event type")

    bound = bind_handlers({SubmissionAccepted: on_accepted, SubmissionRejected: on_rejected}, FakeUoW)
    assert handled_names(bound) == {"SubmissionAccepted", "SubmissionRejected"}
    event = SubmissionAccepted(application_id="a1", submission_id="s1", form_no="F1", applied_at=utcnow())
    env = envelope_for(event, aggregate_id="a1", tenant="t")
    conn = object()
    await bound[SubmissionAccepted](conn, env, event)  # type: ignore[arg-type]
    assert seen == [(conn, "F1", env.event_id)]
