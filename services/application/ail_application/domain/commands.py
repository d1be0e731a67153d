"""Commands of the application service: what a client (or a worker) asks for, named in the
imperative. Data only; ``service_layer/handlers.py`` has one handler per command
(``COMMAND_HANDLERS``). ``tenant`` says who asks and which enterprises the command may touch."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from ail_application.domain.contracts import ContractInfo, IronOreContract
from ail_application.domain.form import DraftCreate, FormFields
from ail_shared.auth import Tenant


@dataclass(frozen=True)
class CreateDraft:
    tenant: Tenant
    form: DraftCreate


@dataclass(frozen=True)
class EditDraft:
    tenant: Tenant
    application_id: UUID
    changes: FormFields
    # If-Match: the application version the client read (None: no If-Match, or *).
    expected_version: int | None = None


@dataclass(frozen=True)
class DeleteApplication:
    tenant: Tenant
    application_id: UUID


@dataclass(frozen=True)
class DeleteApplications:
    """Batch delete: each id on its own, a result for each."""

    tenant: Tenant
    ids: list[UUID]


@dataclass(frozen=True)
class CopyApplication:
    tenant: Tenant
    application_id: UUID
    count: int


@dataclass(frozen=True)
class SaveContract:
    tenant: Tenant
    application_id: UUID
    contract: ContractInfo
    # If-Match: the application version the client read (None: no If-Match, or *).
    expected_version: int | None = None


@dataclass(frozen=True)
class SaveIronOreContract:
    tenant: Tenant
    application_id: UUID
    contract: IronOreContract
    # If-Match: the application version the client read (None: no If-Match, or *).
    expected_version: int | None = None


@dataclass(frozen=True)
class RemoveIronOreContract:
    tenant: Tenant
    application_id: UUID
    # If-Match: the application version the client read (None: no If-Match, or *).
    expected_version: int | None = None


@dataclass(frozen=True)
class SubmitApplication:
    tenant: Tenant
    application_id: UUID


@dataclass(frozen=True)
class SubmitApplications:
    """Batch submit: raw ids as given (a bad one is refused in its result), each on its own."""

    tenant: Tenant
    ids: list[str]


@dataclass(frozen=True)
class AddAttachment:
    tenant: Tenant
    application_id: UUID
    filename: str
    content: bytes  # read up to the limit and one byte more, never the whole of a large file
    size: int | None = None  # the file's whole size, when the upload says it


@dataclass(frozen=True)
class DeleteAttachment:
    tenant: Tenant
    application_id: UUID
    attachment_id: UUID


@dataclass(frozen=True)
class FileKeyAgri:
    """Save a key agricultural products filing (重农信息备案); the reporter sends it to MOFCOM."""

    tenant: Tenant
    body: dict[str, Any]


@dataclass(frozen=True)
class ReportKeyAgriFilingAgain:
    tenant: Tenant
    filing_id: UUID


@dataclass(frozen=True)
class ReportDueFilings:
    """The filing reporter's round: report the filings that are due now (at most ``limit``)."""

    limit: int = 20
