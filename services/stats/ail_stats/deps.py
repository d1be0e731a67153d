"""The statistics service's dependencies, typed: built once by ``bootstrap.py``, reached by the
routes through the ``StatsDeps`` alias (never a string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from ail_stats.adapters.faust_app import StatsApp
from ail_stats.adapters.peers import StatsPeers
from ail_stats.config import Settings
from ail_stats.entrypoints.consumers import Fold


@dataclass
class Deps:
    settings: Settings
    stats_app: StatsApp  # the faust app and its tables
    fold: Fold  # the agent's counters (/healthz)
    peers: StatsPeers | None = None  # the other replicas (AIL_STATS_PEERS); None: the only one


async def get_deps(request: Request) -> Deps:
    deps = request.app.state.deps
    if not isinstance(deps, Deps):
        raise RuntimeError("the statistics service was not built by ail_stats.bootstrap")
    return deps


StatsDeps = Annotated[Deps, Depends(get_deps)]
