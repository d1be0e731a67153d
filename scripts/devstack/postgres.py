"""The private PostgreSQL cluster of a profile."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .common import StackError, rel, run, say, tail, warn
from .install import pg_bindir
from .procs import pid_alive, pid_cmdline, port_open, stop_pids
from .table import Stack

PG_USER = "ail"  # system user that runs PostgreSQL (and nginx workers) when ./dev runs as root

PG_SETTINGS = {"max_connections": "300", "shared_buffers": "256MB"}


def as_root() -> bool:
    return os.geteuid() == 0


def ensure_pg_user() -> None:
    import pwd

    try:
        pwd.getpwnam(PG_USER)
        return
    except KeyError:
        pass
    say("postgres", f"creating system user {PG_USER!r} (PostgreSQL does not run as root)")
    run(
        [
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER,
        ]
    )


def pg_cmd(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *cmd] if as_root() else cmd


def chown_pg(*paths: Path) -> None:
    if as_root():
        import pwd

        pw = pwd.getpwnam(PG_USER)
        for p in paths:
            os.chown(p, pw.pw_uid, pw.pw_gid, follow_symlinks=False)


def pg_user_can_reach(path: Path) -> bool:
    if not as_root():
        return True
    return subprocess.run(pg_cmd(["test", "-x", str(path)]), capture_output=True).returncode == 0


@dataclass
class PgPaths:
    data: Path
    log: Path
    sockdir: Path


def pg_paths(st: Stack) -> PgPaths:
    """Data folder, log and socket folder of the profile's cluster. They live under the state
    folder unless the PostgreSQL user cannot reach it; then under pg_external_home, symlinked."""
    ext = st.pg_external_home
    if st.pg_data.is_symlink() or (not st.pg_data.exists() and not pg_user_can_reach(st.state)):
        ext.mkdir(parents=True, exist_ok=True)
        for d in (ext.parent, ext):
            d.chmod(0o755)
        if not st.pg_data.is_symlink():
            st.pg_data.symlink_to(ext / "pg")
        log_link = st.logfile("postgres")
        if not log_link.is_symlink():
            with contextlib.suppress(FileNotFoundError):
                log_link.unlink()
            log_link.symlink_to(ext / "postgres.log")
        return PgPaths(ext / "pg", ext / "postgres.log", ext / "run")
    sockdir = st.rundir / "pg"
    if len(str(sockdir)) + len("/.s.PGSQL.65535.lock") > 100:
        key = hashlib.sha256(str(st.state).encode()).hexdigest()[:10]
        sockdir = Path("/tmp") / f"ail-pg-{st.profile}-{key}"
    return PgPaths(st.pg_data, st.logfile("postgres"), sockdir)


def pg_pid(st: Stack) -> int | None:
    pidf = st.pg_data / "postmaster.pid"
    try:
        pid = int(pidf.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) and "postgres" in pid_cmdline(pid) else None


def pg_psql_base(st: Stack, db: str = "ail") -> list[str]:
    bindir = pg_bindir()
    psql = str(bindir / "psql") if bindir and (bindir / "psql").exists() else "psql"
    return [psql, "-h", "127.0.0.1", "-p", str(st.port("postgres")), "-U", "ail", "-d", db]


def postgres_up(st: Stack) -> None:
    bindir = pg_bindir()
    if bindir is None:
        raise StackError(
            "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin (run ./dev install)"
        )
    port = st.port("postgres")
    if as_root():
        ensure_pg_user()
    paths = pg_paths(st)
    pid = pg_pid(st)
    if pid and port_open(port):
        say("postgres", f"already running (pid {pid}, 127.0.0.1:{port})")
    else:
        _remove_stale_pg_locks(paths)
        if not (paths.data / "PG_VERSION").exists():
            say("postgres", f"initdb {rel(st.pg_data)} ({bindir.parent.name}) ...")
            paths.data.mkdir(parents=True, exist_ok=True)
            paths.data.chmod(0o700)
            chown_pg(paths.data)
            run(
                pg_cmd(
                    [
                        str(bindir / "initdb"),
                        "-D",
                        str(paths.data),
                        "-U",
                        "ail",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                        "--locale=C.UTF-8",
                    ]
                ),
                timeout=180,
            )
            with open(paths.data / "postgresql.conf", "a") as f:
                f.write(
                    "\n# ./dev writes its settings here, on every `up`\ninclude_if_exists = 'devstack.conf'\n"
                )
        paths.sockdir.mkdir(parents=True, exist_ok=True)
        chown_pg(paths.sockdir)
        conf = paths.data / "devstack.conf"
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{paths.sockdir}'",
            **PG_SETTINGS,
        }
        conf.write_text("# generated by ./dev\n" + "".join(f"{k} = {v}\n" for k, v in settings.items()))
        chown_pg(conf)
        paths.log.touch()
        chown_pg(paths.log)
        say("postgres", f"starting on 127.0.0.1:{port} ...")
        t0 = time.monotonic()
        cp = run(
            pg_cmd(
                [
                    str(bindir / "pg_ctl"),
                    "-D",
                    str(paths.data),
                    "-l",
                    str(paths.log),
                    "-w",
                    "-t",
                    "60",
                    "start",
                ]
            ),
            check=False,
            timeout=90,
        )
        if cp.returncode != 0:
            raise StackError(
                f"PostgreSQL did not start: {(cp.stdout + cp.stderr).strip()}\n"
                f"Last lines of {rel(st.logfile('postgres'))}:\n"
                f"{tail(st.logfile('postgres'))}"
            )
        say("postgres", f"started in {time.monotonic() - t0:.1f}s (pid {pg_pid(st)})")
    exists = run(
        [*pg_psql_base(st, "postgres"), "-tAc", "select 1 from pg_database where datname = 'ail'"]
    ).stdout.strip()
    if exists != "1":
        run([*pg_psql_base(st, "postgres"), "-c", "create database ail"])
        say("postgres", "database ail created")


def _remove_stale_pg_locks(paths: PgPaths) -> None:
    """After a SIGKILL the postmaster stays a zombie until init reaps it (seconds here), and
    PostgreSQL takes a zombie's pid in postmaster.pid (and in the socket's lock file) for a
    running server and refuses to start. A pid that is dead or a zombie cannot be a server:
    remove those stale lock files."""
    for lock in [paths.data / "postmaster.pid", *paths.sockdir.glob(".s.PGSQL.*.lock")]:
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        if not pid_alive(pid):
            with contextlib.suppress(OSError):
                lock.unlink()


def pg_children(pid: int) -> list[int]:
    """The postmaster's child processes (backends, checkpointer, walwriter ...)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def postgres_down(st: Stack) -> None:
    bindir = pg_bindir()
    pid = pg_pid(st)
    if not pid:
        return
    if bindir:
        cp = run(
            pg_cmd(
                [str(bindir / "pg_ctl"), "-D", str(pg_paths(st).data), "-m", "fast", "-w", "-t", "30", "stop"]
            ),
            check=False,
            timeout=60,
        )
        if cp.returncode == 0:
            say("down", "postgres ... stopped")
            return
        warn("down", f"pg_ctl stop failed: {(cp.stdout + cp.stderr).strip()}")
    stop_pids({"postgres": pid}, 30, "down")
