"""The routes reach the signer's typed dependencies through ``SignerDeps`` (never a
string-keyed bag): ``service_layer.deps.Deps``, set on the runtime by ``bootstrap``."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ail_shared.http import get_runtime
from ail_signer.service_layer.deps import Deps


async def get_deps(request: Request) -> Deps:
    deps = get_runtime(request).deps
    if not isinstance(deps, Deps):
        raise RuntimeError("the signer's dependencies are not built (bootstrap's start hook)")
    return deps


SignerDeps = Annotated[Deps, Depends(get_deps)]
