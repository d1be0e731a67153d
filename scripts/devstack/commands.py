"""The commands of ``./dev`` that change the stack: up, down, reset, restart, kill, start, hold,
and logs and psql. ``./dev status`` is in status.py, ``./dev test`` in cli.py."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable

from .apps import (
    app_hung,
    app_pid,
    module_present,
    probe_modules,
    run_py_step,
    wait_healthy,
)
from .common import REPO, StackError, parallel, raise_collected, rel, say, warn
from .envfile import stack_env, write_env
from .install import cmd_install
from .kafka import KAFKA_STOP_GRACE, kafka_pid, kafka_up
from .nginx import nginx_pid, nginx_up
from .postgres import pg_children, pg_pid, pg_psql_base, postgres_down, postgres_up
from .procs import pid_alive, pid_environ, port_free, port_owner, stop_pids
from .softhsm import softhsm_up
from .supervisor import (
    INFRA,
    component_lock,
    ensure_supervisor,
    hold,
    read_status,
    release,
    stop_supervisor,
    sup_dir,
    supervisor_pid,
    wait_started,
)
from .table import (
    ALL_APPS_BY_NAME,
    APP_STOP_GRACE,
    APPS,
    APPS_BY_NAME,
    DEMO_EKEY_MODULE,
    DEMO_MODULE,
    PORT_OFFSETS,
    PY_STEPS,
    REPLICAS_KEY,
    REPLICATED,
    Stack,
)

KNOWN = ("kafka", "postgres", "nginx", *APPS_BY_NAME)


def known(st: Stack) -> tuple[str, ...]:
    """The components of ST by their process names (KNOWN plus the extra replicas)."""
    return ("kafka", "postgres", "nginx", *(a.name for a in st.apps))


def expand(st: Stack, names: list[str]) -> list[str]:
    """Process names for the names given to kill/start/hold/restart: a replicated service's name
    means every replica of it (`submission`: the service is down), `submission-1` its first
    (the process `submission`), `submission-2` its second."""
    out: list[str] = []
    for n in names:
        base, _, k = n.rpartition("-")
        if n in REPLICATED:
            found = [a.name for a in st.replicas_of(n)]
        elif base in REPLICATED and k == "1":
            found = [base]
        else:
            found = [n]
        out += [f for f in found if f not in out]
    return out


def check_ports(st: Stack) -> None:
    """Refuse to start anything when a port we need is held by something that is not ours."""
    running = {
        "kafka": kafka_pid(st) is not None,
        "postgres": pg_pid(st) is not None,
        "entry": nginx_pid(st) is not None,
    }
    running["kafka-controller"] = running["kafka"]
    for app in st.apps:
        running[app.name] = app_pid(st, app) is not None
    names = list(PORT_OFFSETS) + [a.name for a in st.apps]
    conflicts = []
    for name in names:
        port = st.port(name)
        if not running[name] and not port_free(port):
            conflicts.append(f"  port {port} ({name}) is in use by {port_owner(port)}")
    for service in REPLICATED:  # nginx's listeners in front of each service's replicas
        port = st.front_port(service)
        if not running["entry"] and not port_free(port):
            conflicts.append(f"  port {port} (nginx, in front of {service}) is in use by {port_owner(port)}")
    if conflicts:
        raise StackError(
            f"cannot start profile '{st.profile}' on port base {st.base}:\n"
            + "\n".join(conflicts)
            + "\nEither stop what holds these ports (for another ./dev profile: AIL_PROFILE=NAME "
            "./dev down), or pick another port base, e.g. AIL_PORT_BASE="
            f"{st.base + 1000} ./dev up"
        )


def _infra_up(st: Stack, name: str) -> None:
    """Start Kafka, PostgreSQL or nginx unless it runs, and wait until it is ready; under the
    component's lock, so the supervisor does not start it at the same moment."""
    with component_lock(st, name):
        release(st, name)
        if name == "kafka":
            kafka_up(st)
        elif name == "postgres":
            postgres_up(st)
        else:
            proc, wait = nginx_up(st)
            if wait:
                wait_healthy(st, "nginx", st.port("entry"), proc, st.logfile("nginx-error"), 15)


def _apps_up(st: Stack, names: list[str], skip: tuple[str, ...] = ()) -> dict[str, Callable[[], object]]:
    """Release the named services and sandboxes and have the supervisor start them; the waits
    for their /healthz, to run in parallel."""
    before = {n: int(read_status(st, n).get("exits", 0)) for n in names}
    for n in names:
        release(st, n)
    ensure_supervisor(st, skip)
    return {n: functools.partial(wait_started, st, n, before[n]) for n in names}


