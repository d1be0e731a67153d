"""One home per rule and per mechanism (issue 11): these scans fail when a second copy comes back.

Each looks for the shape a copy takes (a function of the same name, the same table, the same time
zone built again, an event handler checking its own type, an entrypoint reaching the database) in
every module outside the rule's home."""

from __future__ import annotations

import ast
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ail_application.adapters.reference_data import load
from ail_application.domain.model import Application
from ail_submission.domain.model import ACCEPTED
from tests.unit.submission.fakes import a_submission

FORM = "26110077636755500001"

REPO = Path(__file__).resolve().parents[2]
CODE = [REPO / "services", REPO / "sandbox", REPO / "shared", REPO / "clients"]


def _modules(*roots: Path) -> list[Path]:
    return sorted(
        p for root in roots for p in root.rglob("*.py") if ".venv" not in p.parts and "tests" not in p.parts
    )


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO))


def _defined_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)}


@pytest.mark.parametrize(
    ("names", "home"),
    [
        (
            {"valid_until", "license_year", "add_months", "valid_until_of", "china_date"},
            "shared/ail_shared/calendar.py",
        ),
        ({"status_after_review", "moves_forward", "ensure_revocable"}, "shared/ail_shared/lifecycle.py"),
    ],
)
def test_a_rule_is_defined_only_in_its_home(names: set[str], home: str) -> None:
    copies = {_rel(p): sorted(names & _defined_functions(p)) for p in _modules(*CODE) if _rel(p) != home}
    assert {k: v for k, v in copies.items() if v} == {}


def test_the_china_time_zone_is_built_once() -> None:
    built = [_rel(p) for p in _modules(*CODE) if 'ZoneInfo("Asia/Shanghai")' in p.read_text(encoding="utf-8")]
    assert built == ["shared/ail_shared/calendar.py"]


def test_the_operations_check_and_action_models_live_in_ail_shared_ops() -> None:
    """Issue 14: the operations-role check, ``OpsAction`` and ``Why`` were written three times
    (the send queue, the delivery queue, the dead letters); one home now."""
    home = "shared/ail_shared/ops.py"
    role = re.compile(r"principal\.kind\s*!=\s*[\"']operations[\"']")
    model = re.compile(r"^class (OpsAction|Why)\b", re.M)
    copies = [
        _rel(p)
        for p in _modules(*CODE)
        if _rel(p) != home and (role.search(t := p.read_text(encoding="utf-8")) or model.search(t))
    ]
    assert copies == []


def test_the_status_rank_is_read_only_by_the_lifecycle() -> None:
    readers = [
        _rel(p)
        for p in _modules(*CODE)
        if "STATUS_RANK" in p.read_text(encoding="utf-8") and _rel(p) != "shared/ail_shared/lifecycle.py"
    ]
    assert readers == []


def test_no_event_handler_checks_its_own_type() -> None:
    asserting = [
        f"{_rel(p)}:{i}"
        for p in _modules(REPO / "services")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"\bassert isinstance\(", line)
    ]
    assert asserting == []


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_no_entrypoint_reaches_the_database_or_an_http_client() -> None:
    offenders = {
        _rel(p): sorted(_imports(p) & {"asyncpg", "httpx"})
        for p in _modules(REPO / "services")
        if "entrypoints" in p.parts
    }
    assert {k: v for k, v in offenders.items() if v} == {}


_SQL = re.compile(r"\b(SELECT|INSERT INTO|UPDATE|DELETE FROM)\b[^\n]*\b(FROM|VALUES|SET|WHERE)\b")


def test_no_entrypoint_holds_sql() -> None:
    offenders = [
        _rel(p)
        for p in _modules(REPO / "services")
        if "entrypoints" in p.parts and _SQL.search(p.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_no_untyped_bag_of_dependencies() -> None:
    using = [
        _rel(p)
        for p in _modules(REPO / "services", REPO / "shared")
        if re.search(r"\b(runtime|rt)\.extra\b|\.extra\[", p.read_text(encoding="utf-8"))
    ]
    assert using == []


def test_every_service_keeps_the_same_files() -> None:
    expected = {
        "config.py",
        "bootstrap.py",
        "domain",
        "service_layer/handlers.py",
        "service_layer/unit_of_work.py",
        "adapters",
        "entrypoints/api.py",
    }
    missing = {}
    for svc in sorted((REPO / "services").iterdir()):
        pkg = next(svc.glob("ail_*"), None)
        if pkg is None:
            continue
        gone = sorted(e for e in expected if not (pkg / e).exists())
        if gone:
            missing[svc.name] = gone
    assert missing == {}


def test_the_applications_snapshot_carries_the_catalogue_tolerance_and_its_valid_until() -> None:
    """From the application's form to LicenseIssued: the catalogue's 3 % for crude oil, and the
    validity the form shows equals the one the license carries (no second copy of the rule)."""
    ref, on = load(), date(2026, 11, 20)
    app = Application.new_draft(
        serial="NA2700000000000001",
        enterprise_code="1100776367555",
        importer_name="北京示例",
        year=2027,
        form={
            "commodity_code": "2709000000",
            "goods": [{"unit": "070", "quantity": "100", "unit_price": "5"}],
        },
        ref=ref,
        on=on,
    )
    app.recompute(ref, on)
    snap = app.snapshot()
    entry = ref.commodity("2709000000", 2027)
    assert entry is not None and snap["overflow_tolerance_pct"] == str(entry.tolerance_pct) == "3"
    sub = a_submission(state=ACCEPTED, form_no=FORM, snapshot=snap)
    issued = sub.license(license_no="27AANW0001", issued_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    assert issued.overflow_tolerance_pct == Decimal("3")
    assert issued.valid_until == date.fromisoformat(snap["valid_until"]) == date(2027, 5, 20)


_IO = re.compile(
    r"\bopen\(|\.read_text\(|\.read_bytes\(|date\.today\(\)|datetime\.now\(|time\.time\(|utcnow\(\)|now_utc\(\)"
)


def test_the_domain_reads_no_files_and_no_clock() -> None:
    """Reference data and ``now`` / ``on`` are passed in (the services' adapters and handlers)."""
    reading = [
        f"{_rel(p)}:{i}"
        for p in _modules(REPO / "services")
        if "domain" in p.parts
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if _IO.search(line) and not line.lstrip().startswith("#")
    ]
    assert reading == []
