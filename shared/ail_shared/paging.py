"""One paging shape for every public list (issue 12, item 2).

Every endpoint that answers a list answers a ``Page``::

    {"items": [...], "total": 123, "page": 2, "page_size": 10}

and takes ``page`` (1-based) and ``page_size`` query parameters through the dependency
``QueryPage`` (10 a page by default: the query screens) or ``ListPage`` (200: the other lists). A list
that belongs to something (a license's history, a month's statistics) subclasses ``Page`` and
adds that context beside the four fields; the four fields and their meaning never change.

Why page and total rather than a cursor: the manual's application query (申请单查询) shows the
number of matching applications and pages through them, so that list must have a total, and the
other lists are either small and bounded (e-keys, bindings, subscriptions, code tables, one
license's or application's history, one month's statistics rows) or ordered oldest first with new
rows only ever appended at the end (a subscription's deliveries), where page N stays page N as the
list grows. One shape that fits the list the manual prescribes fits the others; a client (the
``ail`` CLI, the console) has one paging loop: ask page 1, 2, ... until ``page * page_size >=
total``.

Bounded lists are read whole and cut with ``PageParams.cut`` (the bound is in docs/limits.md);
lists that grow without bound page in SQL with ``PageParams.offset`` / ``page_size``.

Callers: application (query, key-agri filings, code tables), submission (e-keys, bindings),
status (subscriptions, deliveries, application history), customs (customs status, clearances,
history), stats (monthly rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from ail_shared.inputs import PAGE_MAX, PAGE_SIZE_MAX

__all__ = ["ListPage", "Page", "PageParams", "QueryPage", "list_page", "query_page"]

T = TypeVar("T")
R = TypeVar("R")


class Page(BaseModel, Generic[T]):
    """A page of a list: the items, how many match in all, which page and its size."""

    items: list[T]
    total: int = Field(ge=0, description="how many items match in all (not only on this page)")
    page: int = Field(ge=1, description="this page's number, from 1")
    page_size: int = Field(ge=1, description="at most this many items on a page")


@dataclass(frozen=True)
class PageParams:
    """The page a request asks for."""

    page: int = 1
    page_size: int = 10

    @property
    def offset(self) -> int:
        """Rows before this page (SQL ``OFFSET``)."""
        return (self.page - 1) * self.page_size

    def cut(self, rows: Sequence[R]) -> list[R]:
        """This page of a list read whole."""
        return list(rows[self.offset : self.offset + self.page_size])

    def of(self, items: Sequence[Any], total: int, **context: Any) -> dict[str, Any]:
        """The page as the JSON body: ``items`` already cut, ``total`` of the whole list, and
        the context a ``Page`` subclass adds."""
        return {
            **context,
            "items": list(items),
            "total": total,
            "page": self.page,
            "page_size": self.page_size,
        }

    def whole(self, rows: Sequence[Any], **context: Any) -> dict[str, Any]:
        """A list read whole, cut to this page."""
        return self.of(self.cut(rows), len(rows), **context)


def _page(description: str) -> Any:
    return Query(ge=1, le=PAGE_MAX, description=description)


def _size() -> Any:
    return Query(ge=1, le=PAGE_SIZE_MAX, description=f"items a page, 1..{PAGE_SIZE_MAX}")


async def query_page(
    page: Annotated[int, _page("page number, from 1")] = 1,
    page_size: Annotated[int, _size()] = 10,
) -> PageParams:
    """A query screen's page: 10 a page by default, as the manual's query screens show."""
    return PageParams(page, page_size)


async def list_page(
    page: Annotated[int, _page("page number, from 1")] = 1,
    page_size: Annotated[int, _size()] = PAGE_SIZE_MAX,
) -> PageParams:
    """A bounded list's page: the largest page by default, so a client that reads one page of
    it sees every item in practice, and ``total`` tells it when it does not."""
    return PageParams(page, page_size)


QueryPage = Annotated[PageParams, Depends(query_page)]
"""``page`` and ``page_size`` (default 10): the application and customs-status queries."""
ListPage = Annotated[PageParams, Depends(list_page)]
"""``page`` and ``page_size`` (default 200): every other list."""