def cmd_up(st: Stack, *, install: bool = True, quiet_summary: bool = False) -> None:
    t0 = time.monotonic()
    if install:
        cmd_install()
    st.mkdirs()
    say(
        "up",
        f"profile '{st.profile}', port base {st.base}, {st.replicas} replica(s) of each service, "
        f"state in {rel(st.state)}",
    )
    check_ports(st)
    mods = probe_modules(st)

    serials: dict[str, str] = {}

    def hsm() -> None:
        serials.update(softhsm_up(st))

    raise_collected(
        parallel(
            {
                "kafka": lambda: _infra_up(st, "kafka"),
                "postgres": lambda: _infra_up(st, "postgres"),
                "softhsm": hsm,
            }
        )
    )
    env = stack_env(st, serials)
    write_env(st, env)
    say("up", f"environment written to {rel(st.env_file)} and {rel(st.stack_json)}")
    t_infra = time.monotonic() - t0

    for name, module in PY_STEPS:
        if module_present(mods, module, name, f"`python -m {module}`"):
            run_py_step(st, name, module)

    present = [a.name for a in st.apps if module_present(mods, a.module, a.name, f"process {a.name}")]
    for app in st.apps:
        if app.name in present and (pid := app_hung(st, app)):
            warn(app.name, f"pid {pid} is running but /healthz does not answer 200; restarting it")
            hold(st, app.name, "hung: ./dev up restarts it")
            stop_pids({app.name: pid}, APP_STOP_GRACE, app.name)
    stop_extra_replicas(st)
    skip = tuple(a.name for a in st.apps if a.name not in present)
    waits = _apps_up(st, present, skip)
    waits["nginx"] = lambda: _infra_up(st, "nginx")
    say("up", f"waiting for {', '.join(waits)} to answer /healthz ...")
    raise_collected(parallel(waits))
    if "stats" in present:
        restart_stale_stats(st)

    if module_present(mods, DEMO_MODULE, "demo", "demo data"):
        run_py_step(st, "demo", DEMO_MODULE, ["--out", str(st.demo_json)])
        if module_present(mods, DEMO_EKEY_MODULE, "demo-ekey", "demo e-key binding"):
            run_py_step(st, "demo-ekey", DEMO_EKEY_MODULE)

    total = time.monotonic() - t0
    if quiet_summary:
        say("up", f"stack '{st.profile}' is up in {total:.1f}s (infrastructure {t_infra:.1f}s)")
        return
    prefix = "" if st.profile == "dev" else f"AIL_PROFILE={st.profile} "
    some_apps = ", ".join(a.name for a in APPS[:2])
    demo = (
        f"{rel(st.demo_json)}  (API keys and console sign-ins of the demo enterprises and agency)"
        if st.demo_json.exists()
        else "(not written: ail_shared.demo does not exist yet)"
    )
    print(
        f"""
Stack '{st.profile}' is up in {total:.1f}s (infrastructure {t_infra:.1f}s).
  entry point   {st.url("entry")}   (every /api/v1/... route; /healthz)
  console       {st.url("entry")}/   (sign in with an account of the demo data)
  demo data     {demo}
  environment   {rel(st.env_file)}  (set -a; . {rel(st.env_file)}; set +a)
  {prefix}./dev status         what runs where
  {prefix}./dev logs NAME -f   follow a log: kafka, postgres, nginx, nginx-access, {some_apps}, ...
  {prefix}./dev down           stop everything ({prefix}./dev reset also deletes the state)
""",
        flush=True,
    )


def stop_extra_replicas(st: Stack) -> None:
    """Hold down and stop the replicas above ST's count (after ``--replicas 1`` or ``scale 1``)."""
    extra = [a for a in ALL_APPS_BY_NAME.values() if a.name not in {b.name for b in st.apps}]
    for a in extra:
        hold(st, a.name, f"scaled to {st.replicas} replica(s)")
    pids = {a.name: p for a in extra if (p := app_pid(st, a))}
    if pids:
        stop_pids(pids, APP_STOP_GRACE, "scale")


