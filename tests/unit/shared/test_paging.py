"""The one list shape (``ail_shared.paging``) and the refusal of undeclared query parameters
(``ail_shared.http.guard_request``), on a small app of their own."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from ail_shared.errors import InvalidInput
from ail_shared.http import error_body, guard_request
from ail_shared.paging import ListPage, Page, PageParams, QueryPage


def app() -> FastAPI:
    api = FastAPI(dependencies=[Depends(guard_request)])

    @api.exception_handler(InvalidInput)
    async def invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return JSONResponse(error_body(exc.code, exc.message, exc.problems), status_code=422)

    @api.get("/query", response_model=Page[int])
    async def query(paging: QueryPage, status: str | None = None) -> Any:
        return paging.whole(list(range(25)))

    @api.get("/list", response_model=Page[int])
    async def bounded(paging: ListPage) -> Any:
        return paging.whole(list(range(25)))

    return api


def test_a_page_cuts_the_list_and_counts_all_of_it() -> None:
    assert PageParams(2, 10).whole(list(range(25)), extra="x") == {
        "extra": "x",
        "items": list(range(10, 20)),
        "total": 25,
        "page": 2,
        "page_size": 10,
    }
    assert PageParams(4, 10).whole(list(range(25)))["items"] == []
    assert PageParams(3, 10).offset == 20


def client() -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app()), base_url="http://test")


async def test_defaults_bounds_and_shape_through_fastapi() -> None:
    async with client() as c:
        assert (await c.get("/query")).json() == {
            "items": list(range(10)),
            "total": 25,
            "page": 1,
            "page_size": 10,
        }
        bounded = (await c.get("/list")).json()
        assert bounded["page_size"] == 200 and len(bounded["items"]) == 25
        third = await c.get("/query", params={"page": 3, "page_size": 10})
        assert third.json()["items"] == list(range(20, 25))
        for bad in ({"page": 0}, {"page_size": 201}):
            r = await c.get("/query", params=bad)
            assert r.status_code == 422, r.text


async def test_an_undeclared_query_parameter_is_refused_by_name() -> None:
    async with client() as c:
        r = await c.get("/query", params={"license_no": "1", "status": "draft", "sort": "x"})
        ok = await c.get("/query", params={"status": "draft", "page": 1})
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert [d["field"] for d in details] == ["query.license_no", "query.sort"]
    assert details[0]["reason"] == "unknown query parameter; this endpoint takes: page, page_size, status"
    # Declared ones, including those of a dependency, pass.
    assert ok.status_code == 200
