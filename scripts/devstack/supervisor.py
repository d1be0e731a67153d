"""The supervisor of a profile: a small daemon that ``./dev up`` starts and ``./dev down`` stops.

It launches the services and sandboxes (it is their parent, so it knows how they ended) and
watches Kafka, PostgreSQL and nginx (which ``./dev up`` starts itself, in order). A component
that stops on its own is started again after a backoff (backoff.py: 1 s doubling to 30 s, back
to 1 s once it stayed healthy a while); each exit and restart is one JSON line in
``logs/supervisor.log``. A component held down (``./dev kill``, ``./dev hold``: a file
``run/supervise/NAME.held``) stays down until ``./dev start NAME`` or ``./dev up``.

Files under ``run/supervise/``: ``NAME.json`` (what ``./dev status`` shows: pid, state,
restarts, last exit code), ``NAME.held``, and ``NAME.lock``, held by whoever starts NAME (the
supervisor, or ``./dev start``/``./dev kill`` of Kafka, PostgreSQL or nginx), so that two never
start it at once. The daemon holds no profile lock and no port.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import common
from .apps import app_pid
from .backoff import Backoff, restart_after
from .common import LOCK_HELD_VAR, REPO, StackError, rel, say, tail
from .envfile import process_env
from .kafka import kafka_pid, kafka_up
from .nginx import nginx_pid, nginx_up
from .postgres import pg_pid, postgres_up
from .procs import http_status, launch, pid_alive, port_open, read_pidfile
from .table import ALL_APPS_BY_NAME, APP_HEALTH_TIMEOUT, APPS_BY_NAME, Stack

INFRA = ("kafka", "postgres", "nginx")
COMPONENTS = ("kafka", "postgres", *APPS_BY_NAME, "nginx")  # one replica of each service


def components(st: Stack) -> tuple[str, ...]:
    """What the supervisor of ST watches: COMPONENTS plus the extra replicas (``st.replicas``)."""
    return ("kafka", "postgres", *(a.name for a in st.apps), "nginx")


POLICY = Backoff()
SUPERVISED = "AIL_SUPERVISED_REPLICAS"  # in the daemon's environment: the count it was started for
POLL = 0.5  # seconds between looks at a running component
STOP_GRACE = 5.0


# ---- the files ./dev and the daemon share


def sup_dir(st: Stack) -> Path:
    return st.rundir / "supervise"


def _path(st: Stack, name: str, suffix: str) -> Path:
    return sup_dir(st) / f"{name}.{suffix}"


def hold(st: Stack, name: str, why: str) -> None:
    """Mark NAME held down: the supervisor does not start it until ``release``."""
    p = _path(st, name, "held")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps({"why": why, "at": time.strftime("%Y-%m-%dT%H:%M:%S")}) + "\n")


def release(st: Stack, name: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _path(st, name, "held").unlink()


def is_held(st: Stack, name: str) -> bool:
    return _path(st, name, "held").exists()


def read_status(st: Stack, name: str) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(_path(st, name, "json").read_text())
        return data
    except (OSError, ValueError):
        return {}


@contextlib.contextmanager
def component_lock(st: Stack, name: str) -> Iterator[None]:
    p = _path(st, name, "lock")
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---- the daemon, seen from ./dev


def supervisor_pid(st: Stack) -> int | None:
    return read_pidfile(st.pidfile("supervisor"), "supervise")


def ensure_supervisor(st: Stack, skip: tuple[str, ...] = ()) -> None:
    """Start the profile's supervisor unless it runs; wake it either way (a component released
    by ``./dev start`` or ``./dev up`` is started at once, without the rest of its backoff)."""
    pid = supervisor_pid(st)
    # A new replica count (./dev up --replicas N, ./dev scale N) is in stack.json already: the
    # running daemon reads it (Supervisor.follow_replicas) and watches the new replicas too, so
    # it stays the parent of what it started (and knows how those end).
    if pid:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGUSR1)
            return
    argv = [sys.executable, str(REPO / "scripts" / "devstack" / "__main__.py"), "supervise"]
    argv += [f"--skip={n}" for n in skip]
    env = dict(os.environ, AIL_PROFILE=st.profile, AIL_PORT_BASE=str(st.base))
    env[SUPERVISED] = str(st.replicas)  # the count it was started for (it follows stack.json)
    env.pop(LOCK_HELD_VAR, None)  # the daemon outlives the ./dev test that holds the lock
    proc = launch("supervisor", argv, env, st.logfile("supervisor"), st.pidfile("supervisor"))
    say("supervisor", f"started (pid {proc.pid}); it restarts what stops on its own")


def stop_supervisor(st: Stack, tag: str) -> None:
    """SIGTERM the daemon (only it: what it started runs on, for ``down`` to stop in order)."""
    pid = supervisor_pid(st)
    if not pid:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    say(tag, "supervisor ... stopped")


# ---- the daemon itself


class Supervisor:
    def __init__(self, st: Stack, names: list[str], skip: tuple[str, ...] = ()) -> None:
        self.st = st
        self.skip = skip
        self.stop = threading.Event()
        self._out = threading.Lock()
        self.watches = [Watch(self, n) for n in names]

    def log(self, event: str, level: str = "info", **fields: object) -> None:
        line = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "level": level,
            "logger": "devstack.supervisor",
            "event": event,
            "profile": self.st.profile,
            **fields,
        }
        with self._out:
            print(json.dumps(line, ensure_ascii=False), flush=True)

    def follow_replicas(self) -> None:
        """Watch the replicas of a new count in stack.json (``./dev scale``). A replica above the
        count keeps its watch: ``./dev scale`` holds it down, so it stays stopped."""
        n = self.st.recorded_replicas() or 1
        if n == self.st.replicas:
            return
        self.st.replicas = n
        have = {w.name for w in self.watches}
        for name in components(self.st):
            if name not in have and name not in self.skip:
                w = Watch(self, name)
                self.watches.append(w)
                w.start()
                self.log("watch_added", component=name, replicas=n)

    def wake_all(self) -> None:
        for w in self.watches:
            w.wake.set()

    def serve(self) -> int:
        def on_stop(_sig: int, _frame: object) -> None:
            self.stop.set()
            self.wake_all()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGUSR1, lambda _s, _f: self.wake_all())
        # (SIGHUP is left alone: an ignored signal stays ignored in every process started here;
        # the daemon has a session of its own, no terminal sends it one.)
        # What the parts print while the daemon starts Kafka, PostgreSQL or nginx: JSON lines too.
        common.SINK = lambda tag, msg: self.log("output", component=tag, message=msg)
        self.log("supervisor_started", pid=os.getpid(), components=[w.name for w in self.watches])
        for w in self.watches:
            w.start()
        while not self.stop.is_set():
            time.sleep(POLL)  # signal handlers run in this thread
            self.follow_replicas()
        self.log("supervisor_stopping", pid=os.getpid())
        return 0


class Watch(threading.Thread):
    """One component: start it when it is down and not held, wait for it to stop, back off."""

    def __init__(self, sup: Supervisor, name: str) -> None:
        super().__init__(name=f"watch-{name}", daemon=True)
        self.sup, self.st, self.name = sup, sup.st, name
        self.wake = threading.Event()
        old = read_status(self.st, name)  # a supervisor started again keeps the counts
        self.status: dict[str, Any] = {
            "name": name,
            "pid": None,
            "state": "starting",
            "restarts": int(old.get("restarts", 0)),
            "exits": int(old.get("exits", 0)),
            "last_exit": old.get("last_exit"),
        }

    # component specifics
    def pid(self) -> int | None:
        if self.name == "kafka":
            return kafka_pid(self.st)
        if self.name == "postgres":
            return pg_pid(self.st)
        if self.name == "nginx":
            return nginx_pid(self.st)
        return app_pid(self.st, ALL_APPS_BY_NAME[self.name])

    def healthy(self) -> bool:
        if self.name in ("kafka", "postgres"):
            return port_open(self.st.port(self.name))
        port = self.st.port("entry" if self.name == "nginx" else self.name)
        return http_status(port, timeout=1.0) == 200

    def launch(self) -> subprocess.Popen[bytes] | None:
        """Start the component (Kafka, PostgreSQL, nginx: the way ``./dev start`` does, until
        ready); the new process when it is this daemon's child (then its exit code is known)."""
        st = self.st
        if self.name == "kafka":
            return kafka_up(st)
        if self.name == "postgres":
            postgres_up(st)
            return None
        if self.name == "nginx":
            proc, _ = nginx_up(st)
            return proc
        app = ALL_APPS_BY_NAME[self.name]
        port = st.port(app.name)
        # Every replica of a service has the service's name (its consumer groups, metrics job and
        # traces are the service's); AIL_INSTANCE tells the copies apart (logs).
        extra = {
            **st.service_urls(),
            "AIL_HTTP_PORT": str(port),
            "AIL_SERVICE_NAME": app.service_name,
            "AIL_INSTANCE": app.name,
        }
        if app.service_name == "stats":
            # Each stats worker holds only its partitions: a query gathers the others' shards.
            extra["AIL_STATS_PEERS"] = st.stats_peers(app.name)
        env = process_env(st, extra)
        argv = [str(st.venv_python), "-m", app.module]
        return launch(app.name, argv, env, st.logfile(app.name), st.pidfile(app.name))

    # the loop
    def write(self, **changes: object) -> None:
        self.status.update(changes, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        p = _path(self.st, self.name, "json")
        tmp = p.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(self.status) + "\n")
        tmp.replace(p)

    def pause(self, seconds: float) -> None:
        self.wake.wait(seconds)
        self.wake.clear()

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - a watch that dies must say so
            self.sup.log("watch_failed", level="error", component=self.name, error=repr(exc))

    def _loop(self) -> None:
        previous: float | None = None  # the backoff before the latest start
        automatic = False  # the next start is a restart after an exit (not ./dev start)
        while not self.sup.stop.is_set():
            if is_held(self.st, self.name):
                previous, automatic = None, False  # after ./dev start, a crash waits 1 s again
                self.write(state="held", pid=self.pid())
                self.pause(1.0)
                continue
            child = None
            with component_lock(self.st, self.name):
                if is_held(self.st, self.name) or self.sup.stop.is_set():
                    continue
                pid = self.pid()
                if pid is None:
                    self.write(state="starting", pid=None)
                    try:
                        child = self.launch()
                    except StackError as exc:
                        self.sup.log("start_failed", level="error", component=self.name, error=str(exc))
                    pid = child.pid if child is not None else self.pid()
                    if automatic and pid is not None:
                        self.status["restarts"] += 1
                        self.sup.log(
                            "process_restarted",
                            level="warning",
                            component=self.name,
                            pid=pid,
                            restarts=self.status["restarts"],
                            after_s=previous,
                        )
                    elif pid is not None:
                        self.sup.log("process_started", component=self.name, pid=pid)
            automatic = False
            code: int | None = None
            healthy_for: float | None = None
            if pid is not None:
                self.write(state="starting", pid=pid)
                code, healthy_for = self._wait_exit(pid, child)
                if self.sup.stop.is_set():
                    return
                self.status["exits"] += 1
                self.write(state="down", pid=None, last_exit=code)
            # A wake-up sent while it ran (./dev start of another component) must not cut the
            # backoff short; one sent during the backoff does (./dev start, ./dev up).
            self.wake.clear()
            held = is_held(self.st, self.name)
            wait = restart_after(POLICY, held=held, previous=previous, healthy_for=healthy_for)
            self.sup.log(
                "process_exited" if pid is not None else "process_not_started",
                level="info" if held else "warning",
                component=self.name,
                pid=pid,
                exit_code=code,
                held=held,
                restart_in_s=wait,
            )
            if wait is None:
                continue
            previous, automatic = wait, True
            self.write(state="backoff", restart_in_s=wait)
            self.pause(wait)

    def _wait_exit(self, pid: int, child: subprocess.Popen[bytes] | None) -> tuple[int | None, float | None]:
        """Block until the process ends: (exit code if it is this daemon's child, seconds it was
        healthy). Health is looked at only until it first answers."""
        healthy_at: float | None = None
        while not self.sup.stop.is_set():
            if child is not None:
                code = child.poll()
                if code is not None:
                    break
            elif not pid_alive(pid):
                code = None
                break
            if healthy_at is None and self.healthy():
                healthy_at = time.monotonic()
                self.write(state="up", healthy_since=time.strftime("%Y-%m-%dT%H:%M:%S"))
            self.sup.stop.wait(POLL)
        else:
            return None, None
        return code, (time.monotonic() - healthy_at if healthy_at is not None else None)


