"""Issue 16, scale out: a monthly query over several stats replicas, each holding only its own
partitions (memory store, no standby): ``domain.figures.merge_shards`` and
``service_layer.handlers.gather_figures`` with fake tables and peers; and the peers adapter
against a fake transport."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import httpx

from ail_stats.adapters.peers import StatsPeers
from ail_stats.domain.figures import Shard, merge_shards
from ail_stats.service_layer.handlers import gather_figures

ENTERPRISE = "1100776367555"


def _key(p: int, code: str = "2601110000") -> str:
    return json.dumps([p, ENTERPRISE, "2026-11", "A", "0110", "601", code, "070"])


def _rec(count: int, upto: int) -> dict[str, Any]:
    return {"count": count, "upto": upto, "dims": [ENTERPRISE, "2026-11", "A", "0110", "601", "c", "070"]}


def _shard(parts: Sequence[int], *figures: tuple[str, dict[str, Any]]) -> Shard:
    return Shard(frozenset(parts), tuple(figures))


def test_two_halves_make_the_whole_answer() -> None:
    a = _shard([0, 1, 2], (_key(0), _rec(2, 10)), (_key(2), _rec(1, 4)))
    b = _shard([3, 4, 5], (_key(4), _rec(5, 30)))
    merged = merge_shards([a, b], 6)
    assert merged.missing == ()
    assert sorted(r["count"] for r in merged.records) == [1, 2, 5]


def test_a_partition_nobody_holds_is_missing_never_a_short_sum() -> None:
    merged = merge_shards([_shard([0, 1, 2], (_key(0), _rec(2, 10)))], 6)
    assert merged.missing == (3, 4, 5)


def test_during_a_hand_over_the_copy_folded_furthest_counts_once() -> None:
    old = _shard([3], (_key(3), _rec(4, 40)))
    new = _shard([3, 4, 5, 0, 1, 2], (_key(3), _rec(5, 41)))
    merged = merge_shards([old, new], 6)
    assert [r["count"] for r in merged.records] == [5]


def test_a_key_of_a_partition_its_sender_no_longer_owns_is_left_out() -> None:
    stale = _shard([0, 1, 2], (_key(4), _rec(9, 99)))  # revoked, not yet dropped
    owner = _shard([3, 4, 5], (_key(4), _rec(5, 30)))
    assert [r["count"] for r in merge_shards([stale, owner], 6).records] == [5]


class FakeTables:
    partitions = 6

    def __init__(self, shard: Shard) -> None:
        self.shard = shard

    def held_partitions(self) -> frozenset[int]:
        return self.shard.partitions

    def local_shard(self, enterprises: Sequence[str], year: str) -> Shard:
        return self.shard


class FakePeers:
    def __init__(self, *shards: Shard) -> None:
        self.asked: list[tuple[list[str], str]] = []
        self._shards = list(shards)

    async def shards(self, enterprises: Sequence[str], year: str) -> list[Shard]:
        self.asked.append((list(enterprises), year))
        return self._shards


async def test_one_replica_holding_everything_asks_nobody() -> None:
    peers = FakePeers()
    tables = FakeTables(_shard(range(6), (_key(1), _rec(3, 7))))
    gathered = await gather_figures(tables, peers, [ENTERPRISE], "2026")
    assert peers.asked == [] and gathered.missing == ()
    assert [r["count"] for r in gathered.records] == [3]


async def test_a_replica_with_half_the_partitions_merges_the_other_half() -> None:
    peers = FakePeers(_shard([3, 4, 5], (_key(5), _rec(2, 8))))
    tables = FakeTables(_shard([0, 1, 2], (_key(1), _rec(3, 7))))
    gathered = await gather_figures(tables, peers, [ENTERPRISE], "2026")
    assert peers.asked == [([ENTERPRISE], "2026")]
    assert gathered.missing == () and sorted(r["count"] for r in gathered.records) == [2, 3]


async def test_the_other_replica_down_leaves_its_partitions_missing() -> None:
    gathered = await gather_figures(FakeTables(_shard([0, 1, 2])), FakePeers(), [ENTERPRISE], "2026")
    assert gathered.missing == (3, 4, 5)


async def test_the_peers_adapter_sends_the_credential_and_skips_a_peer_that_fails() -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "down":
            raise httpx.ConnectError("refused", request=request)
        body = {"partitions": [3, 4, 5], "figures": [{"key": _key(4), "record": _rec(5, 30)}]}
        return httpx.Response(200, json=body)

    peers = StatsPeers(
        ["http://up:1/", "http://down:2"], internal_token="tok", transport=httpx.MockTransport(answer)
    )
    try:
        shards = await peers.shards([ENTERPRISE, "3100123456789"], "2026")
    finally:
        await peers.aclose()
    assert shards == [_shard([3, 4, 5], (_key(4), _rec(5, 30)))]
    up = next(r for r in seen if r.url.host == "up")
    assert up.method == "POST" and up.url.path == "/internal/stats/shards"
    assert json.loads(up.content) == {"year": "2026", "enterprises": [ENTERPRISE, "3100123456789"]}
    assert up.headers["X-AIL-Service-Token"] == "tok"


def test_a_statefulset_pod_given_every_replica_leaves_itself_out() -> None:
    from ail_stats.config import Settings

    every = ",".join(f"http://stats-{i}.stats-peers.ail.svc.cluster.local:8000" for i in range(3))
    me = Settings(stats_peers=every, stats_self="stats-1")
    assert me.peer_urls() == [
        "http://stats-0.stats-peers.ail.svc.cluster.local:8000",
        "http://stats-2.stats-peers.ail.svc.cluster.local:8000",
    ]
    # stats-1 is not stats-10's prefix; without a name the list is taken as it is (./dev)
    assert len(Settings(stats_peers="http://stats-10.x:8000", stats_self="stats-1").peer_urls()) == 1
    assert Settings(stats_peers="http://127.0.0.1:28116, http://127.0.0.1:28126").peer_urls() == [
        "http://127.0.0.1:28116",
        "http://127.0.0.1:28126",
    ]
