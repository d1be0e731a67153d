"""``./dev status``: one line per component: pid, port, healthy or not, and what the supervisor
knows (up, down or held; its restarts; its last exit code)."""

from __future__ import annotations

from .apps import app_pid
from .common import StackError, rel, run
from .kafka import kafka_pid
from .nginx import nginx_pid
from .postgres import pg_pid, pg_psql_base
from .procs import http_status, port_open
from .softhsm import softhsm_tokens
from .supervisor import is_held, read_status, supervisor_pid
from .table import EKEYS, Stack

HEADER = ("COMPONENT", "PID", "PORT", "HEALTHY", "STATE", "RESTARTS", "LAST EXIT")


def _exit(code: object) -> str:
    """-9 reads 'SIGKILL (-9)'; an exit the supervisor could not see (not its child) '?'."""
    if code is None:
        return "?"
    if isinstance(code, int) and code < 0:
        import signal

        try:
            return f"{signal.Signals(-code).name} ({code})"
        except ValueError:
            return str(code)
    return str(code)


def supervised(st: Stack, name: str, pid: int | None) -> tuple[str, str, str]:
    """STATE, RESTARTS and LAST EXIT of a supervised component."""
    status = read_status(st, name)
    if is_held(st, name):
        state = "held" + (" (running)" if pid else "")
    else:
        state = "up" if pid else str(status.get("state") or "down")
        if state == "starting" and not pid:
            state = "down"
    exits = int(status.get("exits", 0))
    return state, str(status.get("restarts", 0)), _exit(status.get("last_exit")) if exits else "-"


def cmd_status(st: Stack) -> int:
    rows: list[tuple[str, ...]] = []
    pid = kafka_pid(st)
    rows.append(
        (
            "kafka",
            str(pid or "-"),
            f"{st.port('kafka')}/{st.port('kafka-controller')}",
            "yes" if pid and port_open(st.port("kafka")) else "no",
            *supervised(st, "kafka", pid),
        )
    )
    pid = pg_pid(st)
    ok = False
    if pid:
        ok = run([*pg_psql_base(st, "postgres"), "-tAc", "select 1"], check=False, timeout=10).returncode == 0
    rows.append(
        (
            "postgres",
            str(pid or "-"),
            str(st.port("postgres")),
            "yes" if ok else "no",
            *supervised(st, "postgres", pid),
        )
    )
    try:
        toks = softhsm_tokens(st) if st.softhsm_conf.exists() else {}
    except StackError:
        toks = {}
    have = [ek.label for ek in EKEYS if ek.label in toks]
    rows.append(
        (
            "softhsm2",
            "-",
            "-",
            f"yes ({', '.join(have)})"
            if len(have) == len(EKEYS)
            else "no" + (f" (only {', '.join(have)})" if have else ""),
            "-",
            "-",
            "-",
        )
    )
    pid = nginx_pid(st)
    rows.append(
        (
            "nginx (entry)",
            str(pid or "-"),
            str(st.port("entry")),
            "yes" if pid and http_status(st.port("entry")) == 200 else "no",
            *supervised(st, "nginx", pid),
        )
    )
    for app in st.apps:  # every replica its own row (`submission`, then `submission-2`, ...)
        pid = app_pid(st, app)
        healthy = ("yes" if http_status(st.port(app.name)) == 200 else "no") if pid else "not running"
        rows.append(
            (app.name, str(pid or "-"), str(st.port(app.name)), healthy, *supervised(st, app.name, pid))
        )
    pid = supervisor_pid(st)
    rows.append(
        ("supervisor", str(pid or "-"), "-", "yes" if pid else "no", "up" if pid else "down", "-", "-")
    )
    print(
        f"profile '{st.profile}', port base {st.base}, {st.replicas} replica(s) of each service, "
        f"state {rel(st.state)}"
    )
    widths = [max(len(r[i]) for r in [*rows, HEADER]) for i in range(len(HEADER))]
    for r in [HEADER, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if st.env_file.exists():
        print(f"environment: {rel(st.env_file)}")
    print(f"supervisor log: {rel(st.logfile('supervisor'))} (one JSON line per exit and restart)")
    return 0 if all(r[3].startswith("yes") for r in rows) else 3