def serve(st: Stack, skip: list[str]) -> int:
    """``supervise`` (run by ensure_supervisor, never by hand): the daemon's main."""
    sup_dir(st).mkdir(parents=True, exist_ok=True)
    return Supervisor(st, [n for n in components(st) if n not in skip], tuple(skip)).serve()


def wait_started(st: Stack, name: str, exits_before: int, timeout: float = APP_HEALTH_TIMEOUT) -> None:
    """Wait until the supervisor's NAME answers /healthz. It is held down and an error raised
    when it exits first (``exits_before``: its exit count before it was asked to start), so a
    service that cannot start does not loop while someone fixes it."""
    port, log = st.port(name), st.logfile(name)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if http_status(port) == 200:
            pid = app_pid(st, ALL_APPS_BY_NAME[name])
            if time.monotonic() - t0 > 0.5:
                say(name, f"healthy in {time.monotonic() - t0:.1f}s (pid {pid}, :{port})")
            else:
                say(name, f"already running (pid {pid}, :{port})")
            return
        status = read_status(st, name)
        if int(status.get("exits", 0)) > exits_before and status.get("state") != "up":
            hold(st, name, "exited while starting")
            raise StackError(
                f"{name} exited with code {status.get('last_exit')} while starting. "
                f"Last lines of {rel(log)}:\n{tail(log)}\n"
                f"Fix it, then ./dev start {name} (./dev logs {name} for the rest)."
            )
        time.sleep(0.2)
    raise StackError(
        f"{name}: GET http://127.0.0.1:{port}/healthz did not answer 200 within "
        f"{timeout:.0f}s. Last lines of {rel(log)}:\n{tail(log)}\n"
        f"Look at ./dev logs {name}, fix it, then ./dev start {name}."
    )
