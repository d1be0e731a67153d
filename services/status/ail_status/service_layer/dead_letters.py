"""Dead letters for operations (issue 14, item 6): list them, redrive one (or every open one with
a given reason) to its original topic, or skip one with a reason. Every action is recorded with
who did it, when and why (``ops_actions``) and shown with the message.

A poison message never blocks a partition: the consumer sends it to ``<topic>.dlt`` and moves on
(``ail_shared.consumer``); it waits there for one of these actions. Redriving is safe to repeat:
each consumer's inbox makes a second apply of the same event a no-op.
"""

from __future__ import annotations

from typing import Any

import asyncpg

from ail_shared.errors import FieldProblem, InvalidInput, NotFound
from ail_status.adapters import dead_letters
from ail_status.adapters.dead_letters import DeadLetter, DeadLetterStore


def _check_topic(topic: str) -> None:
    known = dead_letters.dead_letter_topics()
    if topic not in known:
        raise InvalidInput(
            "unknown dead-letter topic", [FieldProblem("topic", f"must be one of: {', '.join(known)}")]
        )


async def list_dead_letters(
    pool: asyncpg.Pool, store: DeadLetterStore, *, topic: str | None, state: str | None, limit: int
) -> list[dict[str, Any]]:
    """Each dead-letter topic with its (last ``limit`` per partition) messages."""
    if topic is not None:
        _check_topic(topic)
    out = []
    for name in [topic] if topic else dead_letters.dead_letter_topics():
        letters = await store.read(name, limit=limit)
        async with pool.acquire() as conn:
            done = await dead_letters.actions(conn, name)
        views = []
        for letter in letters:
            letter.actions = done.get((letter.partition, letter.offset), [])
            view = letter.view()
            if state is None or view["state"] == state:
                views.append(view)
        out.append({"topic": name, "source_topic": name.removesuffix(".dlt"), "messages": views})
    return out


async def _letter(store: DeadLetterStore, topic: str, partition: int, offset: int) -> DeadLetter:
    _check_topic(topic)
    letter = await store.one(topic, partition, offset)
    if letter is None:
        raise NotFound(f"no message at {topic} partition {partition} offset {offset}: list them with GET")
    return letter


async def redrive(
    pool: asyncpg.Pool,
    store: DeadLetterStore,
    *,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    actor: str,
) -> dict[str, Any]:
    letter = await _letter(store, topic, partition, offset)
    await store.redrive(letter)
    async with pool.acquire() as conn:
        action = await dead_letters.record_action(conn, letter, action="redrive", reason=reason, actor=actor)
    letter.actions = [action]
    return letter.view()


async def redrive_reason(
    pool: asyncpg.Pool, store: DeadLetterStore, *, topic: str, match: str, reason: str, actor: str, limit: int
) -> list[dict[str, Any]]:
    """Redrive every open message of ``topic`` whose reason starts with ``match``."""
    _check_topic(topic)
    letters = await store.read(topic, limit=limit)
    async with pool.acquire() as conn:
        done = await dead_letters.actions(conn, topic)
    out = []
    for letter in letters:
        if letter.reason.startswith(match) and not done.get((letter.partition, letter.offset)):
            await store.redrive(letter)
            async with pool.acquire() as conn:
                action = await dead_letters.record_action(
                    conn, letter, action="redrive", reason=reason, actor=actor
                )
            letter.actions = [action]
            out.append(letter.view())
    return out


async def skip(
    pool: asyncpg.Pool,
    store: DeadLetterStore,
    *,
    topic: str,
    partition: int,
    offset: int,
    reason: str,
    actor: str,
) -> dict[str, Any]:
    letter = await _letter(store, topic, partition, offset)
    async with pool.acquire() as conn:
        action = await dead_letters.record_action(conn, letter, action="skip", reason=reason, actor=actor)
    letter.actions = [action]
    return letter.view()
