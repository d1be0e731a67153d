"""The chaos harness's checks on made-up facts: a clean run passes every check, and each way
of losing or doubling something fails the check that is meant to catch it."""

from __future__ import annotations

import copy
import json
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from ail_status.domain import webhooks as status_webhooks
from benchmarks.chaos_harness import statistics
from benchmarks.chaos_harness.checks import Check, evaluate
from benchmarks.chaos_harness.collect import Database, Facts
from benchmarks.chaos_harness.driver import App
from benchmarks.chaos_harness.webhooks import Receiver, verify

APP = "0b8e4f3c-2a5d-4c61-9f7e-1d2c3b4a5968"
FORM, LICENSE, DECL = "261100776367555000001", "26AA0001", "22002026chaos0000001"


def entry(n: int, event_type: str, status: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "event": {"id": f"00000000-0000-0000-0000-{n:012d}", "type": event_type},
        "status": status,
        "occurred_at": f"2026-12-01T08:00:{n:02d}+00:00",
        "details": extra.pop("details", {}),
        "customs_status": extra.pop("customs_status", None),
        "form_no": None if event_type == "ApplicationSubmitted" else FORM,
        **extra,
    }


def cleared() -> tuple[App, Facts]:
    app = App(APP, "1100776367555", "t", submitted_at=1.0, submits=1, declaration_no=DECL)
    entries = [
        entry(1, "ApplicationSubmitted", "submitting"),
        entry(2, "SubmissionAccepted", "pending_first_review"),
        entry(3, "ReviewResultReceived", "pending_second_review", details={"stage": "first"}),
        entry(4, "ReviewResultReceived", "approved", details={"stage": "second"}),
        entry(5, "LicenseIssued", "license_issued"),
        entry(6, "CustomsStored", None, customs_status="stored"),
        entry(7, "ClearanceRecorded", None),
    ]
    facts = Facts(
        app={"status": "license_issued", "status_reason": "复审通过", "form_no": FORM, "license_no": LICENSE},
        history={"status": "license_issued", "form_no": FORM, "license_no": LICENSE, "items": entries},
        license={
            "form_no": FORM,
            "customs_status": "stored",
            "entries": [{"kind": "use", "declaration_no": DECL}],
        },
        license_history={
            "items": [
                {"kind": k, "occurred_at": f"2026-12-01T08:00:0{i}+00:00", "data": d}
                for i, (k, d) in enumerate(
                    [
                        ("submission_accepted", {}),
                        ("review_result", {"stage": "first"}),
                        ("review_result", {"stage": "second"}),
                        ("license_issued", {}),
                        ("customs_delivery", {}),
                        ("clearance_recorded", {}),
                    ]
                )
            ]
        },
        mofcom=[
            {
                "form_no": FORM,
                "status": "approved",
                "license_no": LICENSE,
                "results": [
                    {"form_no": FORM, "stage": "first", "reviewed_at": "2026-12-01T08:00:02.9+00:00"},
                    {"form_no": FORM, "stage": "second", "reviewed_at": "2026-12-01T08:00:03.9+00:00"},
                ],
            }
        ],
    )
    return app, facts


def run(app: App, facts: Facts, /, **over: Any) -> dict[str, Check]:
    hooks = Counter({e["event"]["id"]: 1 for e in (facts.history or {}).get("items", [])})
    args: dict[str, Any] = {
        "n": 1,
        "apps": {APP: app},
        "facts": {APP: facts},
        "db": Database(submissions={APP: 1}, signed={APP: 1}, licenses={APP: 1}),
        "mofcom_created_twice": [],
        "webhook_receipts": hooks,
        "webhook_bad": 0,
        "stats_problems": [],
        "stats_approvals": 1,
        "dead_letters": [],
        "dead_letter_records": 0,
        "kills_planned": 8,
        "kills_failed": [],
        "driver_errors": [],
    }
    args.update(over)
    checks, _ = evaluate(**args)
    return {c.name: c for c in checks}


def failing(checks: dict[str, Check]) -> set[str]:
    return {name for name, c in checks.items() if not c.ok}


def test_a_clean_run_passes_every_check() -> None:
    assert failing(run(*cleared())) == set()


def test_an_application_stuck_without_a_reason_fails() -> None:
    app, f = cleared()
    f.app = {"status": "submitting", "status_reason": None, "form_no": None, "license_no": None}
    f.history = {"status": "submitting", "items": f.history["items"][:1]}  # type: ignore[index]
    f.license = f.license_history = None
    assert failing(run(app, f)) == {"final or visibly waiting (0 stuck without a reason)"}