def restart_stale_stats(st: Stack) -> None:
    """A stats replica started before the count changed knows other peers (AIL_STATS_PEERS, read
    at start): it would answer with its own partitions' figures only, or ask a replica that is
    gone. Restarted, it gathers from every replica there is."""
    stale = {
        a.name: pid
        for a in st.replicas_of("stats")
        if (pid := app_pid(st, a)) and (pid_environ(pid, "AIL_STATS_PEERS") or "") != st.stats_peers(a.name)
    }
    if stale:
        exits = {n: int(read_status(st, n).get("exits", 0)) for n in stale}
        for n in stale:
            hold(st, n, "new stats peers")
        stop_pids(stale, APP_STOP_GRACE, "scale")
        for n in stale:  # counted by the supervisor first, or the start would take it for a failure
            _exit_seen(st, n, exits[n])
        raise_collected(parallel(_apps_up(st, list(stale))))


def cmd_scale(st: Stack) -> None:
    """``./dev scale N``: run ST.replicas copies of each service on a running stack, without the
    rest of ``up`` (migrations, topics, demo data): the environment file records the count, the
    supervisor watches the new set, nginx's upstreams and Prometheus's targets list them."""
    from .envfile import read_env
    from .prometheus import reload_config

    if not st.env_file.exists():
        raise StackError(
            f"profile '{st.profile}' has no {rel(st.env_file)}: ./dev up --replicas {st.replicas}"
        )
    env = read_env(st)
    replica_vars = {a.url_var for a in ALL_APPS_BY_NAME.values() if a.replica > 1}
    env = {k: v for k, v in env.items() if k not in replica_vars}
    env[REPLICAS_KEY] = str(st.replicas)
    env.update({a.url_var: st.url(a.name) for a in st.apps})
    write_env(st, env)
    check_ports(st)
    stop_extra_replicas(st)
    names = [a.name for a in st.apps]
    waits = _apps_up(st, names)  # restarts the supervisor when it watched another count
    say("scale", f"waiting for {', '.join(names)} to answer /healthz ...")
    raise_collected(parallel(waits))
    restart_stale_stats(st)
    _infra_up(st, "nginx")  # the upstreams list every replica now (a reload when they changed)
    reload_config(st)
    say("scale", f"profile '{st.profile}' runs {st.replicas} replica(s) of each service")


def cmd_down(st: Stack) -> None:
    stop_supervisor(st, "down")  # first: nothing may start again while the rest stops
    # Every replica, whatever the recorded count (one left over from a scale must stop too).
    apps = {a.name: p for a in ALL_APPS_BY_NAME.values() if (p := app_pid(st, a))}
    if apps:
        stop_pids(apps, APP_STOP_GRACE, "down")
    if pid := nginx_pid(st):
        stop_pids({"nginx": pid}, APP_STOP_GRACE, "down")
    if pid := kafka_pid(st):
        stop_pids({"kafka": pid}, KAFKA_STOP_GRACE, "down")
    postgres_down(st)
    shutil.rmtree(sup_dir(st), ignore_errors=True)  # restart counts and holds end with the stack
    say("down", f"profile '{st.profile}' is stopped")


def cmd_reset(st: Stack) -> None:
    cmd_down(st)
    ext = st.pg_external_home
    if ext.exists():
        shutil.rmtree(ext)
    if st.state.exists():
        shutil.rmtree(st.state)
    say("reset", f"deleted {rel(st.state)}")


def cmd_restart(st: Stack, names: list[str]) -> None:
    names = expand(st, names)
    processes = {a.name: a for a in st.apps}
    unknown = [n for n in names if n not in processes]
    if unknown:
        raise StackError(f"unknown process {', '.join(unknown)}; one of: " + ", ".join(processes))
    targets = [processes[n] for n in names] if names else list(st.apps)
    for a in targets:
        hold(st, a.name, "./dev restart")  # stopped on purpose: `up` below starts it again
    pids = {a.name: p for a in targets if (p := app_pid(st, a))}
    if pids:
        stop_pids(pids, APP_STOP_GRACE, "restart")
    cmd_up(st, install=False)


def component_pid(st: Stack, name: str) -> int | None:
    if name == "kafka":
        return kafka_pid(st)
    if name == "postgres":
        return pg_pid(st)
    if name == "nginx":
        return nginx_pid(st)
    return app_pid(st, ALL_APPS_BY_NAME[name])


def _check_components(st: Stack, names: list[str]) -> list[str]:
    """The process names NAMES stand for (``expand``); an error for a name the stack lacks."""
    have = known(st)
    out = expand(st, names)
    unknown = [n for n in out if n not in have]
    if unknown or not names:
        raise StackError(f"name one or more of: {', '.join(have)} (got {', '.join(unknown) or 'none'})")
    return out


