"""The availability fast path's choice (issue 16): which requests it may answer itself; every
other one is the full route's. Pure (no I/O): the differential test against a real database is
tests/integration/customs/test_fast_availability.py."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from ail_customs.entrypoints import api
from ail_customs.entrypoints.fast_availability import ROUTE, AvailabilityFastPath, eligible
from ail_shared.http import _declared_query_names

PATH = "/api/v1/licenses/26AA12345678/availability"
KEY = "ail_0123456789abcdef_secret-Part_1"


def scope(
    path: str = PATH,
    query: bytes = b"quantity=10",
    headers: list[tuple[bytes, bytes]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(b"host", b"x"), (b"authorization", f"Bearer {KEY}".encode())]
        if headers is None
        else headers,
        **extra,
    }


def test_the_common_case_is_taken_with_the_routes_values() -> None:
    got = eligible(scope(query=b"quantity=1.5000&on=2026-12-01"))
    assert got is not None
    assert (got.license_no, got.quantity, got.on, got.raw_key, got.named_enterprise) == (
        "26AA12345678",
        Decimal("1.5000"),
        date(2026, 12, 1),
        KEY,
        None,
    )
    assert str(got.quantity) == "1.5000"  # echoed as typed, as the route echoes it
    by_header = eligible(
        scope(headers=[(b"x-api-key", KEY.encode()), (b"x-enterprise-code", b"1100776367555")])
    )
    assert by_header is not None and (by_header.raw_key, by_header.named_enterprise) == (KEY, "1100776367555")
    assert eligible(scope(headers=[(b"authorization", f"bearer {KEY}".encode()), (b"content-length", b"0")]))


@pytest.mark.parametrize(
    "changed",
    [
        {"method": "HEAD"},
        {"method": "POST"},
        {"type": "websocket"},
        {"root_path": "/x"},
        {"path": "/api/v1/licenses/26AA1/availability/"},
        {"path": "/api/v1/licenses//availability"},
        {"path": "/api/v1/licenses/a/b/availability"},
        {"path": "/api/v1/licenses/" + "A" * 65 + "/availability"},  # over IdentifierText's limit
        {"path": "/api/v1/licenses/26AA\ufffd/availability"},
        {"path": PATH, "raw_path": b"/api/v1/licenses/26AA%3112345678/availability"},  # encoded
    ],
)
def test_other_requests_and_paths_go_to_the_full_route(changed: dict[str, Any]) -> None:
    assert eligible({**scope(), **changed}) is None


@pytest.mark.parametrize(
    "query",
    [
        b"",
        b"quantity=",
        b"quantity=0",  # not positive: the route's 422
        b"quantity=-1",
        b"quantity=+1",
        b"quantity=1e3",
        b"quantity=1.12345",  # five places: the route's 422
        b"quantity=1" + b"0" * 12,  # thirteen digits
        b"quantity=%31",
        b"quantity=1&quantity=2",
        b"quantity=1&on=2026-02-30",
        b"quantity=1&on=1899-12-31",
        b"quantity=1&on=",
        b"quantity=1&on=2026-12-01&on=2026-12-02",
        b"quantity=1&page=2",  # unknown: the route's 422
        b"quantity=1&",
        b"Quantity=1",
        b"quantity=1%00",
        b"quantity=1&x%ff=1",
    ],
)
def test_any_other_query_goes_to_the_full_route(query: bytes) -> None:
    assert eligible(scope(query=query)) is None


@pytest.mark.parametrize(
    "headers",
    [
        [],  # no credentials: the route's 401
        [(b"authorization", b"Basic abc")],
        [(b"authorization", b"Bearer ")],
        [(b"authorization", f"Bearer {KEY}".encode()), (b"authorization", f"Bearer {KEY}".encode())],
        [(b"x-api-key", KEY.encode()), (b"x-api-key", KEY.encode())],
        [(b"x-api-key", b"ail_a_b c")],
        [(b"x-api-key", "ail_a_bé".encode())],
        [(b"x-api-key", KEY.encode()), (b"cookie", b"ail_session=abc")],  # a session: the route's
        [(b"x-api-key", KEY.encode()), (b"x-enterprise-code", b"")],
        [(b"x-api-key", KEY.encode()), (b"x-enterprise-code", b"1"), (b"x-enterprise-code", b"2")],
        [(b"x-api-key", KEY.encode()), (b"x-enterprise-code", b"11\x00")],  # the guard's 422
        [(b"x-api-key", KEY.encode()), (b"x-request-id", b"a\x00b")],
        [(b"x-api-key", KEY.encode()), (b"content-length", b"5")],  # a body: BodyLimit and the route
        [(b"x-api-key", KEY.encode()), (b"transfer-encoding", b"chunked")],
    ],
)
def test_other_credentials_and_headers_go_to_the_full_route(headers: list[tuple[bytes, bytes]]) -> None:
    assert eligible(scope(headers=headers)) is None


def test_it_stands_in_for_the_route_it_was_written_for() -> None:
    """If the route's path or query parameters change, the fast path must change with it."""
    route = next(r for r in api.router.routes if getattr(r, "endpoint", None) is api.availability)
    assert getattr(route, "path", None) == ROUTE
    assert _declared_query_names(route.dependant, set()) == {"quantity", "on"}
    AvailabilityFastPath(lambda *a: None)  # finds the route
