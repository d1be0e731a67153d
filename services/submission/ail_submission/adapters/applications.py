"""The application service, asked about an application this service never saw submitted (its
status, with the caller's own credentials, so another tenant's id stays a 404), and for the
bytes of a submitted attachment (its internal route, with the service credential: the sender
passes them to MOFCOM). A Protocol and its HTTP adapter (injectable transport)."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

import httpx

from ail_shared.auth import SERVICE_CREDENTIAL_HEADER
from ail_shared.errors import AilError, NotFound
from ail_submission.domain.commands import Credentials


class ApplicationServiceUnavailable(AilError):
    status_code = 503
    code = "application_service_unavailable"


class ApplicationService(Protocol):
    async def status(self, *, application_id: UUID, credentials: Credentials) -> str:
        """The application's status; ``NotFound`` when the caller may not see it."""
        ...

    async def attachment(self, *, application_id: UUID, attachment_id: str, enterprise_code: str) -> bytes:
        """The attachment's stored bytes; ``NotFound`` when it is gone,
        ``ApplicationServiceUnavailable`` when the service does not answer."""
        ...


class HttpApplicationService:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
        internal_token: str = "",
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.internal_token = internal_token

    async def aclose(self) -> None:
        await self.client.aclose()

    async def status(self, *, application_id: UUID, credentials: Credentials) -> str:
        try:
            resp = await self.client.get(f"/api/v1/applications/{application_id}", headers=dict(credentials))
        except httpx.HTTPError as exc:
            raise ApplicationServiceUnavailable(
                f"the application service did not answer: {exc!r}; try again"
            ) from exc
        if resp.status_code == 404:
            raise NotFound(f"application {application_id} not found")
        if resp.status_code != 200:
            raise ApplicationServiceUnavailable(
                f"the application service answered {resp.status_code}; try again"
            )
        return str(resp.json().get("status", "draft"))

    async def attachment(self, *, application_id: UUID, attachment_id: str, enterprise_code: str) -> bytes:
        try:
            resp = await self.client.get(
                f"/internal/applications/{application_id}/attachments/{attachment_id}",
                params={"enterprise_code": enterprise_code},
                headers={SERVICE_CREDENTIAL_HEADER: self.internal_token},
            )
        except httpx.HTTPError as exc:
            raise ApplicationServiceUnavailable(f"the application service did not answer: {exc!r}") from exc
        if resp.status_code == 404:
            raise NotFound(f"attachment {attachment_id} of application {application_id} is gone")
        if resp.status_code != 200:
            raise ApplicationServiceUnavailable(
                f"the application service answered {resp.status_code} for attachment {attachment_id}"
            )
        return resp.content
