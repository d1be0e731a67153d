"""Issue 10, item 4: a signed MOFCOM result must still fit the submission it names."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from ail_submission.domain.model import Submission, callback_refusal

APP = uuid4()
SUB = uuid4()
FORM = "26110077636755500001"


def sub(**overrides: Any) -> Submission:
    fields: dict[str, Any] = {"form_no": FORM, "state": "accepted", **overrides}
    return Submission(
        submission_id=SUB,
        application_id=APP,
        enterprise_code="1100776367555",
        serial_no="",
        snapshot={},
        **fields,
    )


def check(
    s: Submission | None = None,
    *,
    app: UUID = APP,
    form: str = FORM,
    stage: str = "first",
    result: str = "passed",
    license_no: str | None = None,
    recorded: dict[str, tuple[str, str | None]] | None = None,
) -> str | None:
    refusal = callback_refusal(
        sub=sub() if s is None else s,
        application_id=app,
        form_no=form,
        stage=stage,
        result=result,
        license_no=license_no,
        recorded=recorded or {},
    )
    return None if refusal is None else refusal.code


def test_fitting_results() -> None:
    assert check() is None
    assert check(stage="second", license_no="26AB000001", recorded={"first": ("passed", None)}) is None
    assert check(stage="second", license_no="26AB000001") is None  # out of order: second first
    assert check(recorded={"first": ("passed", None)}) is None  # a repeat


def test_unknown_submission() -> None:
    refusal = callback_refusal(
        sub=None,
        application_id=APP,
        form_no=FORM,
        stage="first",
        result="passed",
        license_no=None,
        recorded={},
    )
    assert refusal is not None and refusal.code == "unknown_submission" and not refusal.retry


def test_another_applications_submission() -> None:
    assert check(app=uuid4()) == "application_mismatch"


def test_another_form_no() -> None:
    assert check(form="26110077636755599999") == "form_no_mismatch"


def test_not_yet_recorded_is_retried_never_sent_is_refused() -> None:
    r = callback_refusal(
        sub=sub(form_no=None, state="signed"),
        application_id=APP,
        form_no=FORM,
        stage="first",
        result="passed",
        license_no=None,
        recorded={},
    )
    assert r is not None and r.retry and r.status == 409
    assert check(sub(form_no=None, state="signing")) == "not_accepted"


def test_license_only_with_a_passed_second_review() -> None:
    assert check(license_no="FORGED-0001") == "license_no_unexpected"
    assert check(stage="second", result="rejected", license_no="FORGED-0001") == "license_no_unexpected"


def test_results_contradicting_the_record() -> None:
    assert check(result="rejected", recorded={"first": ("passed", None)}) == "result_conflict"
    assert (
        check(stage="second", license_no="FORGED-0001", recorded={"second": ("passed", "26AB000001")})
        == "result_conflict"
    )
    assert check(stage="second", license_no="X", recorded={"first": ("rejected", None)}) == "stage_conflict"
    assert check(result="rejected", recorded={"second": ("passed", "26AB000001")}) == "stage_conflict"
