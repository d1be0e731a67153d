"""How ``./dev test`` splits the suite: parallel, then the serial tests alone (scripts/devstack/cli.py)."""

from __future__ import annotations

import re

import pytest

from tests import support
from tests.support import REPO
from tests.unit.support import devstack_module

cli = devstack_module("cli")


def test_the_whole_suite_runs_in_a_parallel_phase_then_a_serial_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIL_TEST_WORKERS", raising=False)
    phases = cli.pytest_phases(["-q"])
    assert [name for name, _ in phases] == ["pytest parallel", "pytest serial"]
    parallel, serial = (a for _, a in phases)
    assert parallel[:2] == ["-m", "not serial"] and "-n" in parallel and parallel[-1] == "-q"
    assert serial == ["-m", "serial", "--durations=15", "-q"]
    # Each phase ends with its slowest tests; a --durations of the caller's comes later and wins.
    assert "--durations=15" in parallel
    assert cli.pytest_phases(["--durations=0"])[1][1][-1] == "--durations=0"


@pytest.mark.parametrize(
    "args", [["tests/unit"], ["-m", "e2e"], ["-mserial"], ["-n", "2"], ["tests/unit/test_lint.py::test_ruff"]]
)
def test_a_chosen_selection_runs_as_given_in_one_phase(args: list[str]) -> None:
    assert cli.pytest_phases(args) == [("pytest", args)]


def test_workers_0_runs_the_whole_suite_in_one_serial_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIL_TEST_WORKERS", "0")
    assert cli.pytest_phases([]) == [("pytest", ["--durations=15"])]


@pytest.mark.parametrize(
    ("codes", "rc"),
    [([0, 0], 0), ([0, 5], 0), ([5, 0], 0), ([5, 5], 5), ([1, 0], 1), ([0, 2], 2), ([5, 1], 1), ([], 0)],
)
def test_the_exit_code_is_the_first_failure_and_5_only_when_nothing_ran(codes: list[int], rc: int) -> None:
    assert cli.combined_exit(codes) == rc


def test_a_stack_changing_dev_call_is_refused_in_the_parallel_phase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    with pytest.raises(RuntimeError, match="pytest.mark.serial"):
        support.dev("kill", "signer")
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    support.require_serial("a kill")  # the serial phase (or a plain pytest run) may


# What changes the shared stack for every test running beside it: a ./dev verb that stops, starts
# or holds a component, a second copy of a service (it joins the consumer group), a restart of a
# service by hand, or a sandbox setting that is global (MOFCOM's /control, Customs' default mode).
# A reset to the defaults is not on the list: the parallel tests all expect the defaults. Nor is
# a MOFCOM scope (/control/scopes, tests.support.MofcomScopes): it changes MOFCOM for the
# submissions that match it only, and a reset leaves it alone.
STACK_CHANGING_CALLS = re.compile(
    r"""\bdev\(\s*"(kill|hold|start|restart|down|up|reset|scale)"|SignerProcess\(|restart_stats\(|customs_with\(|\.kill9\("""
    r"""|\.post\(\s*"/control",|"/control/default\""""
)
SERIAL_MARK = re.compile(r"^pytestmark\s*=.*pytest\.mark\.serial", re.MULTILINE)


def test_every_test_module_that_changes_the_shared_stack_is_marked_serial() -> None:
    unmarked = []
    for path in sorted((REPO / "tests").rglob("test_*.py")):
        if "tests/unit/" in path.as_posix():
            continue  # unit tests run their own in-process apps, never the stack
        text = path.read_text()
        if STACK_CHANGING_CALLS.search(text) and not SERIAL_MARK.search(text):
            unmarked.append(str(path.relative_to(REPO)))
    assert unmarked == [], (
        f"mark these `pytestmark = pytest.mark.serial` (they change the shared stack): {unmarked}"
    )


def test_the_browser_journey_that_sets_mofcom_runs_serial() -> None:
    # console/e2e/run.mjs is JavaScript: the module check above does not read it.
    journey = (REPO / "console" / "e2e" / "run.mjs").read_text()
    test = (REPO / "tests" / "e2e" / "console" / "test_console_browser.py").read_text()
    if "/control`" in journey:
        assert SERIAL_MARK.search(test), "the console journey changes MOFCOM's /control: mark it serial"


def test_the_check_sees_each_kind_of_stack_change() -> None:
    for line in (
        'dev("kill", "signer")',
        'dev("hold", "stats")',
        'dev("scale", "2", timeout=900)',
        'SignerProcess(stack, hsm, "h2", log)',
        "await restart_stats(env)",
        "proc.kill9()",
        'await mofcom.post("/control", json={"first_delay": 60})',
        'await c.put("/control/default", json={"mode": "refuse"})',
    ):
        assert STACK_CHANGING_CALLS.search(line), line
    for line in ('dev("status", check=False)', 'await c.post("/control/reset")', 'c.get("/control")'):
        assert not STACK_CHANGING_CALLS.search(line), line


def test_a_mofcom_scope_is_allowed_in_the_parallel_phase_and_the_global_control_is_not() -> None:
    for line in (
        'await mofcom_scopes.add({"first_delay": 60}, application_id=app_id)',
        'await c.post("/control/scopes", json={"match": match, "control": control})',
        'await self.client.patch(f"/control/scopes/{scope_id}", json=control)',
        'await self.client.delete(f"/control/scopes/{scope_id}")',
    ):
        assert not STACK_CHANGING_CALLS.search(line), line
    for line in (
        'await mofcom_sandbox.post("/control", json={"faults": {"error_rate": 1.0}})',
        'await mofcom.post(\n        "/control",\n        json={"first_delay": 120},\n    )',
    ):
        assert STACK_CHANGING_CALLS.search(line), line