def test_waiting_with_a_reason_is_not_stuck() -> None:
    app, f = cleared()
    f.app = {"status": "submitting", "status_reason": "waiting for e-key 1a2b on a signer host"}
    f.history = {"status": "submitting", "items": f.history["items"][:1]}  # type: ignore[index]
    f.license = f.license_history = None
    assert failing(run(app, f)) == set()


def test_back_to_draft_fails_its_own_check() -> None:
    app, f = cleared()
    f.app = {"status": "draft", "status_reason": "ekey_not_present: no signer host holds the key"}
    entries = f.history["items"][:1] + [entry(2, "SigningFailed", "draft")]  # type: ignore[index]
    f.history = {"status": "draft", "items": entries}
    f.license = f.license_history = None
    f.mofcom = []
    assert failing(run(app, f)) == {"none sent back to draft (resubmit by hand)"}


def test_a_clearance_never_applied_is_stuck() -> None:
    app, f = cleared()
    f.license["entries"] = []  # type: ignore[index]
    f.history["items"] = f.history["items"][:-1]  # type: ignore[index]
    assert "final or visibly waiting (0 stuck without a reason)" in failing(run(app, f))


def test_a_review_result_applied_twice_breaks_the_history() -> None:
    app, f = cleared()
    dup = entry(8, "ReviewResultReceived", "pending_second_review", details={"stage": "first"})
    dup["occurred_at"] = "2026-12-01T08:00:03.5+00:00"
    f.history["items"].insert(3, dup)  # type: ignore[index]
    assert failing(run(app, f)) == {"every history in order (time, lifecycle, complete)"}


def test_first_review_listed_after_the_license_breaks_the_history() -> None:
    app, f = cleared()
    entries = f.history["items"]  # type: ignore[index]
    first = entries.pop(2)
    first["occurred_at"] = "2026-12-01T08:00:05.5+00:00"  # processing time, not MOFCOM's
    entries.insert(4, first)
    checks = run(app, f)
    assert failing(checks) == {"every history in order (time, lifecycle, complete)"}
    examples = " ".join(checks["every history in order (time, lifecycle, complete)"].examples)
    assert "MOFCOM made them ['first', 'second']" in examples


def test_a_lost_event_is_a_gap_in_the_history_and_an_undelivered_webhook() -> None:
    app, f = cleared()
    hooks = Counter({e["event"]["id"]: 1 for e in f.history["items"]})  # type: ignore[index]
    del f.history["items"][3]  # type: ignore[index]  # the approval never reached the status service
    assert failing(run(app, f, webhook_receipts=hooks)) == {
        "every history in order (time, lifecycle, complete)"
    }


def test_a_webhook_never_delivered_fails_and_duplicates_are_only_counted() -> None:
    app, f = cleared()
    ids = [e["event"]["id"] for e in f.history["items"]]  # type: ignore[index]
    twice = Counter(dict.fromkeys(ids, 2))
    assert failing(run(app, f, webhook_receipts=twice)) == set()
    missing = Counter(dict.fromkeys(ids[1:], 1))
    assert failing(run(app, f, webhook_receipts=missing)) == {"each webhook event delivered (>= 1, counted)"}
    assert (
        "1 bad signatures"
        in run(app, f, webhook_bad=1)["each webhook event delivered (>= 1, counted)"].actual
    )


