"""``./dev COMMAND``: the entry point (see README.md), and ``./dev test``."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from .commands import (
    cmd_down,
    cmd_hold,
    cmd_kill,
    cmd_logs,
    cmd_psql,
    cmd_reset,
    cmd_restart,
    cmd_scale,
    cmd_start,
    cmd_trace,
    cmd_up,
)
from .common import LOCK_HELD_VAR, REPO, StackError, file_lock, say
from .envfile import process_env
from .install import cmd_install
from .kafkatools import cmd_kafka_groups
from .status import cmd_status
from .supervisor import serve
from .table import Stack, parse_replicas


def requested_replicas() -> int | None:
    """AIL_REPLICAS, the count ``up`` and ``test`` start the services with (unset: the count the
    stack runs, else 1). Other commands ignore it: they act on the stack as it runs."""
    raw = os.environ.get("AIL_REPLICAS")
    return parse_replicas(raw) if raw else None


def replicas_option(args: list[str]) -> tuple[int | None, list[str]]:
    """``--replicas N`` (or ``--replicas=N``) out of ARGS: the count, and the other arguments."""
    n: int | None = None
    rest: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--replicas":
            n = parse_replicas(next(it, ""), "--replicas")
        elif a.startswith("--replicas="):
            n = parse_replicas(a.split("=", 1)[1], "--replicas")
        else:
            rest.append(a)
    return n, rest


def pytest_targets(args: list[str]) -> list[str]:
    """`tests` unless the arguments already name a test path."""
    for a in args:
        if not a.startswith("-") and Path(a.split("::")[0]).exists():
            return []
    return ["tests"]


# The whole suite prints its slowest tests at the end of each phase: where CI's time goes (a
# --durations in ARGS comes later on the command line and wins).
DURATIONS = "--durations=15"


def pytest_phases(args: list[str]) -> list[tuple[str, list[str]]]:
    """How ``./dev test`` runs pytest: the whole suite in two phases, or ARGS as given.

    The whole suite (no test path, no ``-m``, no ``-n`` in ARGS) runs first everything not
    marked ``serial`` on ``AIL_TEST_WORKERS`` pytest-xdist workers (default 3; the tests mostly
    wait for the event flow, so more workers than cores pays), one test file per worker at a
    time, all against the one stack; then the ``serial`` tests (they kill, hold or restart
    components) alone. ``AIL_TEST_WORKERS=0`` runs the whole suite in one serial phase. Each
    phase of the whole suite ends with its 15 slowest tests (``DURATIONS``)."""
    workers = os.environ.get("AIL_TEST_WORKERS", "3")
    whole = pytest_targets(args) == ["tests"] and not any(
        a == "-m" or a.startswith("-m") or a == "-n" or a.startswith("-n") or a.startswith("--numprocesses")
        for a in args
    )
    if not whole:
        return [("pytest", args)]
    if workers in ("", "0", "1"):
        return [("pytest", [DURATIONS, *args])]
    return [
        ("pytest parallel", ["-m", "not serial", "-n", workers, "--dist", "loadfile", DURATIONS, *args]),
        ("pytest serial", ["-m", "serial", DURATIONS, *args]),
    ]


def combined_exit(codes: list[int]) -> int:
    """pytest's exit code over the phases: the first failure; 5 (nothing collected) only when
    no phase collected anything (a phase may hold no test when ARGS select a few)."""
    failures = [c for c in codes if c not in (0, 5)]
    if failures:
        return failures[0]
    return 5 if codes and all(c == 5 for c in codes) else 0


def cmd_test(args: list[str]) -> int:
    keep = "--keep" in args or os.environ.get("AIL_KEEP_STACK", "") in ("1", "true", "yes")
    args = [a for a in args if a != "--keep"]
    st = Stack.from_env(for_test=True)
    st.replicas = requested_replicas() or st.replicas
    timings: list[tuple[str, float]] = []

    def phase(name: str, t0: float) -> None:
        timings.append((name, time.monotonic() - t0))
        say("test", f"{name} took {timings[-1][1]:.1f}s")

    rc = 1
    try:
        with file_lock(st.state.parent / f".{st.profile}.lock", f"profile '{st.profile}'"):
            try:
                t0 = time.monotonic()
                cmd_install()
                phase("install", t0)
                t0 = time.monotonic()
                cmd_up(st, install=False, quiet_summary=True)
                phase("up", t0)
                # The tests may call ./dev kill/start on this stack (tests.support.dev): they must
                # not wait for the profile lock this command holds until pytest ends.
                env = process_env(st, {LOCK_HELD_VAR: st.profile})
                codes: list[int] = []
                for name, phase_args in pytest_phases(args):
                    t0 = time.monotonic()
                    cmd = [
                        str(st.venv_python),
                        "-m",
                        "pytest",
                        *pytest_targets(args),
                        "-p",
                        "no:cacheprovider",
                        *phase_args,
                    ]
                    say("test", f"running {shlex.join(cmd[2:])} against profile '{st.profile}'")
                    codes.append(subprocess.run(cmd, cwd=REPO, env=env).returncode)
                    phase(name, t0)
                rc = combined_exit(codes)
                if rc == 5:
                    say("test", "pytest collected no tests: that is a failure (exit 5)")
            except StackError as exc:
                print(f"\n./dev test: {exc}", file=sys.stderr, flush=True)
                rc = 1
            finally:
                if keep:
                    say(
                        "test",
                        f"keeping the '{st.profile}' stack running "
                        f"(AIL_PROFILE={st.profile} ./dev down to stop it)",
                    )
                else:
                    t0 = time.monotonic()
                    try:
                        cmd_down(st)
                    except StackError as exc:
                        print(f"./dev test: down failed: {exc}", file=sys.stderr)
                    phase("down", t0)
    finally:
        if timings:
            say("test", "timing: " + ", ".join(f"{n} {s:.1f}s" for n, s in timings) + f"; exit code {rc}")
    return rc


USAGE = """./dev COMMAND

  install            install what is missing (Debian packages, uv, .venv, Kafka jars)
  up [--replicas N]  install, then start the whole stack (idempotent); N copies of each
                     service (default: AIL_REPLICAS, else the stack's recorded count, else 1)
  scale N            run N copies of each service on the running stack (nginx and
                     Prometheus follow); replica k > 1 of a service is the process NAME-k
  down               stop the stack
  status             what runs, on which port, healthy or not; restarts, last exit code
  logs NAME [-f]     show (or follow) a log: kafka, postgres, nginx, nginx-access, or a process
  restart [NAME...]  restart services/sandboxes (all when none named), then `up`
  test [ARGS...]     install, start a private test stack, run pytest ARGS, stop it
                     (--keep or AIL_KEEP_STACK=1 leaves it running)
  kill NAME...       SIGKILL components (kafka, postgres, nginx or a process name): a crash;
                     they stay down (held) until `start NAME` or `up`. A service's name
                     means all its replicas, NAME-1 / NAME-2 one (also for start/hold/restart)
  start NAME...      start only those components again and wait until they are healthy
  hold NAME...       the supervisor leaves them alone (for a test that runs one by hand)
                     until `start NAME` or `up`
  psql [ARGS...]     psql into the profile's database
  kafka-groups [ARGS...]  kafka-consumer-groups against the profile's broker (default
                     --describe --all-groups: committed offset, log end, lag per partition)
  trace TRACE_ID     print one trace (the spans every service sent to the trace store) as a tree
  reset              down, then delete the profile's state