def cmd_kill(st: Stack, names: list[str]) -> None:
    """SIGKILL the named components (no grace, as a crash would): for fault tests and the chaos
    harness. They are held down (the supervisor leaves them) until ``./dev start NAME`` or
    ``./dev up``. A service's name kills every replica of it; ``NAME-k`` one."""
    names = _check_components(st, names)
    for name in names:
        with component_lock(st, name):
            hold(st, name, "./dev kill")
            exits_before = int(read_status(st, name).get("exits", 0))
            was_running = component_pid(st, name) is not None
            _kill(st, name)
        if was_running and supervisor_pid(st) is not None:
            _exit_seen(st, name, exits_before)


def _exit_seen(st: Stack, name: str, exits_before: int, timeout: float = 10.0) -> None:
    """Return once the supervisor has counted the exit (it polls): a ``./dev start`` right after
    would otherwise take that late-counted exit for a failed start and hold NAME down again."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if int(read_status(st, name).get("exits", 0)) > exits_before:
            return
        time.sleep(0.05)


def _kill(st: Stack, name: str) -> None:
    pid = component_pid(st, name)
    if not pid:
        say("kill", f"{name} is not running")
        return
    # A crash of the database server takes every one of its processes: SIGKILL the backends
    # too, or they linger on the shared memory and the next postmaster refuses to start.
    children = pg_children(pid) if name == "postgres" else []
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(child, signal.SIGKILL)
    for _ in range(100):
        if not any(pid_alive(p) for p in (pid, *children)):
            break
        time.sleep(0.05)
    say("kill", f"{name} (pid {pid}) ... killed")


def cmd_hold(st: Stack, names: list[str]) -> None:
    """Hold components down without stopping them: the supervisor leaves them alone (down, or
    run by hand, as some tests do) until ``./dev start NAME`` or ``./dev up``."""
    names = _check_components(st, names)
    for name in names:
        with component_lock(st, name):
            hold(st, name, "./dev hold")
        say("hold", f"{name} ... held (./dev start {name} hands it back to the supervisor)")


def cmd_start(st: Stack, names: list[str]) -> None:
    """Start only the named components (no migrations, topics or demo data), and wait until each
    is healthy: the way back after ``./dev kill`` or an outage test."""
    names = _check_components(st, names)
    if supervisor_pid(st) is None:
        # A supervisor started here must not bring up the rest of a stopped stack: what does
        # not run now stays down until it is named (or ./dev up).
        for n in known(st):
            if n not in names and component_pid(st, n) is None:
                hold(st, n, "not running when ./dev start started the supervisor")
    apps = [n for n in names if n in ALL_APPS_BY_NAME]
    waits: dict[str, Callable[[], object]] = {}
    for name in names:
        if name in INFRA:
            waits[name] = functools.partial(_infra_up, st, name)
    waits.update(_apps_up(st, apps) if apps else {})
    if not apps:
        ensure_supervisor(st)  # it watches what was started again
    raise_collected(parallel(waits))


def cmd_logs(st: Stack, name: str, follow: bool) -> None:
    aliases = {
        "nginx": "nginx-error",
        "entry": "nginx-error",
        "pg": "postgres",
        "postgresql": "postgres",
        "access": "nginx-access",
    }
    path = st.logfile(aliases.get(name, name))
    if not path.exists():
        known = sorted(p.stem for p in st.logs.glob("*.log")) if st.logs.exists() else []
        raise StackError(
            f"no log {rel(path)}"
            + (f"; logs: {', '.join(known)}" if known else f" (is profile '{st.profile}' up?)")
        )
    os.execvp("tail", ["tail", "-n", "200", *(["-F"] if follow else []), str(path)])


def cmd_trace(st: Stack, trace_id: str, *, as_json: bool = False) -> int:
    """Print one trace of the stack's trace store (ail_sandbox.tracestore) as a tree."""
    path = st.state / "traces.jsonl"
    if not st.venv_python.exists():
        raise StackError(f"{rel(st.venv_python)} is missing: run ./dev install")
    cmd = [str(st.venv_python), "-m", "ail_sandbox.tracetree", str(path), trace_id]
    return subprocess.run([*cmd, *(["--json"] if as_json else [])], cwd=REPO, check=False).returncode


def cmd_psql(st: Stack, args: list[str]) -> None:
    if not pg_pid(st):
        raise StackError(f"PostgreSQL of profile '{st.profile}' is not running: ./dev up")
    cmd = pg_psql_base(st)
    os.execvp(cmd[0], [*cmd, *args])
