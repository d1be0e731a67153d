"""The public API over HTTP (httpx): one client, bounded retries, errors that say what to do.

Only ``/api/v1`` behind the entry point; no service code is imported. Retried with backoff:
connection errors, 429, 502, 503, 504, for requests that are safe to repeat (GET, PUT, DELETE,
and POST with an Idempotency-Key or one the API documents as safe to repeat)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from ail_cli.config import Profile

RETRY_STATUS = {429, 502, 503, 504}
ATTEMPTS = 8  # about 35 s of backoff: a restarted service is waited out


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    details: list[dict[str, Any]] = field(default_factory=list)
    hint: str = ""

    def __str__(self) -> str:
        text = f"{self.message} ({self.code}, HTTP {self.status})" if self.status else self.message
        for d in self.details[:20]:
            text += f"\n  {d.get('field')}: {d.get('reason')}"
        if len(self.details) > 20:
            text += f"\n  ... and {len(self.details) - 20} more"
        return text + (f"\n{self.hint}" if self.hint else "")

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "code": self.code,
            "message": self.message,
            "details": self.details,
            "hint": self.hint,
        }


def _hint(status: int, message: str, profile: Profile) -> str:
    if status == 401:
        return "check the API key: run ail login --url URL --key KEY (or set AIL_API_KEY)"
    if status == 403:
        return (
            "this API key may not act for that enterprise: check --enterprise or the enterprise_code column"
        )
    if "X-Enterprise-Code" in message:
        return "an agency names the enterprise: pass --enterprise CODE or fill the enterprise_code column"
    if status in RETRY_STATUS or status >= 500:
        return f"the platform at {profile.url} is not answering well: try again in a minute; reruns are safe"
    return ""


def error_of(resp: httpx.Response, profile: Profile) -> ApiError:
    try:
        err = resp.json().get("error") or {}
    except ValueError:
        err = {}
    message = str(err.get("message") or resp.text[:300] or resp.reason_phrase)
    if isinstance(err.get("detail"), list):  # FastAPI's own validation body
        err["details"] = [
            {"field": ".".join(map(str, d.get("loc", []))), "reason": d.get("msg")} for d in err["detail"]
        ]
    return ApiError(
        resp.status_code,
        str(err.get("code") or f"http_{resp.status_code}"),
        message,
        list(err.get("details") or []),
        _hint(resp.status_code, message, profile),
    )


PAGE_SIZE = 200  # the API's largest page


class Api:
    def __init__(self, profile: Profile, client: httpx.AsyncClient) -> None:
        self.profile = profile
        self.client = client

    async def request(
        self,
        method: str,
        path: str,
        *,
        enterprise: str | None = None,
        idempotency_key: str | None = None,
        retry: bool | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The response of a 2xx answer; ``ApiError`` otherwise (after retries when safe)."""
        h = dict(headers or {})
        ent = enterprise or self.profile.enterprise
        if ent:
            h["X-Enterprise-Code"] = ent
        if idempotency_key:
            h["Idempotency-Key"] = idempotency_key
        safe = retry if retry is not None else (method != "POST" or idempotency_key is not None)
        delay = 0.5
        for attempt in range(1, ATTEMPTS + 1):
            try:
                resp = await self.client.request(method, path, headers=h, **kwargs)
            except httpx.TransportError as exc:
                if not safe or attempt == ATTEMPTS:
                    raise ApiError(
                        0,
                        "unreachable",
                        f"cannot reach {self.profile.url} ({exc.__class__.__name__}: {exc})",
                        hint="check the URL (ail login --url, or AIL_URL) and that the platform is up;"
                        " reruns are safe",
                    ) from exc
            else:
                if resp.status_code < 400:
                    return resp
                if not safe or resp.status_code not in RETRY_STATUS or attempt == ATTEMPTS:
                    raise error_of(resp, self.profile)
                after = resp.headers.get("Retry-After", "")
                if after.isdigit():
                    delay = max(delay, float(after))
            await asyncio.sleep(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, 10.0)
        raise AssertionError("unreachable")

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    async def pages(
        self, path: str, params: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        """Every page of a list. Every list of the API has one shape, ``items``, ``total``,
        ``page``, ``page_size`` (docs/architecture.md, "Lists"): ask page 1, 2, ... until
        ``page * page_size`` reaches ``total``."""
        page = 1
        while True:
            body = await self.json(
                "GET", path, params={**(params or {}), "page": page, "page_size": PAGE_SIZE}, **kwargs
            )
            yield body
            if page * PAGE_SIZE >= body["total"] or not body["items"]:
                return
            page += 1

    async def items(self, path: str, params: dict[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        """Every item of a list, all pages read."""
        return [item async for body in self.pages(path, params, **kwargs) for item in body["items"]]


@asynccontextmanager
async def connect(profile: Profile, *, concurrency: int = 8, timeout: float = 60.0) -> AsyncIterator[Api]:
    limits = httpx.Limits(max_connections=concurrency + 4, max_keepalive_connections=concurrency + 4)
    async with httpx.AsyncClient(
        base_url=profile.url,
        headers={"Authorization": f"Bearer {profile.key}", "User-Agent": "ail-cli/0.1"},
        timeout=httpx.Timeout(timeout, connect=10.0),
        limits=limits,
    ) as client:
        yield Api(profile, client)