@pytest.mark.parametrize(
    ("change", "check"),
    [
        ("mofcom_twice", "duplicate MOFCOM submissions (sandbox's view)"),
        ("submission_rows", "duplicate MOFCOM submissions (sandbox's view)"),
        ("signed_twice", "duplicate signatures"),
        ("two_uses", "duplicate ledger entries"),
        ("license_rows", "duplicate license numbers"),
        ("other_app_same_form", "duplicate form numbers"),
    ],
)
def test_each_duplicate_fails_its_check(change: str, check: str) -> None:
    app, f = cleared()
    db = Database(submissions={APP: 1}, signed={APP: 1}, licenses={APP: 1})
    apps, facts = {APP: app}, {APP: f}
    if change == "mofcom_twice":
        f.mofcom.append({"form_no": "261100776367555000002", "status": "pending_first_review"})
    elif change == "submission_rows":
        db.submissions[APP] = 2
    elif change == "signed_twice":
        db.signed_twice.append("submission s signed 2 times")
    elif change == "two_uses":
        f.license["entries"].append({"kind": "use", "declaration_no": DECL})  # type: ignore[index]
    elif change == "license_rows":
        db.licenses[APP] = 2
    elif change == "other_app_same_form":
        other_app, other = cleared()
        other_id = APP.replace("0b8e", "1c9f")
        other_app.id = other_id
        other.license = other.license_history = None
        other.app = {**other.app, "license_no": None}  # type: ignore[dict-item]
        other.history = {**other.history, "license_no": None}  # type: ignore[dict-item]
        apps[other_id], facts[other_id] = other_app, other
    hooks = Counter({e["event"]["id"]: 1 for x in facts.values() for e in x.history["items"]})  # type: ignore[index]
    checks = run(app, f, apps=apps, facts=facts, db=db, n=len(apps), webhook_receipts=hooks)
    assert check in failing(checks)


def test_a_valid_event_in_a_dead_letter_topic_fails() -> None:
    dl = [{"topic": "ail.signer.dlt", "event_type": "ApplicationSigned", "aggregate_id": APP, "reason": "x"}]
    assert failing(run(*cleared(), dead_letters=dl, dead_letter_records=3)) == {
        "valid events in dead-letter topics"
    }


def test_a_component_that_did_not_come_back_fails() -> None:
    checks = run(*cleared(), kills_failed=["./dev start kafka failed"])
    assert failing(checks) == {"components killed and back"}


def test_statistics_compare_the_change_with_sql() -> None:
    months = ["2026-12", "2027-01"]
    key = ("1100776367555", "2026-12", "2303300010", "070")
    before = ({key: (5, Decimal("100"), Decimal("10"))}, {key: (9, Decimal("200"), Decimal("20"))})
    after = ({key: (7, Decimal("130.5"), Decimal("13"))}, {key: (11, Decimal("230.5"), Decimal("23"))})
    expected = {key: (2, Decimal("30.5"), Decimal("3"))}
    assert statistics.compare(before, after, expected, months) == []
    counted_twice = ({key: (8, Decimal("130.5"), Decimal("13"))}, after[1])
    assert len(statistics.compare(before, counted_twice, expected, months)) == 1
    assert statistics.compare(before, before, expected, months)  # nothing counted


def test_the_receiver_verifies_what_the_status_service_signs() -> None:
    secret = status_webhooks.new_secret()
    body = json.dumps({"type": "application.license_issued", "data": {"application_id": APP}}).encode()
    sig = status_webhooks.sign(secret, "evt-1", 1764576000, body)
    assert verify(secret, "evt-1", "1764576000", body, f"v1,bm9wZQ== {sig}")
    assert not verify(secret, "evt-1", "1764576000", body + b" ", sig)
    r = Receiver(secrets={"/hooks/x": secret})
    headers = status_webhooks.headers(secret, "evt-1", 1764576000, body)
    for _ in range(2):
        r._record("/hooks/x", headers, body)  # noqa: SLF001 - the receiver's parsing, without a socket
    assert r.receipts == Counter({"evt-1": 2}) and r.application_of["evt-1"] == APP
    r._record("/hooks/x", {**headers, "webhook-signature": "v1,AAAA"}, body)  # noqa: SLF001
    assert r.bad_signatures == 1


def test_checks_do_not_mutate_their_input() -> None:
    app, f = cleared()
    before = copy.deepcopy(f)
    run(app, f)
    assert f == before


@pytest.mark.parametrize("wait_kind", ["SigningDeferred", "SubmissionDelayed"])
def test_a_wait_while_submitting_is_part_of_the_history(wait_kind: str) -> None:
    # For the e-key (SigningDeferred) or for MOFCOM to answer (SubmissionDelayed, issue 13 item 9).
    app, f = cleared()
    entries = f.history["items"]  # type: ignore[index]
    wait = entry(1, wait_kind, None)
    wait["occurred_at"] = "2026-12-01T08:00:01.5+00:00"
    entries.insert(1, wait)
    assert failing(run(app, f)) == set()
    late = entry(8, wait_kind, None)
    late["occurred_at"] = "2026-12-01T08:00:08+00:00"
    entries.append(late)
    assert failing(run(app, f)) == {"every history in order (time, lifecycle, complete)"}
