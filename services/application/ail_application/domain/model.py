"""The application aggregate and the key-agri filing. They decide and record events; never do I/O,
never read the clock or files: the handlers pass ``on`` (the China date), ``now`` and the reference
data in.

Which status allows what, what a MOFCOM answer leads to and the forward-only rule are
``ail_shared.lifecycle`` (one home for every service: tests/unit/test_one_home.py); the
aggregate applies them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

from ail_application.domain.attachments import ALLOWED as ALLOWED_TYPES
from ail_application.domain.attachments import MAX_BYTES, sniff
from ail_application.domain.contracts import ContractInfo, compute_iron_ore
from ail_application.domain.form import DEFAULTS, compute
from ail_application.domain.reference import ReferenceData, is_iron_ore
from ail_application.domain.validation import validate_for_submission
from ail_shared import lifecycle
from ail_shared.errors import Conflict, FieldProblem, InvalidInput
from ail_shared.events import ApplicationSubmitted, Event
from ail_shared.inputs import ATTACHMENTS_MAX, text_problem
from ail_shared.lifecycle import Action, ensure_allowed, moves_forward, status_after_review
from ail_shared.lifecycle import ApplicationStatus as S


def serial_no(year: int, sequence: int) -> str:
    """``NA`` + 2-digit year + 14 digits (DOMAIN section 3)."""
    return f"NA{year % 100:02d}{sequence:014d}"


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
    # Values a temporary save could not read, as typed: {path: {"value", "reason"}}
    # (domain/unparsed.py); each one blocks submission until the field is given again.
    raw_inputs: dict[str, Any] = field(default_factory=dict)
    form_no: str | None = None
    license_no: str | None = None
    applied_at: datetime | None = None
    status_reason: str | None = None
    submission_id: UUID | None = None
    copied_from: UUID | None = None
    # A change or extension (变更 / 延期): {"license_no", "max_quantity", "max_uses"} of the license
    # it replaces (what the customs service allowed when it was asked for).
    replaces: dict[str, Any] | None = None
    # The license's own state after issue (ail_shared.licenses), as the customs service announces it.
    license_state: str | None = None
    version: int = 1
    created_at: datetime | None = None
    updated_at: datetime | None = None
    events: list[Event] = field(default_factory=list, repr=False)

    # What the unit of work needs to write the recorded events (ail_shared.unit_of_work).
    @property
    def aggregate_id(self) -> str:
        return str(self.id)

    @property
    def tenant(self) -> str:
        return self.enterprise_code

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
        unparsed: dict[str, Any] | None = None,
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
        app._keep_raw(given=(), kept=unparsed or {})
        app.recompute(ref, on)
        return app

    def copy(self, *, serial: str, ref: ReferenceData, on: date) -> Application:
        """A new draft with the same form and contracts; no form/license numbers."""
        ensure_allowed(self.status, Action.COPY)
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
            raw_inputs=dict(self.raw_inputs),
            copied_from=self.id,
        )
        new.recompute(ref, on)
        return new

    def reissue(
        self,
        *,
        new_id: UUID,
        serial: str,
        license_no: str,
        max_quantity: Decimal,
        max_uses: int,
        ref: ReferenceData,
        on: date,
    ) -> Application:
        """The draft of a change or extension of this application's license: a copy that names
        the license it replaces and covers at most ``max_quantity`` (one goods line is cut down
        to it; with several the applicant chooses, and submission checks the total)."""
        new = Application(
            id=new_id,
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
            replaces={"license_no": license_no, "max_quantity": str(max_quantity), "max_uses": max_uses},
        )
        goods = list(new.form.get("goods") or [])
        if len(goods) == 1 and Decimal(str(goods[0].get("quantity") or 0)) > max_quantity:
            goods[0] = {**goods[0], "quantity": str(max_quantity)}
            new.form["goods"] = goods
        new.recompute(ref, on)
        return new

    def license_state_changed(self, *, license_no: str, state: str) -> bool:
        """The license of this application changed state (out of valid; back to valid only from
        used up, when Customs gave a use back: ``LicenseReopened``)."""
        if self.license_no != license_no or self.license_state == state:
            return False
        self.license_state = state
        return True

    # -- editing ---------------------------------------------------------------------------
    def edit(
        self,
        changes: dict[str, Any],
        *,
        ref: ReferenceData,
        on: date,
        unparsed: dict[str, Any] | None = None,
    ) -> None:
        """Merge ``changes`` (a partial form; ``null`` clears a field) and recompute. A field in
        ``unparsed`` (typed, but not readable) replaces the stored value by the value as typed."""
        ensure_allowed(self.status, Action.EDIT)
        kept = unparsed or {}
        merged = dict(self.form)
        for k, v in changes.items():
            if v is None:
                merged.pop(k, None)
            else:
                merged[k] = v
        for path in kept:
            if "." not in path:
                merged.pop(path, None)
        self.form = merged
        self._keep_raw(given={*changes, *(p.split(".")[0] for p in kept)}, kept=kept)
        self.recompute(ref, on)

    def set_contract(self, contract: dict[str, Any], *, unparsed: dict[str, Any] | None = None) -> None:
        ensure_allowed(self.status, Action.EDIT)
        self.contract = contract
        self._keep_raw(given={"contract"}, kept=unparsed or {})

    def contract_raw_inputs(self) -> dict[str, Any]:
        return {p: v for p, v in self.raw_inputs.items() if p.startswith("contract.")}

    def _keep_raw(self, *, given: Any, kept: dict[str, Any]) -> None:
        """A field given again (and everything under it) forgets its value as typed; the values
        of this save that could not be read are kept."""
        names = set(given)
        raw = {
            path: v
            for path, v in self.raw_inputs.items()
            if not any(path == n or path.startswith(n + ".") for n in names)
        }
        raw.update(kept)
        self.raw_inputs = raw

    def contract_form(self, last_applicant: dict[str, Any] | None) -> tuple[ContractInfo, bool, bool]:
        """(contract, saved?, prefilled?): the saved contract, or a new one whose applicant part
        is pre-filled from the enterprise's last entry (or from the application itself)."""
        if self.contract is not None:
            return ContractInfo.model_validate(self.contract), True, False
        contract = ContractInfo.model_validate({"applicant": last_applicant or {}})
        if not last_applicant:
            contract.applicant.enterprise_code = self.enterprise_code
            contract.applicant.name = self.importer_name or None
        return contract, False, last_applicant is not None

    def set_iron_ore_contract(self, contract: dict[str, Any]) -> None:
        ensure_allowed(self.status, Action.EDIT)
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
        ensure_allowed(self.status, Action.EDIT)
        self.iron_ore_contract = None

    def ensure_deletable(self) -> None:
        ensure_allowed(self.status, Action.DELETE)

    def recompute(self, ref: ReferenceData, on: date) -> None:
        self.computed = compute(self.form, year=self.year, ref=ref, on=on)
        if self.issuing_agency is None:
            # Not chosen at creation: the catalogue names the agency once the commodity is known.
            entry = ref.commodity(self.form.get("commodity_code"), self.year)
            self.issuing_agency = entry.issuing_agency if entry else None

    # -- attachments -----------------------------------------------------------------------
    def attachment(self, *, filename: str, content: bytes, held: int, size: int | None = None) -> Attachment:
        """A new attachment of this application (DOMAIN section 5): electronic licenses only,
        while the form may be edited, at most 1 MB, an allowed type by content (never by name),
        at most ``ATTACHMENTS_MAX`` per application (``held`` are there already). ``content`` may
        be only the first ``MAX_BYTES + 1`` bytes of a larger file whose whole ``size`` the
        upload gave: the size error quotes that size, or says "more than 1 MiB", never the
        read cap."""
        if not self.electronic_license:
            raise Conflict("attachments are only for electronic-license applications; this one is on paper")
        ensure_allowed(self.status, Action.ATTACHMENTS)
        problems = []
        if len(content) > MAX_BYTES:
            whole = size if size is not None and size > MAX_BYTES else None
            told = f"{whole} bytes" if whole is not None else "more than 1 MiB"
            problems.append(
                FieldProblem("file", f"the file is {told}: over the limit of {MAX_BYTES} bytes (1 MiB)")
            )
        media_type = sniff(content)
        if media_type is None:
            problems.append(
                FieldProblem(
                    "file", f"the content is not an allowed type ({ALLOWED_TYPES}), whatever its name"
                )
            )
        if not content:
            problems = [FieldProblem("file", "the file is empty")]
        reason = text_problem(filename)
        if reason is not None:
            problems.append(FieldProblem("file.filename", reason))
        if held >= ATTACHMENTS_MAX:
            problems.append(
                FieldProblem(
                    "file", f"the application has {held} attachments, the most it may have; delete one first"
                )
            )
        if problems or media_type is None:
            raise InvalidInput("the attachment is refused", problems)
        return Attachment(
            id=uuid4(),
            application_id=self.id,
            enterprise_code=self.enterprise_code,
            filename=filename[:255] or "attachment",
            content_type=media_type,
            content=content,
        )

    def ensure_attachments_changeable(self) -> None:
        ensure_allowed(self.status, Action.ATTACHMENTS)

    # -- submission ------------------------------------------------------------------------
    def submit(
        self,
        *,
        submitted_by: str,
        ref: ReferenceData,
        on: date,
        attachments: list[dict[str, Any]] | None = None,
    ) -> None:
        """Validate the whole form as of ``on`` (all problems at once), then hand it to the
        submission flow (``ApplicationSubmitted`` with the snapshot). ``attachments`` (id,
        filename, content type, size, sha256 of each) go into the snapshot, so their content
        hashes are signed with the form and MOFCOM checks the bytes it receives against them."""
        ensure_allowed(self.status, Action.SUBMIT)
        self.recompute(ref, on)
        problems = validate_for_submission(self, ref, on=on)
        if problems:
            raise InvalidInput(f"the application cannot be submitted: {len(problems)} problem(s)", problems)
        self.status = lifecycle.AFTER_SUBMITTED
        self.status_reason = None
        # A resubmission (after a revocation or a first-review rejection) is a new MOFCOM form:
        # the previous form's numbers are not this one's, so none shows until MOFCOM answers
        # (issue 13, item 12); the status service's history keeps the previous ones.
        self.form_no = self.license_no = self.applied_at = None
        self.submission_id = uuid4()
        self.events.append(
            ApplicationSubmitted(
                application_id=str(self.id),
                serial_no=self.serial_no,
                enterprise_code=self.enterprise_code,
                submission_id=str(self.submission_id),
                submitted_by=submitted_by,
                snapshot={**self.snapshot(), "attachments": _jsonable(attachments or [])},
            )
        )

    def snapshot(self) -> dict[str, Any]:
        """The complete form as submitted: what the signer signs and MOFCOM checks. The names of
        ApplicationSummary (shared events) are top-level keys. A new key goes into ``parts``."""
        c = self.computed
        parts: dict[str, Any] = {
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
            "commodity_category": c.get("commodity_category") or "",
            "commodity_grouping": c.get("commodity_grouping") or "",
            "contract": self.contract,
            "iron_ore_contract": self.iron_ore_contract,
        }
        if self.replaces:
            # MOFCOM sees what this application replaces; the license's remarks (备注) name it.
            parts["replaces_license_no"] = self.replaces.get("license_no")
            parts["replacement_max_uses"] = self.replaces.get("max_uses")
        snapshot: dict[str, Any] = _jsonable(parts)
        return snapshot

    # -- what the submission flow and MOFCOM answer (ail.submission, ail.signer) ---------------
    # Each returns whether the application changed. Answers of one submission apply only to the
    # submission the application carries (``submission_id``); review results, revocation and the
    # license only to its MOFCOM form (``form_no``); and only forward (lifecycle.moves_forward),
    # so duplicates, late answers and out-of-order deliveries change nothing.
    def _in_flight(self, submission_id: str) -> bool:
        return self.status is S.SUBMITTING and str(self.submission_id) == submission_id

    def submission_failed(self, *, submission_id: str, reason: str) -> bool:
        """SigningFailed, SubmissionRejected, or the submission event set aside: back to draft
        with the reason kept, to be corrected and submitted again."""
        if not self._in_flight(submission_id) or not moves_forward(self.status, lifecycle.AFTER_FAILED):
            return False
        self.status = lifecycle.AFTER_FAILED
        self.status_reason = reason
        return True

    def signing_deferred(self, *, submission_id: str, reason: str) -> bool:
        """The submission waits (for its e-key on a signer host: SigningDeferred; for MOFCOM to
        answer: SubmissionDelayed): it stays submitting and says why (it goes on by itself;
        SubmissionAccepted clears the reason)."""
        if not self._in_flight(submission_id):
            return False
        self.status_reason = reason
        return True

    def submission_accepted(self, *, submission_id: str, form_no: str, applied_at: datetime) -> bool:
        if not self._in_flight(submission_id) or not moves_forward(self.status, lifecycle.AFTER_ACCEPTED):
            return False
        self.status = lifecycle.AFTER_ACCEPTED
        self.status_reason = None
        self.form_no = form_no
        self.license_no = None
        self.applied_at = applied_at
        return True

    def _forward(self, form_no: str | None, new: S) -> bool:
        if form_no is not None and self.form_no != form_no:
            return False
        if not moves_forward(self.status, new):
            return False
        self.status = new
        return True

    def review_result(
        self, *, form_no: str, stage: str, result: str, opinion: str, license_no: str | None
    ) -> bool:
        if not self._forward(form_no, status_after_review(stage, result)):
            return False
        self.status_reason = opinion or None
        if license_no:
            self.license_no = license_no
        return True

    def revoked(self, *, form_no: str | None, reason: str = "") -> bool:
        if not self._forward(form_no, lifecycle.AFTER_REVOKED):
            return False
        self.status_reason = lifecycle.revoked_reason(reason)
        return True

    def license_issued(self, *, form_no: str, license_no: str) -> bool:
        if not self._forward(form_no, lifecycle.AFTER_ISSUED):
            return False
        self.license_no = license_no
        return True


