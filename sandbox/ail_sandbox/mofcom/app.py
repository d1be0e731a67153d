"""HTTP API of the MOFCOM sandbox.

MOFCOM's side:   POST /mofcom/eligibility, POST /mofcom/certificates,
                 DELETE /mofcom/certificates/{enterprise_code}/{ekey_serial} (withdrawn: later
                 submissions signed with it are refused), POST /mofcom/submissions
                 (Idempotency-Key header), GET /mofcom/submissions/{form_no},
                 GET /mofcom/submissions?idempotency_key=, POST /mofcom/submissions/{form_no}/revoke.
                 Review results are pushed to ``callback_url`` (the submission service's
                 ``/internal/mofcom/results``), retried until acknowledged, each signed with
                 ``AIL_MOFCOM_CALLBACK_SECRET`` (``ail_shared.auth.callback_headers``).
Tests' side:     POST /control (faults and review rules, partial update), POST /control/reset,
                 GET /control, GET /control/received (submissions received and created per
                 idempotency key), GET /control/applications/{application_id},
                 GET /control/certificates?enterprise_code= (registered and withdrawn ones); scopes,
                 the same settings for the matching submissions only (ail_sandbox.mofcom.control):
                 POST /control/scopes, GET /control/scopes[/{id}], PATCH and DELETE
                 /control/scopes/{id}.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError

from ail_sandbox.mofcom.control import (
    MAX_SCOPES,
    Control,
    Scope,
    ScopeIn,
    Scopes,
    facts_of,
    overlay,
)
from ail_sandbox.mofcom.filings import install_filing_routes
from ail_sandbox.mofcom.rules import (
    CATALOGUE,
    ReviewRules,
    SignatureRefused,
    Submission,
    acceptance_problems,
    attachment_problem,
    decode_payload,
    eligibility,
    form_no,
    license_no,
    verify_signature,
)
from ail_shared import metrics, retry
from ail_shared.auth import callback_headers
from ail_shared.calendar import china_date
from ail_shared.logging import configure_logging, get_logger

log = get_logger("sandbox.mofcom")
# MOFCOM's day is the day in China (the rate in force at a review is that day's).

# Review results are pushed like MOFCOM does, on the shared retry policy: connection errors,
# time-outs, 429 and 5xx (and the receiver's "409, retry: true") retried, for about four minutes.
CALLBACK_POLICY = retry.RetryPolicy(attempts=30, base=0.2, cap=10.0)


def _asks_again(resp: httpx.Response) -> bool:
    """The submission service's "not yet" (the result names a submission still being sent)."""
    if resp.status_code != 409:
        return False
    try:
        return bool(resp.json().get("retry") is True)
    except ValueError:
        return False


