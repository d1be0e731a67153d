"""Processes, pid files and ports: how the driver finds, starts and stops what it runs."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shlex
import signal
import socket
import subprocess
import time
from pathlib import Path

from .common import REPO, say, warn


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def pid_cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        )
    except OSError:
        return ""


def pid_environ(pid: int, key: str) -> str | None:
    try:
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            k, _, v = item.partition(b"=")
            if k.decode(errors="replace") == key:
                return v.decode(errors="replace")
    except OSError:
        pass
    return None


def read_pidfile(path: Path, marker: str) -> int | None:
    """The pid in PATH if that process is alive and its command line contains MARKER; a stale
    pid file is removed."""
    try:
        pid = int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if pid_alive(pid) and marker in pid_cmdline(pid):
        return pid
    with contextlib.suppress(OSError):
        path.unlink()
    return None


def port_free(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def port_open(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def http_status(port: int, path: str = "/healthz", timeout: float = 2.0) -> int | None:
    """GET http://127.0.0.1:PORT/PATH directly (no proxy variables involved)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()


def port_owner(port: int) -> str:
    """Best effort: which process listens on 127.0.0.1/any:PORT."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if len(parts) > 9 and parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{parts[9]}]")
    if not inodes:
        return "an unknown process"
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            fds = list((d / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    pid = int(d.name)
                    cmd = " ".join(pid_cmdline(pid).split())
                    where = pid_environ(pid, "AIL_DEVSTACK_DIR")
                    if not where:
                        m = re.search(r"(\S*\.devstack/[^/\s]+)", cmd)
                        where = m.group(1) if m else None
                    if where:
                        return f"./dev profile '{Path(where).name}' ({where}, pid {pid})"
                    return f"pid {pid}: {cmd[:160]}"
            except OSError:
                continue
    return "another process (not visible to this user)"


def launch(
    name: str, argv: list[str], env: dict[str, str], log: Path, pidfile: Path, cwd: Path = REPO
) -> subprocess.Popen[bytes]:
    """Start ARGV detached (own session), output appended to LOG, pid written to PIDFILE."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        out.write(
            f"\n===== {time.strftime('%Y-%m-%d %H:%M:%S')} ./dev starts {name}: {shlex.join(argv)}\n".encode()
        )
        out.flush()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=cwd,
            start_new_session=True,
            close_fds=True,
        )
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc


def stop_pids(pids: dict[str, int], grace: float, tag: str) -> None:
    """SIGTERM each process group, wait up to GRACE seconds, then SIGKILL what is left."""

    def signal_group(pid: int, sig: int) -> None:
        try:
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    for pid in pids.values():
        signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    left = dict(pids)
    while left and time.monotonic() < deadline:
        left = {n: p for n, p in left.items() if pid_alive(p)}
        if left:
            time.sleep(0.1)
    for name, pid in left.items():
        warn(tag, f"{name} (pid {pid}) did not stop within {grace:.0f}s; killing it")
        signal_group(pid, signal.SIGKILL)
    for name in pids:
        say(tag, f"{name} ... stopped")
