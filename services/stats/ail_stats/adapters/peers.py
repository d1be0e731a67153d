"""The other replicas of the statistics service (issue 16, scale out): each faust worker holds
only the partitions the consumer group gave it (memory store, no standby), so a query answered
by one replica asks the others for their shards over ``POST /internal/stats/shards`` (the service
credential) and merges them (``domain.figures.merge_shards``).

``AIL_STATS_PEERS``: the base URLs of the other replicas, comma-separated (``./dev up
--replicas N`` sets it; in Kubernetes the pods of a StatefulSet behind a headless Service). Empty
(one replica): no call at all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import httpx

from ail_shared.auth import SERVICE_CREDENTIAL_HEADER
from ail_shared.logging import get_logger
from ail_stats.domain.figures import Shard

log = get_logger("ail.stats.peers")


class StatsPeers:
    def __init__(
        self,
        urls: Sequence[str],
        *,
        internal_token: str,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.urls = [u.rstrip("/") for u in urls if u.strip()]
        self.internal_token = internal_token
        self.client = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def shards(self, enterprises: Sequence[str], year: str) -> list[Shard]:
        """Every peer's shard of these enterprises' figures in YEAR; a peer that does not answer
        (down, restarting) gives none: the caller sees which partitions are missing."""
        answers = await asyncio.gather(*(self._shard(u, enterprises, year) for u in self.urls))
        return [a for a in answers if a is not None]

    async def _shard(self, url: str, enterprises: Sequence[str], year: str) -> Shard | None:
        try:
            resp = await self.client.post(
                f"{url}/internal/stats/shards",
                json={"year": year, "enterprises": list(enterprises)},
                headers={SERVICE_CREDENTIAL_HEADER: self.internal_token},
            )
            if resp.status_code != 200:
                log.warning("stats_peer_refused", peer=url, status=resp.status_code)
                return None
            body = resp.json()
            return Shard(
                frozenset(int(p) for p in body["partitions"]),
                tuple((str(f["key"]), dict(f["record"])) for f in body["figures"]),
            )
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            log.warning("stats_peer_unavailable", peer=url, error=repr(exc))
            return None
