"""The lifecycle's tables: the status each review result leads to, the forward-only rule and the
actions each status allows (DOMAIN.md section 4)."""

from __future__ import annotations

import pytest

from ail_shared import lifecycle
from ail_shared.errors import Conflict
from ail_shared.lifecycle import (
    ALLOWED,
    Action,
    ensure_allowed,
    moves_forward,
    status_after_review,
)
from ail_shared.lifecycle import ApplicationStatus as S


@pytest.mark.parametrize(
    ("stage", "result", "status"),
    [
        ("first", "passed", S.PENDING_SECOND_REVIEW),
        ("first", "rejected", S.FIRST_REVIEW_REJECTED),
        ("second", "passed", S.APPROVED),
        ("second", "rejected", S.SECOND_REVIEW_REJECTED),
    ],
)
def test_a_review_result_leads_to_its_status(stage: str, result: str, status: S) -> None:
    assert status_after_review(stage, result) is status


def test_an_unknown_review_outcome_is_refused_rather_than_guessed() -> None:
    with pytest.raises(ValueError, match="third"):
        status_after_review("third", "passed")


def test_a_status_moves_only_forward_along_one_submission() -> None:
    assert moves_forward(S.PENDING_FIRST_REVIEW, S.PENDING_SECOND_REVIEW)
    assert moves_forward(S.PENDING_SECOND_REVIEW, S.LICENSE_ISSUED)
    assert not moves_forward(S.APPROVED, S.PENDING_SECOND_REVIEW)  # a late first review
    assert not moves_forward(S.APPROVED, S.APPROVED)  # a duplicate
    assert not moves_forward(S.REVOKED, S.PENDING_SECOND_REVIEW)  # same rank: an alternative
    assert not moves_forward(S.LICENSE_ISSUED, S.APPROVED)


def test_a_failed_submission_ends_in_draft_and_nothing_moves_it_out() -> None:
    assert moves_forward(S.SUBMITTING, S.DRAFT)
    assert not moves_forward(S.PENDING_FIRST_REVIEW, S.DRAFT)  # a late refusal of an accepted one
    assert not moves_forward(S.DRAFT, S.PENDING_FIRST_REVIEW)  # its late acceptance
    assert not moves_forward(S.PENDING_FIRST_REVIEW, S.SUBMITTING)  # only a new submission submits


def test_a_status_written_by_a_newer_version_is_moved() -> None:
    assert moves_forward("on_hold", S.APPROVED)


def test_the_manual_permissions_by_status() -> None:
    correctable = {S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED}
    assert ALLOWED[Action.EDIT] == ALLOWED[Action.DELETE] == ALLOWED[Action.SUBMIT] == correctable
    assert ALLOWED[Action.REVOKE] == {S.PENDING_FIRST_REVIEW}
    assert ALLOWED[Action.COPY] == ALLOWED[Action.PRINT] == set(S)
    assert ALLOWED[Action.QUERY_APPROVAL] == set(S) - {S.DRAFT}
    assert ALLOWED[Action.ATTACHMENTS] == correctable
    assert set(ALLOWED) == set(Action)


def test_a_refused_action_names_the_status_and_where_it_is_allowed() -> None:
    ensure_allowed(S.PENDING_FIRST_REVIEW, Action.REVOKE)
    with pytest.raises(Conflict) as refused:
        ensure_allowed(S.APPROVED, Action.REVOKE)
    assert "'approved'" in refused.value.message
    assert "pending_first_review" in refused.value.message


def test_a_failed_signing_says_what_to_do_next() -> None:
    """Issue 13, item 10: the code, the signer's detail, then the sentence that says what to do."""
    reason = lifecycle.event_reason("ekey_not_present", "the e-key is not on any signer host.")
    assert reason.startswith("ekey_not_present: the e-key is not on any signer host. ")
    assert "Plug the e-key into a signer host" in reason and "POST /api/v1/ekey-bindings" in reason
    assert "bind another e-key" in reason
    assert lifecycle.event_reason("ekey_not_bound").startswith("ekey_not_bound. Bind an e-key")
    # A code without a next step reads as before; the sentence is never said twice.
    assert lifecycle.event_reason("signature_invalid", "x") == "signature_invalid: x"
    code, text = reason.split(": ", 1)
    assert lifecycle.event_reason(code, text) == reason
