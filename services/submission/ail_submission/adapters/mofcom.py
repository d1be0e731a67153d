"""MOFCOM behind a Protocol, and its real HTTP adapter (httpx).

Every call has a timeout and the shared retry policy (``ail_shared.retry``: time-outs, connection
errors, 429 and 5xx retried with backoff, ``Retry-After`` honoured); a submission carries an
idempotency key (the submission id) so a retry after a time-out never makes a second submission.
What still fails after the retries comes back as ``Unavailable`` (the caller records it and tries
again later, no earlier than ``retry_after`` if MOFCOM named a time); what MOFCOM refuses (any
other 4xx) comes back as ``Refused`` (never retried).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx

from ail_shared import retry
from ail_shared.errors import AilError


@dataclass(frozen=True)
class Accepted:
    form_no: str
    applied_at: datetime
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    reason: str
    detail: str
    status_code: int = 422
    body: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Unavailable:
    error: str
    retry_after: float | None = None  # seconds MOFCOM asked us to wait (Retry-After), if it did


Outcome = Accepted | Refused | Unavailable


@dataclass(frozen=True)
class AttachmentFile:
    """An attachment as MOFCOM receives it with the submission: the signed snapshot names it by
    ``id`` and ``sha256``; MOFCOM checks the bytes against that hash."""

    id: str
    filename: str
    content_type: str
    sha256: str
    content: bytes = field(repr=False)


class Mofcom(Protocol):
    async def submit(
        self,
        *,
        idempotency_key: str,
        application_id: str,
        enterprise_code: str,
        ekey_serial: str,
        payload_b64: str,
        signature: str,
        algorithm: str,
        attachments: Sequence[AttachmentFile] = (),
    ) -> Outcome: ...

    async def register_certificate(
        self, *, enterprise_code: str, ekey_serial: str, certificate_pem: str
    ) -> Accepted | Refused | Unavailable: ...

    async def withdraw_certificate(
        self, *, enterprise_code: str, ekey_serial: str
    ) -> Accepted | Refused | Unavailable: ...

    async def status(self, *, form_no: str) -> dict[str, Any] | Refused | Unavailable: ...

    async def revoke(self, *, form_no: str, reason: str = "") -> dict[str, Any] | Refused | Unavailable: ...


class HttpMofcom:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 2.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 2.0)),
            transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.policy = retry.RetryPolicy(attempts=attempts, base=backoff, sleep=sleep)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def _call(
        self, method: str, path: str, *, json: Any = None, headers: dict[str, str] | None = None
    ) -> httpx.Response | Unavailable:
        """MOFCOM's answer (2xx or refusal), or Unavailable once the retry policy gives up."""
        try:
            return await retry.call_http(
                lambda: self.client.request(method, path, json=json, headers=headers),
                policy=self.policy,
                what=f"MOFCOM {method} {path}",
            )
        except retry.Unavailable as exc:
            return Unavailable(exc.error, exc.retry_after)

    @staticmethod
    def _refused(resp: httpx.Response) -> Refused:
        try:
            body = resp.json()
            err = body.get("error", {})
            return Refused(
                str(err.get("code") or f"http_{resp.status_code}"),
                str(err.get("message") or ""),
                resp.status_code,
                body,
            )
        except ValueError:
            return Refused(f"http_{resp.status_code}", resp.text[:500], resp.status_code)

    async def submit(
        self,
        *,
        idempotency_key: str,
        application_id: str,
        enterprise_code: str,
        ekey_serial: str,
        payload_b64: str,
        signature: str,
        algorithm: str,
        attachments: Sequence[AttachmentFile] = (),
    ) -> Outcome:
        resp = await self._call(
            "POST",
            "/mofcom/submissions",
            json={
                "application_id": application_id,
                "enterprise_code": enterprise_code,
                "ekey_serial": ekey_serial,
                "payload": payload_b64,
                "signature": signature,
                "algorithm": algorithm,
                # The bytes travel with the submission (at most 20 x 1 MiB): MOFCOM holds them
                # per form no. and checks each against the sha256 in the signed payload.
                "attachments": [
                    {
                        "id": a.id,
                        "filename": a.filename,
                        "content_type": a.content_type,
                        "sha256": a.sha256,
                        "content": base64.b64encode(a.content).decode(),
                    }
                    for a in attachments
                ],
            },
            headers={"Idempotency-Key": idempotency_key},
        )
        if isinstance(resp, Unavailable):
            return resp
        if resp.status_code in (200, 201):
            body = resp.json()
            return Accepted(body["form_no"], datetime.fromisoformat(body["applied_at"]), body)
        return self._refused(resp)

    async def register_certificate(
        self, *, enterprise_code: str, ekey_serial: str, certificate_pem: str
    ) -> Accepted | Refused | Unavailable:
        resp = await self._call(
            "POST",
            "/mofcom/certificates",
            json={
                "enterprise_code": enterprise_code,
                "ekey_serial": ekey_serial,
                "certificate_pem": certificate_pem,
            },
        )
        if isinstance(resp, Unavailable):
            return resp
        if resp.status_code == 200:
            return Accepted("", datetime.now().astimezone(), resp.json())
        return self._refused(resp)

    async def withdraw_certificate(
        self, *, enterprise_code: str, ekey_serial: str
    ) -> Accepted | Refused | Unavailable:
        """Tell MOFCOM the e-key's certificate no longer signs for the enterprise. A certificate
        MOFCOM does not hold (404: withdrawn already, by a retry) counts as withdrawn."""
        resp = await self._call("DELETE", f"/mofcom/certificates/{enterprise_code}/{ekey_serial}")
        if isinstance(resp, Unavailable):
            return resp
        if resp.status_code in (200, 404):
            return Accepted("", datetime.now().astimezone(), resp.json() if resp.content else {})
        return self._refused(resp)

    async def status(self, *, form_no: str) -> dict[str, Any] | Refused | Unavailable:
        resp = await self._call("GET", f"/mofcom/submissions/{form_no}")
        if isinstance(resp, Unavailable):
            return resp
        if resp.status_code == 200:
            body: dict[str, Any] = resp.json()
            return body
        return self._refused(resp)

    async def revoke(self, *, form_no: str, reason: str = "") -> dict[str, Any] | Refused | Unavailable:
        resp = await self._call("POST", f"/mofcom/submissions/{form_no}/revoke", json={"reason": reason})
        if isinstance(resp, Unavailable):
            return resp
        if resp.status_code == 200:
            body: dict[str, Any] = resp.json()
            return body
        return self._refused(resp)


class MofcomUnavailable(AilError):
    """MOFCOM did not answer a call the applicant waits for (503: try again)."""

    status_code = 503
    code = "mofcom_unavailable"


class MofcomRefused(AilError):
    """MOFCOM refused a query we make for the applicant (no verdict on the application: 502)."""

    status_code = 502
    code = "mofcom_refused"