Environment: AIL_PROFILE (default dev; ./dev test uses test), AIL_PORT_BASE (default 18000
for dev, 28000 for test*), AIL_REPLICAS (copies of each service for up and test, 1..4).
State: .devstack/<profile>/. A supervisor per profile restarts a service, sandbox, Kafka,
PostgreSQL or nginx that stops on its own (backoff 1 s doubling to 30 s; logs/supervisor.log).
"""


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `./dev status | head` ends quietly
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(USAGE)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    try:
        if cmd == "test":
            return cmd_test(rest)
        if cmd == "install":
            cmd_install()
            return 0
        st = Stack.from_env()
        lock = st.state.parent / f".{st.profile}.lock"
        if cmd == "up":
            replicas, rest = replicas_option(rest)
            st.replicas = replicas or requested_replicas() or st.replicas
            with file_lock(lock, f"profile '{st.profile}'"):
                cmd_up(st, install="--no-install" not in rest)
        elif cmd == "scale":
            if len(rest) != 1:
                raise StackError("./dev scale N: how many copies of each service (1..4)")
            st.replicas = parse_replicas(rest[0], "./dev scale")
            if os.environ.get(LOCK_HELD_VAR) == st.profile:
                cmd_scale(st)  # run by a test under ./dev test, which holds the lock
            else:
                with file_lock(lock, f"profile '{st.profile}'"):
                    cmd_scale(st)
        elif cmd == "down":
            with file_lock(lock, f"profile '{st.profile}'"):
                cmd_down(st)
        elif cmd == "reset":
            with file_lock(lock, f"profile '{st.profile}'"):
                cmd_reset(st)
        elif cmd == "restart":
            with file_lock(lock, f"profile '{st.profile}'"):
                cmd_restart(st, rest)
        elif cmd == "kill":
            cmd_kill(st, rest)
        elif cmd == "hold":
            cmd_hold(st, rest)
        elif cmd == "supervise":  # the daemon, started by `up`
            return serve(st, [a.removeprefix("--skip=") for a in rest if a.startswith("--skip=")])
        elif cmd == "start":
            if os.environ.get(LOCK_HELD_VAR) == st.profile:
                cmd_start(st, rest)  # run by a test under ./dev test, which holds the lock
            else:
                with file_lock(lock, f"profile '{st.profile}'"):
                    cmd_start(st, rest)
        elif cmd == "status":
            return cmd_status(st)
        elif cmd == "logs":
            p = argparse.ArgumentParser(prog="./dev logs")
            p.add_argument("name")
            p.add_argument("-f", "--follow", action="store_true")
            a = p.parse_args(rest)
            cmd_logs(st, a.name, a.follow)
        elif cmd == "trace":
            p = argparse.ArgumentParser(prog="./dev trace")
            p.add_argument("trace_id")
            p.add_argument("--json", action="store_true", help="the spans as JSON lines")
            a = p.parse_args(rest)
            return cmd_trace(st, a.trace_id, as_json=a.json)
        elif cmd == "psql":
            cmd_psql(st, rest)
        elif cmd == "kafka-groups":
            cmd_kafka_groups(st, rest)
        else:
            print(f"unknown command {cmd!r}\n\n{USAGE}", file=sys.stderr)
            return 2
    except StackError as exc:
        print(f"\n./dev {cmd}: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print(f"\n./dev {cmd}: interrupted", file=sys.stderr)
        return 130
    return 0
