"""The live stream through the entry point (nginx, unbuffered): a client that drops and
reconnects with Last-Event-ID misses nothing and gets nothing twice."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx

from ail_shared.events import Envelope
from tests.integration.status.support import App, Enterprise, Frame, Publisher, Stream


def _ids(frames: list[Frame]) -> list[str]:
    return [f["data"]["event"]["id"] for f in frames]


def _ids_of(envelopes: list[Envelope]) -> list[str]:
    return [str(e.event_id) for e in envelopes]


async def test_reconnect_with_last_event_id_misses_nothing(
    publisher: Publisher, enterprise: Enterprise, enterprise_client: httpx.AsyncClient
) -> None:
    apps = [App(enterprise.code) for _ in range(3)]
    first_batch = [a.submitted() for a in apps] + [a.accepted() for a in apps]
    second_batch = [a.review("first", "passed") for a in apps] + [
        a.review("second", "rejected", "不符") for a in apps
    ]
    ours = {str(e.event_id) for e in first_batch + second_batch}

    a = await Stream(enterprise_client).open()  # no Last-Event-ID: from the next change on
    # Submissions travel on another topic than MOFCOM's answers: publish the answers once the
    # submissions are in, as happens in the real flow.
    await publisher.publish(*first_batch[:3])
    seen_a = await a.events(until=lambda got: ours & set(_ids(got)) >= set(_ids_of(first_batch[:3])))
    await publisher.publish(*first_batch[3:])
    seen_a += await a.events(until=lambda got: len(got) >= 1)
    await a.close()  # drops while changes keep coming

    await publisher.publish(*second_batch)
    b = await Stream(enterprise_client, last_event_id=seen_a[-1]["id"]).open()
    seen_b = await b.events(until=lambda got: ours <= set(_ids(seen_a) + _ids(got)))
    await b.close()

    frames = seen_a + seen_b
    ids = [int(f["id"]) for f in frames]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive: no gap, nothing twice
    assert ids[0] == 1  # a new enterprise's first change
    mine = [i for i in _ids(frames) if i in ours]
    assert sorted(mine) == sorted(ours) and len(mine) == len(ours)
    for f in frames:
        assert f["data"]["enterprise_code"] == enterprise.code
        assert int(f["id"]) == f["data"]["sequence"]
        assert f["event"] == "application." + "".join(
            "_" + c.lower() if c.isupper() else c for c in f["data"]["event"]["type"]
        ).lstrip("_")
    for app in apps:  # per application, in the order produced
        order = [
            f["data"]["event"]["type"] for f in frames if f["data"]["application_id"] == app.application_id
        ]
        order = [t for t in order if t != "SigningFailed"]  # the submission service may answer too
        assert order == [
            "ApplicationSubmitted",
            "SubmissionAccepted",
            "ReviewResultReceived",
            "ReviewResultReceived",
        ]

    # Replaying from 0 gives the same changes again, from the first.
    c = await Stream(enterprise_client, last_event_id="0").open()
    replay = await c.events(until=lambda got: len(got) >= len(frames))
    await c.close()
    assert [int(f["id"]) for f in replay] == ids


async def test_bad_last_event_id_is_refused(enterprise_client: httpx.AsyncClient) -> None:
    r = await enterprise_client.get("/api/v1/events/stream", headers={"Last-Event-ID": "yesterday"})
    assert r.status_code == 422
    assert r.json()["error"]["details"][0]["field"] == "Last-Event-ID"


async def test_idle_stream_sends_heartbeats(enterprise_client: httpx.AsyncClient) -> None:
    async with enterprise_client.stream("GET", "/api/v1/events/stream", params={"heartbeat_seconds": 1}) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        comments: list[str] = []
        async with asyncio.timeout(30):
            async for line in lines:
                if line == ": heartbeat":
                    comments.append(line)
                    if len(comments) == 2:
                        break
    assert comments == [": heartbeat", ": heartbeat"]


async def test_revoking_the_key_ends_an_open_stream(
    db: asyncpg.Pool, enterprise: Enterprise, enterprise_client: httpx.AsyncClient
) -> None:
    """Issue 10, item 9: a revocation takes effect at once, for a stream already open too."""
    async with enterprise_client.stream("GET", "/api/v1/events/stream", params={"heartbeat_seconds": 1}) as r:
        assert r.status_code == 200
        lines = r.aiter_lines()
        seen: list[str] = []
        async with asyncio.timeout(30):
            async for line in lines:
                seen.append(line)
                if line == ": heartbeat":
                    break
            key_id = enterprise.api_key.split("_")[1]
            await db.execute("UPDATE iam.api_keys SET revoked_at = now() WHERE key_id = $1", key_id)
            async for line in lines:  # the stream ends by itself
                seen.append(line)
    assert ": credentials revoked; reconnect with a valid key" in seen
    assert (await enterprise_client.get("/api/v1/events/stream")).status_code == 401
