"""The checks, as pure functions of what was collected (so they are unit-tested with made-up
facts: each must fail when something is lost or doubled, and pass when nothing is)."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from benchmarks.chaos_harness.collect import Database, Facts
from benchmarks.chaos_harness.driver import App

# The application lifecycle (DOMAIN; status service's forward rule): the statuses a history
# entry may set after the previous one. None is the start. Back to draft (signing failed,
# MOFCOM refused) and resubmission after draft, revocation or a first-review rejection are
# the only ways back.
NEXT: dict[str | None, set[str]] = {
    None: {"submitting"},
    "submitting": {"pending_first_review", "draft"},
    "draft": {"submitting"},
    "pending_first_review": {"pending_second_review", "first_review_rejected", "revoked"},
    "pending_second_review": {"approved", "second_review_rejected"},
    "approved": {"license_issued"},
    "first_review_rejected": {"submitting"},
    "revoked": {"submitting"},
    "second_review_rejected": set(),
    "license_issued": set(),
}
FINAL_REJECTED = {"first_review_rejected", "second_review_rejected", "revoked"}
IN_FLIGHT = {"submitting", "pending_first_review", "pending_second_review", "approved"}
# What a cleared application's history must hold (event type, and for reviews the stage).
CLEARED_HISTORY = (
    "ApplicationSubmitted",
    "SubmissionAccepted",
    "ReviewResultReceived/first",
    "ReviewResultReceived/second",
    "LicenseIssued",
    "CustomsStored/stored",
    "ClearanceRecorded",
)
# The customs history of a license, in this order (first occurrence of each kind).
CUSTOMS_ORDER = (
    "submission_accepted",
    "review_result",
    "license_issued",
    "customs_delivery",
    "clearance_recorded",
)


@dataclass
class Check:
    name: str
    expected: str
    actual: str
    ok: bool
    examples: list[str] = field(default_factory=list)


def _ex(items: list[str], n: int = 5) -> list[str]:
    return items[:n]


# ------------------------------------------------------------------ per application


def classify(app: App, f: Facts) -> tuple[str, str]:
    """(outcome, detail). Outcomes: cleared, rejected (a final refusal), waiting (visibly, with a
    reason), back_to_draft (visibly, but a user must resubmit), stuck (no reason anywhere),
    unknown (could not be read), not_submitted."""
    if app.submits == 0:
        return "not_submitted", app.refused or "never submitted (see driver errors)"
    if f.app is None:
        return "unknown", "; ".join(f.errors[:2])
    status, reason = f.app["status"], f.app.get("status_reason") or ""
    if status == "license_issued":
        lic = f.license or {}
        cs = lic.get("customs_status")
        if cs == "stored":
            entries = [e for e in lic.get("entries", []) if e.get("declaration_no") == app.declaration_no]
            if any(e["kind"] == "use" for e in entries):
                return "cleared", ""
            refused = [e for e in entries if e["kind"] == "refused"]
            if refused:
                return "rejected", f"clearance refused: {refused[0].get('reason')} {refused[0].get('detail')}"
            if not app.declaration_no:
                return "stuck", "stored at Customs, but the harness never saw it stored (no declaration made)"
            return "stuck", f"declaration {app.declaration_no} made at Customs, never applied to the ledger"
        if cs in ("store_failed", "send_failed"):
            return "waiting", f"customs {cs}: {lic.get('customs_detail') or 'no detail'}"
        return "stuck", f"license issued, customs status {cs or 'none'}"
    if status in FINAL_REJECTED:
        return "rejected", f"{status}: {reason}"
    if status == "draft":
        return ("back_to_draft", reason) if reason else ("stuck", "draft without a reason")
    if status in IN_FLIGHT and reason:
        return "waiting", f"{status}: {reason}"
    mofcom = ", ".join(f"{s.get('status')}" for s in f.mofcom) or "no submission at MOFCOM"
    return "stuck", f"{status} with no reason (MOFCOM: {mofcom})"


def _kind(entry: dict[str, Any]) -> str:
    t = str(entry.get("event", {}).get("type", ""))
    if t == "ReviewResultReceived":
        return f"{t}/{(entry.get('details') or {}).get('stage')}"
    if t == "CustomsStored":
        return f"{t}/{entry.get('customs_status')}"
    return t


def history_problems(app: App, f: Facts, outcome: str) -> list[str]:
    """Time order, lifecycle order and completeness of one application's status history, and
    the customs history of its license."""
    out: list[str] = []
    h = f.history
    if h is None:
        return ["history could not be read"]
    entries = h.get("items", [])
    times = [datetime.fromisoformat(e["occurred_at"]) for e in entries]
    if times != sorted(times):
        out.append("status history not in time order")
    prev: str | None = None
    licensed = stored = False
    for e in entries:
        s = e.get("status")
        kind = _kind(e)
        if kind in ("SigningDeferred", "SubmissionDelayed"):
            # A wait in flight (for the e-key; for MOFCOM to answer): it sets no status.
            if licensed:
                out.append(f"{kind} listed after the license was issued")
            continue
        if s is None:  # customs events: after the license; a clearance after Customs stored it
            if not licensed:
                out.append(f"{kind} listed before the license was issued")
            if kind == "CustomsStored/stored":
                stored = True
            if kind == "ClearanceRecorded" and not stored:
                out.append("clearance listed before Customs stored the license")
            continue
        if s not in NEXT.get(prev, set()):
            out.append(f"lifecycle: {prev or 'start'} -> {s} ({kind})")
        prev = s
        licensed = licensed or s == "license_issued"
    # Authority time: the reviews listed in the order MOFCOM made them (its reviewed_at).
    listed = [
        (e.get("form_no"), (e.get("details") or {}).get("stage"))
        for e in entries
        if _kind(e).startswith("Review")
    ]
    made = sorted(
        (
            (r.get("reviewed_at", ""), r.get("form_no"), r.get("stage"))
            for s in f.mofcom
            for r in s.get("results", [])
        ),
    )
    by_mofcom = list(dict.fromkeys((form, stage) for _, form, stage in made if (form, stage) in set(listed)))
    if by_mofcom and list(dict.fromkeys(listed)) != by_mofcom:
        out.append(
            f"reviews listed as {[x[1] for x in listed]}, MOFCOM made them {[x[1] for x in by_mofcom]}"
        )
    if prev is not None and h.get("status") != prev:
        out.append(f"status view {h.get('status')} but the last history entry says {prev}")
    if outcome == "cleared":
        kinds = Counter(_kind(e) for e in entries)
        missing = [k for k in CLEARED_HISTORY if not kinds[k]]
        if missing:
            out.append("history lacks " + ", ".join(missing))
    lh = f.license_history
    if lh is not None:
        items = lh.get("items", [])
        lt = [datetime.fromisoformat(i["occurred_at"]) for i in items]
        if lt != sorted(lt):
            out.append("customs history of the license not in time order")
        firsts = [next((n for n, i in enumerate(items) if i["kind"] == k), None) for k in CUSTOMS_ORDER]
        seen = [n for n in firsts if n is not None]
        if seen != sorted(seen):
            out.append("customs history kinds out of lifecycle order")
        stages = [i["data"].get("stage") for i in items if i["kind"] == "review_result"]
        if stages and stages != sorted(stages):  # "first" < "second"
            out.append(f"customs history lists reviews as {stages}")
    return out


def disagreements(f: Facts) -> list[str]:
    """Where the application service, the status view, the customs service and MOFCOM differ."""
    if f.app is None or f.history is None:
        return []
    out = []
    a, h = f.app, f.history
    if a["status"] != h.get("status"):
        out.append(f"status: application {a['status']}, status view {h.get('status')}")
    for k in ("form_no", "license_no"):
        if a.get(k) != h.get(k):
            out.append(f"{k}: application {a.get(k)}, status view {h.get(k)}")
    if f.license is not None and f.license.get("form_no") != a.get("form_no"):
        out.append(f"form_no: application {a.get('form_no')}, customs {f.license.get('form_no')}")
    if a.get("form_no"):
        mine = [s for s in f.mofcom if s.get("form_no") == a["form_no"]]
        if not mine:
            out.append(f"MOFCOM has no submission with form {a['form_no']}")
        elif (mine[0].get("license_no") or None) != (a.get("license_no") or None) and mine[0].get(
            "status"
        ) == "approved":
            out.append(f"license_no: application {a.get('license_no')}, MOFCOM {mine[0].get('license_no')}")
    return out


# ------------------------------------------------------------------ the table


def evaluate(
    *,
    n: int,
    apps: dict[str, App],
    facts: dict[str, Facts],
    db: Database,
    mofcom_created_twice: list[str],
    webhook_receipts: Counter[str] | None,
    webhook_bad: int,
    stats_problems: list[str] | None,
    stats_approvals: int,
    dead_letters: list[dict[str, str]],
    dead_letter_records: int,
    kills_planned: int,
    kills_failed: list[str],
    driver_errors: list[str],
) -> tuple[list[Check], Counter[str]]:
    checks: list[Check] = []
    outcomes: Counter[str] = Counter()
    by_outcome: dict[str, list[str]] = defaultdict(list)
    history_bad: list[str] = []
    disagree: list[str] = []
    for app_id, app in apps.items():
        f = facts.get(app_id, Facts(errors=["not collected"]))
        outcome, detail = classify(app, f)
        outcomes[outcome] += 1
        by_outcome[outcome].append(f"{app_id}: {detail}")
        if app.submits:
            history_bad += [f"{app_id}: {p}" for p in history_problems(app, f, outcome)]
            disagree += [f"{app_id}: {p}" for p in disagreements(f)]

    submitted = sum(1 for a in apps.values() if a.submits)
    checks.append(
        Check(
            "applications driven through the API",
            f"{n} submitted",
            f"{submitted} submitted" + (f", {len(driver_errors)} driver errors" if driver_errors else ""),
            submitted == n and not driver_errors,
            _ex(driver_errors + by_outcome["not_submitted"]),
        )
    )
    stuck = outcomes["stuck"] + outcomes["unknown"]
    checks.append(
        Check(
            "final or visibly waiting (0 stuck without a reason)",
            "0 stuck",
            f"{stuck} stuck; {outcomes['cleared']} cleared, {outcomes['rejected']} rejected,"
            f" {outcomes['waiting']} waiting with a reason",
            stuck == 0,
            _ex(by_outcome["stuck"] + by_outcome["unknown"]),
        )
    )
    checks.append(
        Check(
            "none sent back to draft (resubmit by hand)",
            "0",
            str(outcomes["back_to_draft"]),
            outcomes["back_to_draft"] == 0,
            _ex(by_outcome["back_to_draft"]),
        )
    )

    # Duplicates.
    forms: dict[str, set[str]] = defaultdict(set)
    licenses: dict[str, set[str]] = defaultdict(set)
    for app_id, f in facts.items():
        for src in (f.app, f.history, f.license):
            if src and src.get("form_no"):
                forms[src["form_no"]].add(app_id)
            if src and src.get("license_no"):
                licenses[src["license_no"]].add(app_id)
    dup_forms = [f"form {k} held by {sorted(v)}" for k, v in forms.items() if len(v) > 1]
    mofcom_forms = Counter(s["form_no"] for f in facts.values() for s in f.mofcom)
    dup_forms += [f"MOFCOM gave form {k} {c} times" for k, c in mofcom_forms.items() if c > 1]
    checks.append(_zero("duplicate form numbers", dup_forms))

    dup_lic = [f"license {k} held by {sorted(v)}" for k, v in licenses.items() if len(v) > 1]
    dup_lic += [f"{a}: {c} license rows at the customs service" for a, c in db.licenses.items() if c > 1]
    for app_id, f in facts.items():
        issued = [s["license_no"] for s in f.mofcom if s.get("license_no")]
        if len(issued) > 1:
            dup_lic.append(f"{app_id}: MOFCOM issued {issued}")
    checks.append(_zero("duplicate license numbers", dup_lic))

    dup_sub = [f"MOFCOM key {k} created more than once" for k in mofcom_created_twice]
    for app_id, app in apps.items():
        mofcom = facts[app_id].mofcom if app_id in facts else []
        if len(mofcom) > app.submits:
            dup_sub.append(f"{app_id}: submitted {app.submits}x, MOFCOM holds {len(mofcom)} submissions")
        if db.submissions.get(app_id, 0) > app.submits:
            dup_sub.append(f"{app_id}: submitted {app.submits}x, {db.submissions[app_id]} submission rows")
    checks.append(_zero("duplicate MOFCOM submissions (sandbox's view)", dup_sub))

    dup_sig = list(db.signed_twice)
    dup_sig += [
        f"{a}: {c} submissions signed for {apps[a].submits} submits"
        for a, c in db.signed.items()
        if a in apps and c > apps[a].submits
    ]
    checks.append(_zero("duplicate signatures", dup_sig))

    dup_ledger = list(db.ledger_repeats)
    for app_id, f in facts.items():
        uses = [e for e in (f.license or {}).get("entries", []) if e["kind"] == "use"]
        if len(uses) > 1:
            dup_ledger.append(f"{app_id}: {len(uses)} uses for one declaration")
    checks.append(_zero("duplicate ledger entries", dup_ledger))

    checks.append(_zero("every history in order (time, lifecycle, complete)", history_bad))
    checks.append(_zero("services and MOFCOM agree (status, form, license)", disagree))

    # Webhooks: every history entry of every application is an event the receiver must get.
    if webhook_receipts is None:
        checks.append(
            Check("each webhook event delivered (>= 1, counted)", "all", "not run (--no-webhooks)", True)
        )
    else:
        expected = {
            e["event"]["id"]: app_id
            for app_id, f in facts.items()
            for e in (f.history or {}).get("items", [])
        }
        missing = [f"{a}: event {e} never delivered" for e, a in expected.items() if not webhook_receipts[e]]
        got = sum(1 for e in expected if webhook_receipts[e])
        total = sum(webhook_receipts[e] for e in expected)
        extra = [e for e in webhook_receipts if e not in expected]
        actual = (
            f"{got}/{len(expected)} delivered ({total} deliveries, {total - got} duplicates dropped)"
            + (f", {webhook_bad} bad signatures" if webhook_bad else "")
            + (f", {len(extra)} for events not in any history" if extra else "")
        )
        checks.append(
            Check(
                "each webhook event delivered (>= 1, counted)",
                f"{len(expected)}/{len(expected)}",
                actual,
                not missing and not webhook_bad,
                _ex(missing),
            )
        )

    if stats_problems is None:
        checks.append(Check("statistics = SQL recomputation", "equal", "not compared", False))
    else:
        checks.append(
            Check(
                "statistics = SQL recomputation",
                f"equal ({stats_approvals} approvals)",
                "equal" if not stats_problems else f"{len(stats_problems)} differences",
                not stats_problems,
                _ex(stats_problems),
            )
        )
    checks.append(
        Check(
            "valid events in dead-letter topics",
            "0",
            f"{len(dead_letters)} (of {dead_letter_records} dead letters)",
            not dead_letters,
            _ex([f"{d['topic']} {d['event_type']} {d['aggregate_id']}: {d['reason']}" for d in dead_letters]),
        )
    )
    checks.append(
        Check(
            "components killed and back",
            f"{kills_planned} kills, all back",
            f"{kills_planned - len(kills_failed)} back" if kills_planned else "no kills",
            not kills_failed,
            _ex(kills_failed),
        )
    )
    return checks, outcomes


def _zero(name: str, problems: list[str]) -> Check:
    return Check(name, "0", str(len(problems)), not problems, _ex(problems))
