"""Settings of the statistics service (env prefix AIL_)."""

from __future__ import annotations

import os
import tempfile
from urllib.parse import urlsplit

from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings

SCHEMA = "stats"  # the service's PostgreSQL schema: API keys and inbox tables only


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "stats"
    http_port: int = 18106
    # faust keeps its (small) working directory here; the tables live in memory + changelogs.
    stats_datadir: str = ""
    # Partitions of ail.submission; the changelog topics must have as many (checked on start).
    stats_partitions: int = 6
    # How long the broker waits before it drops a worker that died without leaving the group.
    stats_session_timeout: float = 6.0  # the broker's group.min.session.timeout.ms is 6 s
    # The other replicas' base URLs, comma-separated (issue 16; adapters/peers.py): a query
    # merges their partitions' figures with this worker's. Empty: this is the only replica.
    stats_peers: str = ""
    # This replica's name (a StatefulSet pod's name, e.g. stats-0): an entry of AIL_STATS_PEERS
    # whose host is that name (or starts with "name.") is this replica and is left out, so every
    # pod of a StatefulSet can be given the same list of all of them (deploy/k8s).
    stats_self: str = ""
    # The stats service writes nothing to PostgreSQL (auth only): no outbox to relay.
    run_outbox_relay: bool = False

    def peer_urls(self) -> list[str]:
        urls = [u.strip() for u in self.stats_peers.split(",") if u.strip()]
        if not self.stats_self:
            return urls
        return [u for u in urls if not _names(urlsplit(u).hostname or "", self.stats_self)]

    def datadir(self) -> str:
        if self.stats_datadir:
            return self.stats_datadir
        base = os.environ.get("AIL_DEVSTACK_DIR") or tempfile.gettempdir()
        return os.path.join(base, "run", f"stats-faust-{self.http_port}")


def _names(host: str, name: str) -> bool:
    return host == name or host.startswith(f"{name}.")
