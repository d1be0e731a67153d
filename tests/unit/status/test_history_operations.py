"""Operations actions on an application's dead-lettered messages, placed in its history
(issue 14, item 6: "visible in the application's history"; ``domain.model.with_operations_actions``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ail_status.domain.model import OperationsAction, with_operations_actions

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def _entry(at: datetime, status: str, event_type: str) -> dict[str, Any]:
    return {
        "occurred_at": at.isoformat(),
        "status": status,
        "current_status": status,
        "serial_no": "S1",
        "event": {"id": event_type, "type": event_type},
    }


def _action(at: datetime, action: str) -> OperationsAction:
    return OperationsAction(
        application_id="app-1",
        enterprise_code="1100000000001",
        action=action,
        actor="operations:k1",
        at=at,
        reason="bug fixed in 1.4.2",
        topic="ail.signer.dlt",
        partition=0,
        offset=7,
        source_topic="ail.signer",
        event_id="e-1",
        event_type="SigningFailed",
    )


def test_an_action_is_listed_where_it_happened_with_who_when_why_and_sets_no_status() -> None:
    entries = [
        _entry(T0, "submitting", "ApplicationSubmitted"),
        _entry(T0 + timedelta(minutes=10), "draft", "SigningFailed"),
    ]
    history = with_operations_actions(entries, [_action(T0 + timedelta(minutes=5), "redrive")])
    assert [h["event"]["type"] for h in history] == ["ApplicationSubmitted", "SigningFailed", "SigningFailed"]
    middle = history[1]
    assert middle["operations"] == {
        "action": "redrive",
        "actor": "operations:k1",
        "at": T0 + timedelta(minutes=5),
        "reason": "bug fixed in 1.4.2",
        "dead_letter_topic": "ail.signer.dlt",
        "partition": 0,
        "offset": 7,
        "source_topic": "ail.signer",
    }
    assert middle["status"] is None and middle["current_status"] == "submitting"
    assert middle["reason"] == "bug fixed in 1.4.2" and middle["serial_no"] == "S1"
    assert middle["occurred_at"] == (T0 + timedelta(minutes=5)).isoformat()


def test_actions_after_every_event_or_before_any_come_last_in_the_order_made() -> None:
    later = [_action(T0 + timedelta(hours=2), "skip"), _action(T0 + timedelta(hours=1), "redrive")]
    history = with_operations_actions([_entry(T0, "submitting", "ApplicationSubmitted")], later)
    assert [h.get("operations", {}).get("action") for h in history] == [None, "redrive", "skip"]
    alone = with_operations_actions([], [_action(T0, "skip")])
    assert alone[0]["current_status"] is None and alone[0]["operations"]["action"] == "skip"


def test_an_entry_without_a_readable_time_does_not_place_an_action() -> None:
    old = {"status": "submitting", "current_status": "submitting", "event": None}
    naive = {**_entry(T0, "draft", "SigningFailed"), "occurred_at": "2026-12-01T10:00:00"}
    history = with_operations_actions([old, naive], [_action(T0 - timedelta(minutes=1), "skip")])
    assert [h.get("operations", {}).get("action") for h in history] == [None, "skip", None]