@dataclass
class Attachment:
    id: UUID
    application_id: UUID
    enterprise_code: str
    filename: str
    content_type: str
    content: bytes = field(repr=False)
    created_at: datetime | None = None

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


@dataclass(frozen=True)
class EkeyBinding:
    """The e-key an enterprise bound (EkeyBound on ail.submission): the submit precondition."""

    enterprise_code: str
    ekey_serial: str
    subject: str
    certificate_pem: str
    bound_at: datetime

    def replaces(self, current: EkeyBinding | None) -> bool:
        """A later binding replaces an earlier one; a late, older event changes nothing."""
        return current is None or current.bound_at <= self.bound_at


def unbinding_ends(current: EkeyBinding | None, *, ekey_serial: str, bound_at: datetime) -> bool:
    """EkeyUnbound ends the binding it names (serial and bound_at): a binding made later (a
    rebind) is not the one withdrawn and stays."""
    return current is not None and current.ekey_serial == ekey_serial and current.bound_at <= bound_at


def ensure_ekey_bound(enterprise_code: str, binding: EkeyBinding | None) -> None:
    """Submit precondition: the enterprise has bound an e-key (POST /api/v1/ekey-bindings)."""
    if binding is None:
        raise Conflict(
            f"enterprise {enterprise_code} has no e-key bound: list the e-keys plugged in with "
            "GET /api/v1/ekeys, bind one with POST /api/v1/ekey-bindings, then submit again"
        )


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
