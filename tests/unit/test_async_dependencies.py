"""No route of any service runs its endpoint or a dependency in a worker thread (issue 16).

FastAPI runs a plain ``def`` endpoint or dependency through the thread pool: a hand-off to a
worker thread and back, with the GIL, on every request. In session 9's profiles of the drafts
and the statistics routes that was 5-10% of the process (``run_in_threadpool`` under
``solve_dependencies``) for dependencies that only read an attribute. Every service's app is
built as it starts (its bootstrap) and every route's dependency tree is walked."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest
from fastapi.routing import APIRoute

SERVICES = ("application", "submission", "status", "customs", "signer", "stats")


def _is_async(call: Any) -> bool:
    if inspect.isclass(call):
        return True  # a class as a dependency builds an object: nothing runs in it but __init__
    if inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call):
        return True
    return inspect.iscoroutinefunction(type(call).__call__)  # an instance with an async __call__


def _sync_calls(dependant: Any, where: str, out: list[str]) -> list[str]:
    call = dependant.call
    if call is not None and not _is_async(call):
        out.append(f"{where}: {getattr(call, '__module__', '?')}.{getattr(call, '__qualname__', call)!s}")
    for sub in dependant.dependencies:
        _sync_calls(sub, where, out)
    return out


def _routes(routes: list[Any], out: list[APIRoute], found: list[str]) -> list[APIRoute]:
    """Every APIRoute, into included routers too (FastAPI 0.16x keeps an included router as one
    route of its own); a router's own dependencies are checked as they are met."""
    for route in routes:
        if isinstance(route, APIRoute):
            out.append(route)
        elif hasattr(route, "original_router"):
            context = getattr(route, "include_context", None)
            for dep in getattr(context, "dependencies", ()):
                if dep.dependency is not None and not _is_async(dep.dependency):
                    found.append(f"router dependency: {dep.dependency.__qualname__}")
            _routes(route.original_router.routes, out, found)
    return out


@pytest.mark.parametrize("service", SERVICES)
def test_every_endpoint_and_dependency_of_the_service_is_async(service: str) -> None:
    app = importlib.import_module(f"ail_{service}.bootstrap").bootstrap()
    found: list[str] = []
    routes = _routes(app.routes, [], found)
    assert len(routes) > 3, "only the health routes: the walk missed the service's routers"
    for route in routes:
        _sync_calls(route.dependant, f"{sorted(route.methods)} {route.path}", found)
    assert not found, "run in a worker thread on every request (make them async def):\n" + "\n".join(
        sorted(set(found))
    )


def test_the_walk_finds_a_plain_def_dependency() -> None:
    from fastapi import Depends, FastAPI

    def plain() -> int:
        return 1

    async def endpoint(value: int = Depends(plain)) -> int:  # noqa: B008 - FastAPI's own idiom
        return value

    app = FastAPI()
    app.get("/x")(endpoint)
    route = next(r for r in app.routes if isinstance(r, APIRoute))
    assert any("plain" in f for f in _sync_calls(route.dependant, "GET /x", []))
