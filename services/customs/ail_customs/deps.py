"""The customs service's dependencies, typed: built once by ``bootstrap.py``, reached by the
routes through the ``CustomsDeps`` alias (never a string-keyed bag)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from ail_customs.adapters.customs_client import CustomsSystem
from ail_customs.config import Settings
from ail_customs.service_layer.unit_of_work import CustomsUnitOfWork
from ail_shared.http import Runtime
from ail_shared.workers import Worker


@dataclass
class Deps:
    settings: Settings
    runtime: Runtime  # the pool, once the service has started
    customs: CustomsSystem
    delivery: Worker
    feed: Worker
    expiry: Worker

    def uow(self, source: Any = None) -> CustomsUnitOfWork:
        """A unit of work on ``source`` (an open connection) or, by default, on the pool; a
        license it makes due wakes the delivery worker."""
        return CustomsUnitOfWork(
            source if source is not None else self.runtime.db(), on_license_due=self.delivery.wake
        )


async def get_deps(request: Request) -> Deps:
    deps = request.app.state.deps
    if not isinstance(deps, Deps):
        raise RuntimeError("the customs service was not built by ail_customs.bootstrap")
    return deps


CustomsDeps = Annotated[Deps, Depends(get_deps)]