class State:
    def __init__(self) -> None:
        # Review delays: a few seconds in the dev profile, half a second in test profiles.
        default_delay = "0.5" if os.environ.get("AIL_PROFILE", "dev").startswith("test") else "3"
        self.control = Control(
            first_delay=float(os.environ.get("AIL_MOFCOM_FIRST_DELAY", default_delay)),
            second_delay=float(os.environ.get("AIL_MOFCOM_SECOND_DELAY", default_delay)),
            callback_url=os.environ.get(
                "AIL_MOFCOM_CALLBACK_URL",
                os.environ.get("AIL_SUBMISSION_URL", "http://127.0.0.1:18102") + "/internal/mofcom/results",
            ),
        )
        self.default_control = self.control.model_copy(deep=True)
        self.rng = random.Random()
        # Not cleared by /control/reset: the tests running beside the one that resets own them.
        self.scopes = Scopes()
        self.reset_data()
        self._load_certificates()

    def reset_data(self) -> None:
        self.certificates: dict[tuple[str, str], str] = {}
        self.withdrawn: list[dict[str, str]] = []  # withdrawals, in the order made (tests read them)
        self.by_key: dict[str, Submission] = {}
        self.by_form: dict[str, Submission] = {}
        self.received: dict[str, int] = defaultdict(int)
        self.created: dict[str, int] = defaultdict(int)
        self.form_seq: dict[tuple[int, str], int] = defaultdict(int)
        self.license_seq = 0
        self._load_sequences()
        self.deliveries = 0
        self.tasks: set[asyncio.Task[None]] = set()

    # MOFCOM never hands out a number twice: the sequences outlive a restart of the sandbox.
    def _seq_file(self) -> Path | None:
        folder = os.environ.get("AIL_DEVSTACK_DIR")
        return Path(folder) / "sandbox-mofcom-sequences.json" if folder else None

    def _load_sequences(self) -> None:
        path = self._seq_file()
        if path is None or not path.exists():
            return
        data = json.loads(path.read_text())
        for k, v in data.get("form", {}).items():
            year, code = k.split(":", 1)
            self.form_seq[(int(year), code)] = int(v)
        self.license_seq = int(data.get("license", 0))

    def save_sequences(self) -> None:
        path = self._seq_file()
        if path is None:
            return
        data = {"form": {f"{y}:{c}": n for (y, c), n in self.form_seq.items()}, "license": self.license_seq}
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data))
        tmp.replace(path)

    # Nor does it forget a registered certificate: a restart of the sandbox (an outage test kills
    # it) must not refuse the submissions in flight as certificate_not_registered.
    def _cert_file(self) -> Path | None:
        folder = os.environ.get("AIL_DEVSTACK_DIR")
        return Path(folder) / "sandbox-mofcom-certificates.json" if folder else None

    def _load_certificates(self) -> None:
        path = self._cert_file()
        if path is None or not path.exists():
            return
        for row in json.loads(path.read_text()):
            self.certificates[(row["enterprise_code"], row["ekey_serial"])] = row["certificate_pem"]

    def save_certificates(self) -> None:
        path = self._cert_file()
        if path is None:
            return
        rows = [
            {"enterprise_code": e, "ekey_serial": s, "certificate_pem": pem}
            for (e, s), pem in self.certificates.items()
        ]
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rows))
        tmp.replace(path)

    def control_for(self, facts: dict[str, str]) -> tuple[Control, random.Random]:
        """The control in force for a request or submission with these facts (a matching
        scope's fields over the global control), and the random numbers it draws from."""
        if not self.scopes:
            return self.control, self.rng
        control, scope = self.scopes.control_for(self.control, facts)
        return control, (scope.rng if scope is not None and scope.rng is not None else self.rng)

    def rules(self, control: Control | None = None, rng: random.Random | None = None) -> ReviewRules:
        c = control or self.control
        return ReviewRules(
            first_delay=c.first_delay,
            second_delay=c.second_delay,
            contract_totals_rule=c.contract_totals_rule,
            first_reject_rate=c.first_reject_rate,
            second_reject_rate=c.second_reject_rate,
            rng=rng or self.rng,
        )


def submission_facts(sub: Submission) -> dict[str, str]:
    """What a scope matches in a submission MOFCOM holds: its snapshot's top-level fields and ids."""
    return facts_of(
        sub.snapshot,
        application_id=sub.application_id,
        enterprise_code=sub.enterprise_code,
        idempotency_key=sub.idempotency_key,
        form_no=sub.form_no,
    )


def _error(http_status: int, code: str, message: str, /, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=http_status)


class AttachmentIn(BaseModel):
    id: str
    filename: str = ""
    content_type: str = "application/octet-stream"
    sha256: str
    content: str  # base64


class SubmissionIn(BaseModel):
    application_id: str
    enterprise_code: str
    ekey_serial: str
    payload: str  # base64 of the RFC 8785 canonical snapshot that was signed
    signature: str  # base64
    algorithm: str = "ecdsa-p256-sha256"
    attachments: list[AttachmentIn] = Field(default_factory=list, max_length=20)


class CertificateIn(BaseModel):
    enterprise_code: str
    ekey_serial: str
    certificate_pem: str


class EligibilityIn(BaseModel):
    commodity_codes: list[str] = Field(min_length=1, max_length=20)
    year: int | None = None
    enterprise_code: str = ""


