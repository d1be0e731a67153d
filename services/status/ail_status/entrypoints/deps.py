"""The routes reach the service's typed dependencies through ``StatusDeps`` (never a
string-keyed bag): ``service_layer.deps.Deps``, set on the runtime by ``bootstrap``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ail_shared.http import get_runtime
from ail_status.service_layer.deps import Deps


async def get_deps(request: Request) -> Deps:
    deps = get_runtime(request).deps
    if not isinstance(deps, Deps):
        raise RuntimeError("the status service's dependencies are not built (bootstrap's start hook)")
    return deps


StatusDeps = Annotated[Deps, Depends(get_deps)]
