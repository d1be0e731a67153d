"""``ail submit`` / ``revoke`` / ``delete`` / ``print``: batches sized to the API's limits, one
result per id, safe to rerun.

Rerun safety comes from the API's own rules rather than from stored state here: submitting an
application already past draft is refused with its status (reported as ``already_submitted``),
revoking a revoked one likewise (``already_revoked``), deleting a deleted one answers
``not_found``, and a print whose PDF is already in the folder is skipped."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ail_cli.api import Api, ApiError
from ail_cli.selection import Target

STATUS_IN_MESSAGE = re.compile(r"in status '([a-z_]+)'")
DEFAULT_LIMITS = {
    "/api/v1/applications/submit": 10_000,
    "/api/v1/applications/batch-delete": 100,
    "/api/v1/applications/print": 100,
}
# Smaller than the API allows, so progress moves and one slow batch does not hold everything.
PREFERRED = 200


@dataclass
class Result:
    id: str
    result: str
    status: str | None = None
    detail: str | None = None
    file: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


async def batch_limit(api: Api, path: str) -> int:
    """``maxItems`` of the ``ids`` of the path's request body in the API's OpenAPI document."""
    default = DEFAULT_LIMITS.get(path, 100)
    try:
        doc = await api.json("GET", "/api/v1/openapi.json", retry=False)
        schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return int(schema["properties"]["ids"]["maxItems"])
    except (ApiError, KeyError, TypeError, ValueError):
        return default


def chunks(items: list[Target], size: int) -> list[list[Target]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _error_text(err: dict[str, Any]) -> str:
    text = str(err.get("message") or err.get("code") or "refused")
    return text + "".join(f"; {d.get('field')}: {d.get('reason')}" for d in err.get("details") or [])


async def submit(api: Api, targets: list[Target], *, on_done: Callable[[int], None]) -> list[Result]:
    path = "/api/v1/applications/submit"
    size = min(await batch_limit(api, path), PREFERRED)
    results: list[Result] = []
    for batch in chunks(targets, size):
        body = await api.json("POST", path, json={"ids": [t.id for t in batch]}, retry=True)
        for r in body["results"]:
            if r["result"] == "submitted":
                results.append(Result(r["id"], "submitted", r.get("status")))
                continue
            err = r.get("error") or {}
            m = STATUS_IN_MESSAGE.search(str(err.get("message", "")))
            if (
                err.get("code") == "conflict"
                and m
                and m.group(1) not in ("draft", "revoked", "first_review_rejected")
            ):
                results.append(Result(r["id"], "already_submitted", m.group(1)))
            else:
                results.append(Result(r["id"], "refused", None, _error_text(err)))
        on_done(len(batch))
    return results


async def _each(
    targets: list[Target],
    work: Callable[[Target], Awaitable[Result]],
    on_done: Callable[[int], None],
    concurrency: int,
) -> list[Result]:
    sem = asyncio.Semaphore(concurrency)

    async def one(t: Target) -> Result:
        async with sem:
            try:
                return await work(t)
            except ApiError as exc:
                return Result(
                    t.id, "failed" if exc.status in (0, 502, 503, 504) else "refused", detail=str(exc)
                )
            finally:
                on_done(1)

    return list(await asyncio.gather(*(one(t) for t in targets)))


async def revoke(
    api: Api, targets: list[Target], *, on_done: Callable[[int], None], concurrency: int = 4
) -> list[Result]:
    async def work(t: Target) -> Result:
        try:
            body = await api.json("POST", f"/api/v1/applications/{t.id}/revoke", retry=True)
        except ApiError as exc:
            m = STATUS_IN_MESSAGE.search(exc.message)
            if exc.status == 409 and m and m.group(1) == "revoked":
                return Result(t.id, "already_revoked", "revoked")
            raise
        return Result(t.id, "revoked", body.get("status"))

    return await _each(targets, work, on_done, concurrency)


async def delete(api: Api, targets: list[Target], *, on_done: Callable[[int], None]) -> list[Result]:
    path = "/api/v1/applications/batch-delete"
    size = await batch_limit(api, path)
    results: list[Result] = []
    for batch in chunks(targets, size):
        body = await api.json("POST", path, json={"ids": [t.id for t in batch]}, retry=True)
        results += [Result(str(r["id"]), r["outcome"], detail=r.get("reason")) for r in body["results"]]
        on_done(len(batch))
    return results


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


async def print_pdfs(
    api: Api,
    targets: list[Target],
    out: Path,
    *,
    combined: bool,
    on_done: Callable[[int], None],
    concurrency: int = 4,
) -> list[Result]:
    out.mkdir(parents=True, exist_ok=True)
    accept = {"Accept": "application/pdf"}
    if combined:
        path = "/api/v1/applications/print"
        size = await batch_limit(api, path)
        results: list[Result] = []
        for n, batch in enumerate(chunks(targets, size), start=1):
            file = out / f"applications-{n:04d}.pdf"
            if not (file.exists() and file.stat().st_size > 0):
                resp = await api.request(
                    "POST", path, json={"ids": [t.id for t in batch]}, headers=accept, retry=True
                )
                _write(file, resp.content)
            results += [Result(t.id, "printed", file=str(file)) for t in batch]
            on_done(len(batch))
        return results

    async def work(t: Target) -> Result:
        file = out / f"{_safe_name(t.serial_no or t.id)}.pdf"
        if file.exists() and file.stat().st_size > 0:
            return Result(t.id, "already_printed", file=str(file))
        resp = await api.request("GET", f"/api/v1/applications/{t.id}/print", headers=accept)
        _write(file, resp.content)
        return Result(t.id, "printed", file=str(file))

    return await _each(targets, work, on_done, concurrency)


def _write(file: Path, content: bytes) -> None:
    # Written whole, then renamed: a crash never leaves a half PDF that a rerun would skip.
    tmp = file.with_name(file.name + ".part")
    tmp.write_bytes(content)
    tmp.replace(file)