def create_app() -> FastAPI:
    configure_logging("sandbox-mofcom", os.environ.get("AIL_LOG_LEVEL", "INFO"))
    state = State()
    client_holder: dict[str, httpx.AsyncClient] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        client_holder["c"] = httpx.AsyncClient(timeout=httpx.Timeout(10.0, pool=30.0))
        yield
        for t in list(state.tasks):
            t.cancel()
        await client_holder["c"].aclose()

    app = FastAPI(title="MOFCOM sandbox", lifespan=lifespan)
    metrics.instrument(app)  # /metrics, like every service (ail_shared.metrics)
    app.state.sandbox = state
    app.state.clients = client_holder  # the callback client ("c"); a unit test may put its own here

    async def request_facts(request: Request) -> dict[str, str]:
        """What a scope matches in a request to MOFCOM's API: the body's top-level fields (and
        the signed snapshot's, for a submission), the Idempotency-Key, or, for a revoke, the
        submission it names. (Starlette hands the body read here on to the route.)"""
        path = request.url.path
        key = request.headers.get("Idempotency-Key")
        parts = path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["mofcom", "submissions"] and parts[3] == "revoke":
            sub = state.by_form.get(parts[2])
            return submission_facts(sub) if sub is not None else {"form_no": parts[2]}
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return facts_of(idempotency_key=key)
        if not isinstance(body, dict):
            return facts_of(idempotency_key=key)
        snapshot: dict[str, Any] | None = None
        if path == "/mofcom/submissions" and isinstance(body.get("payload"), str):
            with contextlib.suppress(ValueError):
                snapshot = decode_payload(body["payload"])[1]
        return facts_of(snapshot, body, idempotency_key=key)

    @app.middleware("http")
    async def misbehave(request: Request, call_next: Any) -> Any:
        path = request.url.path
        if request.method == "GET":
            return await call_next(request)
        control, rng = state.control, state.rng
        if state.scopes and path.startswith("/mofcom/"):
            control, rng = state.control_for(await request_facts(request))
        f = control.faults
        if not any(path.startswith(p) for p in f.paths):
            return await call_next(request)
        if f.slow_ms:
            await asyncio.sleep(f.slow_ms / 1000)
        roll = rng.random()
        if roll < f.error_rate:
            log.info("fault_500", path=path)
            return _error(500, "internal_error", "sandbox: injected 500")
        if roll < f.error_rate + f.timeout_rate:
            log.info("fault_timeout", path=path, processed=f.process_before_timeout)
            if f.process_before_timeout:
                await call_next(request)
            await asyncio.sleep(f.hang_seconds)
            return _error(504, "timeout", "sandbox: injected time-out")
        return await call_next(request)

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "service": "sandbox-mofcom", "submissions": len(state.by_form)}

    # ------------------------------------------------------------------ MOFCOM's API

    @app.post("/mofcom/eligibility")
    async def check_eligibility(body: EligibilityIn) -> dict[str, Any]:
        control, _ = state.control_for(facts_of(enterprise_code=body.enterprise_code))
        non_electronic = set(control.non_electronic)
        return {
            "results": [
                eligibility(c, non_electronic=non_electronic, year=body.year) for c in body.commodity_codes
            ]
        }

    @app.get("/mofcom/catalogue")
    async def catalogue() -> dict[str, Any]:
        return {"codes": sorted(CATALOGUE)}

    @app.post("/mofcom/certificates")
    async def register_certificate(body: CertificateIn) -> Any:
        from cryptography import x509

        try:
            cert = x509.load_pem_x509_certificate(body.certificate_pem.encode())
        except ValueError as exc:
            return _error(422, "certificate_invalid", f"certificate_pem is not a PEM certificate: {exc}")
        subject = cert.subject.rfc4514_string()
        if body.enterprise_code not in subject:
            return _error(
                422, "certificate_mismatch", f"certificate subject {subject} does not name the enterprise"
            )
        state.certificates[(body.enterprise_code, body.ekey_serial)] = body.certificate_pem
        state.save_certificates()
        return {"registered": True, "enterprise_code": body.enterprise_code, "subject": subject}

    @app.delete("/mofcom/certificates/{enterprise_code}/{ekey_serial}")
    async def withdraw_certificate(enterprise_code: str, ekey_serial: str) -> Any:
        # A withdrawn certificate verifies nothing more: a submission signed with it is refused
        # as certificate_not_registered, until the e-key is bound (registered) again.
        if state.certificates.pop((enterprise_code, ekey_serial), None) is None:
            return _error(
                404,
                "certificate_not_registered",
                f"no certificate registered for e-key {ekey_serial} of {enterprise_code}",
            )
        state.withdrawn.append(
            {
                "enterprise_code": enterprise_code,
                "ekey_serial": ekey_serial,
                "at": datetime.now(UTC).isoformat(),
            }
        )
        state.save_certificates()
        log.info("certificate_withdrawn", enterprise_code=enterprise_code, ekey_serial=ekey_serial)
        return {"withdrawn": True, "enterprise_code": enterprise_code, "ekey_serial": ekey_serial}

    @app.post("/mofcom/submissions", status_code=201)
    async def submit(
        body: SubmissionIn, idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
    ) -> Any:
        if not idempotency_key:
            return _error(400, "idempotency_key_required", "send the Idempotency-Key header")
        state.received[idempotency_key] += 1
        existing = state.by_key.get(idempotency_key)
        if existing is not None:
            return JSONResponse(existing.view(), status_code=200)
        cert = state.certificates.get((body.enterprise_code, body.ekey_serial))
        if cert is None:
            return _error(
                422,
                "certificate_not_registered",
                f"no certificate registered for e-key {body.ekey_serial} of {body.enterprise_code}",
            )
        try:
            raw, snapshot = decode_payload(body.payload)
        except ValueError as exc:
            return _error(422, "payload_invalid", f"payload is not base64 JSON: {exc}")
        try:
            verify_signature(
                certificate_pem=cert, payload=raw, signature_b64=body.signature, algorithm=body.algorithm
            )
        except SignatureRefused as exc:
            log.info("signature_refused", key=idempotency_key, reason=exc.reason)
            return _error(422, exc.reason, exc.detail)
        if str(snapshot.get("enterprise_code", body.enterprise_code)) != body.enterprise_code:
            return _error(422, "enterprise_mismatch", "the payload names another enterprise")
        try:
            received = [
                {**a.model_dump(exclude={"content"}), "content": base64.b64decode(a.content, validate=True)}
                for a in body.attachments
            ]
        except ValueError as exc:
            return _error(422, "attachment_invalid", f"an attachment's content is not base64: {exc}")
        mismatch = attachment_problem(snapshot, received)
        if mismatch is not None:
            return _error(422, "attachment_mismatch", mismatch)
        refused = acceptance_problems(snapshot)
        if refused:
            details = [{"field": p.field, "reason": p.message, "code": p.code} for p in refused]
            return _error(422, refused[0].code, "；".join(p.message for p in refused), details=details)
        replaces = str(snapshot.get("replaces_license_no") or "")
        if replaces:
            # MOFCOM sees that this application replaces a license: it must be one it issued to
            # this enterprise and has not cancelled.
            old = next((s for s in state.by_form.values() if s.license_no == replaces), None)
            if old is None or old.enterprise_code != body.enterprise_code:
                return _error(
                    422, "replaces_unknown_license", f"license {replaces} was not issued to this enterprise"
                )
            if old.license_cancelled_at is not None:
                return _error(422, "replaces_cancelled_license", f"license {replaces} is cancelled")
        year = int(snapshot.get("year") or datetime.now(UTC).year)
        state.form_seq[(year, body.enterprise_code)] += 1
        state.save_sequences()
        sub = Submission(
            idempotency_key=idempotency_key,
            form_no=form_no(year, body.enterprise_code, state.form_seq[(year, body.enterprise_code)]),
            application_id=body.application_id,
            enterprise_code=body.enterprise_code,
            snapshot=snapshot,
            applied_at=datetime.now(UTC),
            attachments=received,
        )
        state.by_key[idempotency_key] = sub
        state.by_form[sub.form_no] = sub
        state.created[idempotency_key] += 1
        task = asyncio.create_task(review(sub))
        state.tasks.add(task)
        task.add_done_callback(state.tasks.discard)
        log.info("submission_accepted", key=idempotency_key, form_no=sub.form_no)
        return JSONResponse(sub.view(), status_code=201)

    @app.get("/mofcom/submissions")
    async def find_submission(idempotency_key: str) -> Any:
        sub = state.by_key.get(idempotency_key)
        if sub is None:
            return _error(404, "not_found", f"no submission with idempotency key {idempotency_key}")
        return sub.view()

    @app.get("/mofcom/submissions/{form}")
    async def submission_status(form: str) -> Any:
        sub = state.by_form.get(form)
        if sub is None:
            return _error(404, "not_found", f"no submission with form no. {form}")
        return sub.view()

    @app.post("/mofcom/submissions/{form}/revoke")
    async def revoke(form: str, request: Request) -> Any:
        sub = state.by_form.get(form)
        raw = await request.body()
        try:
            given = json.loads(raw) if raw else {}
        except ValueError:
            return _error(422, "invalid_body", "the revoke body is not JSON")
        reason = given.get("reason") if isinstance(given, dict) else None
        if sub is None:
            return _error(404, "not_found", f"no submission with form no. {form}")
        if sub.status == "revoked":
            return sub.view()
        if sub.status != "pending_first_review":
            return _error(409, "not_revocable", f"form {form} is {sub.status}", status=sub.status)
        sub.status = "revoked"
        sub.revoked_at = datetime.now(UTC)
        sub.revoke_reason = str(reason) if reason else None
        return sub.view()

    # ------------------------------------------------------------------ reviews and results

    async def review(sub: Submission) -> None:
        # The rules in force when MOFCOM takes the submission in (a matching scope's, if any).
        facts = submission_facts(sub)
        rules = state.rules(*state.control_for(facts))
        held: list[dict[str, Any]] = []
        await asyncio.sleep(rules.first_delay)
        if sub.status != "pending_first_review":
            return
        ok, opinion = rules.first_review(sub.snapshot, on=china_date(datetime.now(UTC)))
        sub.status = "pending_second_review" if ok else "first_review_rejected"
        first = result(sub, "first", ok, opinion)
        if not ok or not state.control_for(facts)[0].faults.out_of_order:
            await deliver(first, facts)
        else:
            held.append(first)
        if not ok:
            return
        await asyncio.sleep(rules.second_delay)
        ok, opinion = rules.second_review(sub.snapshot)
        if ok:
            state.license_seq += 1
            state.save_sequences()
            sub.license_no = license_no(
                sub.applied_at.year, str(sub.snapshot.get("issuing_agency") or ""), state.license_seq
            )
        sub.status = "approved" if ok else "second_review_rejected"
        await deliver(result(sub, "second", ok, opinion), facts)
        for r in held:
            await deliver(r, facts)

    def result(sub: Submission, stage: str, ok: bool, opinion: str) -> dict[str, Any]:
        r = {
            "form_no": sub.form_no,
            "application_id": sub.application_id,
            "idempotency_key": sub.idempotency_key,
            "stage": stage,
            "result": "passed" if ok else "rejected",
            "opinion": opinion,
            "license_no": sub.license_no if stage == "second" and ok else None,
            "reviewed_at": datetime.now(UTC).isoformat(),
        }
        sub.results.append(r)
        return r

    async def deliver(r: dict[str, Any], facts: dict[str, str]) -> None:
        control, rng = state.control_for(facts)
        times = 2 if rng.random() < control.faults.duplicate_rate else 1
        for _ in range(times):
            await post_with_retries(r, facts=facts)

    callback_secret = os.environ.get("AIL_MOFCOM_CALLBACK_SECRET", "")
    # Results go out a few at a time: a burst of reviews must not swamp the receiver (or us).
    deliveries = asyncio.Semaphore(int(os.environ.get("AIL_MOFCOM_CALLBACK_CONCURRENCY", "8")))

    async def post_with_retries(
        r: dict[str, Any], url: str | None = None, *, facts: dict[str, str] | None = None
    ) -> None:
        def target() -> str:
            return url or state.control_for(facts or {})[0].callback_url

        async def send() -> httpx.Response:
            # Signed as MOFCOM (timestamp + body, HMAC-SHA256): the submission service refuses an
            # unsigned or stale callback. Signed at each attempt, so a retry after minutes is not
            # refused as stale; the URL is read at each attempt (global control or the
            # submission's scope), so a test may move it.
            body = json.dumps(r, ensure_ascii=False).encode()
            headers = {"Content-Type": "application/json", **callback_headers(callback_secret, body)}
            async with deliveries:
                return await client_holder["c"].post(target(), content=body, headers=headers)

        try:
            resp = await retry.call_http(
                send,
                policy=CALLBACK_POLICY,
                what="callback POST",
                also_retry=_asks_again,
                form_no=r["form_no"],
                stage=r.get("stage", "license_cancellation"),
            )
        except retry.Unavailable:
            log.error("callback_gave_up", form_no=r["form_no"], stage=r.get("stage", "license_cancellation"))
            return
        if resp.status_code < 300:
            state.deliveries += 1
            return
        # Refused for good (a signed result that does not fit): a retry would be refused again.
        log.warning("callback_refused", url=target(), status=resp.status_code, body=resp.text[:300])

    # ------------------------------------------------------------------ control (tests)

    @app.get("/control")
    async def get_control() -> dict[str, Any]:
        return state.control.model_dump()

    @app.post("/control")
    async def set_control(body: dict[str, Any]) -> dict[str, Any]:
        merged = state.control.model_dump()
        faults = {**merged["faults"], **body.pop("faults", {})}
        merged.update(body)
        merged["faults"] = faults
        state.control = Control.model_validate(merged)
        if state.control.seed is not None:
            state.rng.seed(state.control.seed)
        log.info("control_changed", control=state.control.model_dump())
        return state.control.model_dump()

    @app.post("/control/reset")
    async def reset(data: bool = False) -> dict[str, Any]:
        """The global control back to the defaults (and, with ``data``, MOFCOM's data). The
        scopes stay: the tests that run beside the one that resets own them."""
        state.control = state.default_control.model_copy(deep=True)
        if data:
            state.reset_data()
            state.save_certificates()
        return state.control.model_dump()

    @app.get("/control/received")
    async def received(key: str | None = None) -> dict[str, Any]:
        keys = [key] if key else list(state.received)
        return {
            "submissions": {
                k: {"received": state.received.get(k, 0), "created": state.created.get(k, 0)} for k in keys
            },
            "deliveries": state.deliveries,
        }

    @app.post("/control/licenses/{license_no}/cancel")
    async def cancel_license(license_no: str, body: dict[str, Any]) -> Any:
        """MOFCOM cancels a license it issued: a signed callback to the submission service's
        ``.../license-cancellations`` (beside the results callback). Again: sent again, same time."""
        sub = next((s for s in state.by_form.values() if s.license_no == license_no), None)
        if sub is None:
            return _error(404, "not_found", f"no license {license_no}")
        sub.license_cancelled_at = sub.license_cancelled_at or datetime.now(UTC)
        message = {
            "form_no": sub.form_no,
            "application_id": sub.application_id,
            "license_no": license_no,
            "reason": str(body.get("reason") or "许可证已被发证机构注销"),
            "cancelled_at": sub.license_cancelled_at.isoformat(),
        }
        facts = submission_facts(sub)
        url = state.control_for(facts)[0].callback_url.rsplit("/", 1)[0] + "/license-cancellations"
        await post_with_retries(message, url, facts=facts)
        return {"cancelled": True, **message}

    @app.get("/control/certificates")
    async def certificates(enterprise_code: str) -> dict[str, Any]:
        return {
            "registered": sorted(s for (e, s) in state.certificates if e == enterprise_code),
            "withdrawn": [w for w in state.withdrawn if w["enterprise_code"] == enterprise_code],
        }

    @app.get("/control/applications/{application_id}")
    async def by_application(application_id: str) -> dict[str, Any]:
        subs = [s.view() for s in state.by_form.values() if s.application_id == application_id]
        return {"application_id": application_id, "submissions": subs}

    @app.get("/control/submissions/{form}/attachments")
    async def attachments_of(form: str) -> Any:
        """What MOFCOM holds of a submission's attachments (the bytes: the route below)."""
        sub = state.by_form.get(form)
        if sub is None:
            return _error(404, "not_found", f"no submission with form no. {form}")
        items = [
            {**{k: v for k, v in a.items() if k != "content"}, "size": len(a["content"])}
            for a in sub.attachments
        ]
        return {"form_no": form, "attachments": items}

    @app.get("/control/submissions/{form}/attachments/{attachment_id}")
    async def attachment_bytes(form: str, attachment_id: str) -> Any:
        sub = state.by_form.get(form)
        found = [a for a in sub.attachments if a["id"] == attachment_id] if sub is not None else []
        if not found:
            return _error(404, "not_found", f"no attachment {attachment_id} of form no. {form}")
        return Response(found[0]["content"], media_type=found[0]["content_type"])

    # ------------------------------------------------------------------ scopes (tests)

    def invalid(exc: ValidationError | ValueError) -> JSONResponse:
        if isinstance(exc, ValidationError):
            details = [
                {"field": ".".join(str(p) for p in e["loc"]), "reason": e["msg"], "code": e["type"]}
                for e in exc.errors()
            ]
        else:
            details = [{"field": "control", "reason": str(exc), "code": "unknown_field"}]
        message = "; ".join(f"{d['field']}: {d['reason']}" for d in details)
        return _error(422, "invalid_scope", f"fix the scope and send it again: {message}", details=details)

    def scope_not_found(scope_id: str) -> JSONResponse:
        return _error(404, "not_found", f"no scope {scope_id} (GET /control/scopes lists them)")

    @app.post("/control/scopes", status_code=201)
    async def add_scope(body: dict[str, Any]) -> Any:
        """MOFCOM's behaviour for the matching submissions only: ``{"match": {field: value, ...},
        "control": {the fields of POST /control that differ}}``; answers the scope with its id."""
        try:
            given = ScopeIn.model_validate(body)
            overlay(state.default_control, given.control)  # every field checked now, not at use
        except (ValidationError, ValueError) as exc:
            return invalid(exc)
        if len(state.scopes.by_id) >= MAX_SCOPES:
            return _error(
                409, "too_many_scopes", f"{MAX_SCOPES} scopes are set: DELETE /control/scopes/{{id}} yours"
            )
        scope = Scope(given.match, given.control)
        state.scopes.add(scope)
        log.info("control_scope_added", scope=scope.view())
        return JSONResponse(scope.view(), status_code=201)

    @app.get("/control/scopes")
    async def list_scopes() -> dict[str, Any]:
        return {"items": [s.view() for s in state.scopes.by_id.values()]}

    @app.get("/control/scopes/{scope_id}")
    async def get_scope(scope_id: str) -> Any:
        scope = state.scopes.by_id.get(scope_id)
        return scope.view() if scope is not None else scope_not_found(scope_id)

    @app.patch("/control/scopes/{scope_id}")
    async def change_scope(scope_id: str, body: dict[str, Any]) -> Any:
        """A partial update of the scope's control (as ``POST /control`` updates the global one)."""
        scope = state.scopes.by_id.get(scope_id)
        if scope is None:
            return scope_not_found(scope_id)
        try:
            overlay(overlay(state.default_control, scope.control), body)
        except (ValidationError, ValueError) as exc:
            return invalid(exc)
        scope.change(body)
        log.info("control_scope_changed", scope=scope.view())
        return scope.view()

    @app.delete("/control/scopes/{scope_id}", status_code=204)
    async def remove_scope(scope_id: str) -> Response:
        if state.scopes.remove(scope_id) is None:
            return scope_not_found(scope_id)
        log.info("control_scope_removed", scope_id=scope_id)
        return Response(status_code=204)

    install_filing_routes(app)
    return app
