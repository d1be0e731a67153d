"""The application aggregate. Decides and records events; never does I/O.

Status rules (DOMAIN section 4) live here and nowhere else."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

from ail_application.domain.contracts import compute_iron_ore
from ail_application.domain.form import DEFAULTS, compute
from ail_application.domain.reference import ReferenceData, is_iron_ore
from ail_shared.errors import Conflict, FieldProblem, InvalidInput
from ail_shared.events import ApplicationSubmitted, Event
from ail_shared.lifecycle import ApplicationStatus as S

EDITABLE = frozenset({S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED})
DELETABLE = frozenset({S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED})
SUBMITTABLE = frozenset({S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED})
REVOCABLE = frozenset({S.PENDING_FIRST_REVIEW})
# Copy and print: any status. Approval-status queries: any status but draft.


def serial_no(year: int, sequence: int) -> str:
    """``NA`` + 2-digit year + 14 digits (DOMAIN section 3)."""
    return f"NA{year % 100:02d}{sequence:014d}"


def _refuse(action: str, status: S, allowed: frozenset[S]) -> Conflict:
    names = ", ".join(sorted(s.value for s in allowed))
    return Conflict(f"an application in status '{status.value}' cannot be {action}; allowed in: {names}")


@dataclass
class Application:
    id: UUID
    serial_no: str
    enterprise_code: str
    year: int
    importer_name: str = ""
    status: S = S.DRAFT
    one_batch_one_license: bool = False
    issuing_agency: str | None = None
    electronic_license: bool = True
    form: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] | None = None
    iron_ore_contract: dict[str, Any] | None = None
    form_no: str | None = None
    license_no: str | None = None
    applied_at: datetime | None = None
    status_reason: str | None = None
    submission_id: UUID | None = None
    copied_from: UUID | None = None
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False)

    # -- creation --------------------------------------------------------------------------
    @classmethod
    def new_draft(
        cls,
        *,
        serial: str,
        enterprise_code: str,
        importer_name: str,
        year: int,
        form: dict[str, Any],
        ref: ReferenceData,
        on: date,
        one_batch_one_license: bool | None = None,
        issuing_agency: str | None = None,
        electronic_license: bool | None = None,
    ) -> Application:
        entry = ref.commodity(form.get("commodity_code"), year)
        app = cls(
            id=uuid4(),
            serial_no=serial,
            enterprise_code=enterprise_code,
            importer_name=importer_name,
            year=year,
            one_batch_one_license=bool(one_batch_one_license),
            issuing_agency=issuing_agency or (entry.issuing_agency if entry else None),
            electronic_license=(
                electronic_license
                if electronic_license is not None
                else (entry.electronic if entry else True)
            ),
            form={**DEFAULTS, **{k: v for k, v in form.items() if v is not None}},
        )
        app.recompute(ref, on)
        return app

    def copy(self, *, serial: str, ref: ReferenceData, on: date) -> Application:
        """A new draft with the same form and contracts; no form/license numbers (any status)."""
        new = Application(
            id=uuid4(),
            serial_no=serial,
            enterprise_code=self.enterprise_code,
            importer_name=self.importer_name,
            year=self.year,
            one_batch_one_license=self.one_batch_one_license,
            issuing_agency=self.issuing_agency,
            electronic_license=self.electronic_license,
            form=dict(self.form),
            contract=dict(self.contract) if self.contract is not None else None,
            iron_ore_contract=dict(self.iron_ore_contract) if self.iron_ore_contract is not None else None,
            copied_from=self.id,
        )
        new.recompute(ref, on)
        return new

    # -- editing ---------------------------------------------------------------------------
    def _ensure_editable(self) -> None:
        if self.status not in EDITABLE:
            raise _refuse("edited", self.status, EDITABLE)

    def edit(self, changes: dict[str, Any], *, ref: ReferenceData, on: date) -> None:
        """Merge ``changes`` (a partial form; ``null`` clears a field) and recompute."""
        self._ensure_editable()
        merged = dict(self.form)
        for k, v in changes.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        self.form = merged
        self.recompute(ref, on)

    def set_contract(self, contract: dict[str, Any]) -> None:
        self._ensure_editable()
        self.contract = contract

    def set_iron_ore_contract(self, contract: dict[str, Any]) -> None:
        self._ensure_editable()
        if not is_iron_ore(self.form.get("commodity_code")):
            raise InvalidInput(
                "the iron-ore contract is accepted only for iron ore",
                [
                    FieldProblem(
                        "commodity_code",
                        f"commodity {self.form.get('commodity_code') or '(none)'} is not iron ore"
                        " (HS heading 2601); set an iron-ore commodity code first",
                    )
                ],
            )
        contract = {**contract, "importer_code": self.enterprise_code, "importer_name": self.importer_name}
        contract.setdefault("year", self.year)
        if contract.get("year") is None:
            contract["year"] = self.year
        self.iron_ore_contract = compute_iron_ore(contract)

    def remove_iron_ore_contract(self) -> None:
        self._ensure_editable()
        self.iron_ore_contract = None

    def ensure_deletable(self) -> None:
        if self.status not in DELETABLE:
            raise _refuse("deleted", self.status, DELETABLE)

    def ensure_revocable(self) -> None:
        """Revoke (撤销) is handled by the submission flow; the rule lives here with the others."""
        if self.status not in REVOCABLE:
            raise _refuse("revoked", self.status, REVOCABLE)

    def recompute(self, ref: ReferenceData, on: date) -> None:
        self.computed = compute(self.form, year=self.year, ref=ref, on=on)
        if self.issuing_agency is None:
            # Not chosen at creation: the catalogue names the agency once the commodity is known.
            entry = ref.commodity(self.form.get("commodity_code"), self.year)
            self.issuing_agency = entry.issuing_agency if entry else None

    # -- submission ------------------------------------------------------------------------
    def submit(self, *, submitted_by: str, ref: ReferenceData | None = None, on: date | None = None) -> None:
        """Validate the whole form (all problems at once), then hand it to the submission flow."""
        from ail_application.domain.reference import load
        from ail_application.domain.validation import validate_for_submission

        if self.status not in SUBMITTABLE:
            raise _refuse("submitted", self.status, SUBMITTABLE)
        ref = ref or load()
        self.recompute(ref, on or date.today())
        problems = validate_for_submission(self, ref)
        if problems:
            raise InvalidInput(f"the application cannot be submitted: {len(problems)} problem(s)", problems)
        self.status = S.SUBMITTING
        self.status_reason = None
        self.submission_id = uuid4()
        self.events.append(
            ApplicationSubmitted(
                application_id=str(self.id),
                serial_no=self.serial_no,
                enterprise_code=self.enterprise_code,
                submission_id=str(self.submission_id),
                submitted_by=submitted_by,
                snapshot=self.snapshot(),
            )
        )

    def snapshot(self) -> dict[str, Any]:
        """The complete form as submitted: what the signer signs and MOFCOM checks. The names of
        ApplicationSummary (shared events) are top-level keys."""
        c = self.computed
        snapshot: dict[str, Any] = _jsonable(
            {
                "id": str(self.id),
                "serial_no": self.serial_no,
                "enterprise_code": self.enterprise_code,
                "importer_code": self.enterprise_code,
                "importer_name": self.importer_name,
                "year": self.year,
                "one_batch_one_license": self.one_batch_one_license,
                "issuing_agency": self.issuing_agency or "",
                "electronic_license": self.electronic_license,
                **self.form,
                "goods": c.get("goods", []),
                "commodity_name": c.get("commodity_name") or "",
                "unit": c.get("unit") or "",
                "total_quantity": c.get("total_quantity"),
                "total_value": c.get("total_value"),
                "total_value_usd": c.get("total_value_usd"),
                "valid_until": c.get("valid_until"),
                "overflow_tolerance_pct": c.get("overflow_tolerance_pct"),
                "contract": self.contract,
                "iron_ore_contract": self.iron_ore_contract,
            }
        )
        return snapshot


def _jsonable(v: Any) -> Any:
    """Decimals and dates as strings, so the snapshot is plain JSON (canonicalised by the signer)."""
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool | int | str) or v is None:
        return v
    if isinstance(v, date | datetime):
        return v.isoformat()
    return str(v)
