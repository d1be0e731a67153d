#!/usr/bin/env python3
"""Local stack driver behind ``./dev`` (standard library only; see README.md).

Runs the whole platform on one machine without Docker: Apache Kafka (KRaft, one node, from the
Maven Central jars), a private PostgreSQL cluster, SoftHSM2 tokens standing in for the USB e-keys,
every service, both sandboxes and an nginx entry point. Everything a profile owns lives in
``.devstack/<profile>/``; ports derive from ``AIL_PORT_BASE``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import hashlib
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# --------------------------------------------------------------------------------------------
# The process table. Ports are AIL_PORT_BASE + offset.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    name: str  # process name: log file, pid file, `./dev logs NAME`
    offset: int  # port offset from the base
    module: str  # run as `.venv/bin/python -m MODULE`
    url_var: str  # env file variable that carries its base URL


APPS: tuple[App, ...] = (
    App("application", 101, "ail_application", "AIL_APPLICATION_URL"),
    App("submission", 102, "ail_submission", "AIL_SUBMISSION_URL"),
    App("status", 103, "ail_status", "AIL_STATUS_URL"),
    # AIL_CUSTOMS_URL is the (sandbox) Customs system the customs service talks to, so the
    # customs service's own URL gets a name of its own.
    App("customs", 104, "ail_customs", "AIL_CUSTOMS_SERVICE_URL"),
    App("signer", 105, "ail_signer", "AIL_SIGNER_URL"),
    App("stats", 106, "ail_stats", "AIL_STATS_URL"),
    App("sandbox-mofcom", 201, "ail_sandbox.mofcom", "AIL_MOFCOM_URL"),
    App("sandbox-customs", 202, "ail_sandbox.customs", "AIL_CUSTOMS_URL"),
)
APPS_BY_NAME = {a.name: a for a in APPS}

PORT_OFFSETS = {"postgres": 32, "entry": 80, "kafka": 92, "kafka-controller": 93}

# One-shot Python steps run by `up` after Kafka and PostgreSQL are ready, before the apps start.
PY_STEPS: tuple[tuple[str, str], ...] = (
    ("migrate", "ail_shared.migrate"),
    ("topics", "ail_shared.topics"),
)
DEMO_MODULE = "ail_shared.demo"
# Binds the demo enterprise's e-key once the signer announces it (after the services are healthy).
DEMO_EKEY_MODULE = "ail_submission.demo"

# While the Python code is still being written, a module that does not exist yet is skipped
# with a warning instead of failing `up`. Set to False (or AIL_STRICT_MODULES=1) once it all exists.
ALLOW_MISSING_MODULES = os.environ.get("AIL_STRICT_MODULES", "") not in ("1", "true", "yes")

APT_PACKAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (package to install, packages any of which satisfies the need)
    ("postgresql", ("postgresql",)),
    ("softhsm2", ("softhsm2",)),
    ("nginx-light", ("nginx-light", "nginx", "nginx-core", "nginx-full", "nginx-extras")),
    ("fonts-noto-cjk", ("fonts-noto-cjk",)),
    ("opensc", ("opensc",)),
    ("docker-compose", ("docker-compose", "docker-compose-plugin")),
    ("openssl", ("openssl",)),
)
# Commands the machine is expected to have; installed from Debian if missing.
APT_COMMANDS = (("java", "openjdk-17-jre-headless"), ("mvn", "maven"))

PG_USER = "ail"  # system user that runs PostgreSQL (and nginx workers) when ./dev runs as root
PG_SETTINGS = {"max_connections": "300", "shared_buffers": "256MB"}


@dataclass(frozen=True)
class EKey:
    label: str
    org_code: str  # 13-digit enterprise code, also the certificate's serialNumber and O
    common_name: str


EKEYS = (
    EKey("demo-ekey-1", "1100776367555", "北京示例进出口有限公司 e-key"),
    EKey("demo-ekey-2", "3100123456789", "上海示例贸易有限公司 e-key"),
)
SO_PIN = "87654321"
USER_PIN = "123456"

KAFKA_JVM = (
    "-Xms256m",
    "-Xmx768m",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
KAFKA_START_TIMEOUT = 90.0
APP_HEALTH_TIMEOUT = 60.0
APP_STOP_GRACE = 10.0
KAFKA_STOP_GRACE = 30.0

# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------

_print_lock = threading.Lock()


def say(tag: str, msg: str) -> None:
    with _print_lock:
        print(f"[{tag}] {msg}", flush=True)


def warn(tag: str, msg: str) -> None:
    say(tag, f"WARNING: {msg}")


class StackError(Exception):
    """A failure with a message meant for the person at the terminal."""


def rel(p: Path) -> str:
    try:
        r = os.path.relpath(p)
    except ValueError:
        return str(p)
    return str(p) if r.startswith("..") else r


def tail(path: Path, n: int = 30) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return f"    (no log at {rel(path)})"
    lines = data.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("===== ")]
    if starts:  # only the output of the latest start
        lines = lines[starts[-1] :]
    lines = lines[-n:]
    return "\n".join("    " + line for line in lines) or "    (log is empty)"


def run(
    cmd: list[str],
    *,
    check: bool = True,
    env: dict[str, str] | None = None,
    input: str | None = None,
    cwd: Path | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capturing its output; on failure raise StackError with that output."""
    try:
        cp = subprocess.run(
            cmd, capture_output=True, text=True, env=env, input=input, cwd=cwd, timeout=timeout
        )
    except FileNotFoundError as exc:
        raise StackError(f"command not found: {cmd[0]} ({exc})") from exc
    except subprocess.TimeoutExpired as exc:
        raise StackError(f"timed out after {timeout}s: {shlex.join(cmd)}") from exc
    if check and cp.returncode != 0:
        out = (cp.stdout + cp.stderr).strip()
        raise StackError(f"command failed (exit {cp.returncode}): {shlex.join(cmd)}\n{out}")
    return cp


# --------------------------------------------------------------------------------------------
# Processes, pid files, ports
# --------------------------------------------------------------------------------------------


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


# Set by ./dev test for the pytest it runs: that ./dev already holds the profile's lock.
LOCK_HELD_VAR = "AIL_DEV_LOCK_HELD"


@contextlib.contextmanager
def file_lock(path: Path, what: str) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("dev", f"waiting for another ./dev working on {what} ...")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def parallel(tasks: dict[str, Callable[[], object]]) -> dict[str, BaseException | None]:
    """Run callables in threads; return each one's exception (or None)."""
    errors: dict[str, BaseException | None] = {}

    def wrap(name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
            errors[name] = None
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors[name] = exc

    threads = [threading.Thread(target=wrap, args=(n, f), daemon=True) for n, f in tasks.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def raise_collected(errors: dict[str, BaseException | None]) -> None:
    failed = [(n, e) for n, e in errors.items() if e is not None]
    for _, exc in failed:
        if isinstance(exc, KeyboardInterrupt):
            raise exc
    if failed:
        msgs = []
        for name, exc in failed:
            msgs.append(
                f"{name}: {exc}"
                if isinstance(exc, StackError)
                else f"{name}: unexpected {type(exc).__name__}: {exc}"
            )
        raise StackError("\n".join(msgs))


# --------------------------------------------------------------------------------------------
# The stack of one profile
# --------------------------------------------------------------------------------------------


def is_test_profile(profile: str) -> bool:
    return profile.startswith("test")


class Stack:
    def __init__(self, profile: str, base: int) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", profile):
            raise StackError(f"AIL_PROFILE={profile!r}: use letters, digits, '.', '_' or '-'")
        if not 1024 <= base <= 65535 - 300:
            raise StackError(f"AIL_PORT_BASE={base} is out of range (1024..65235)")
        self.profile = profile
        self.base = base
        self.state = REPO / ".devstack" / profile
        self.logs = self.state / "logs"
        self.rundir = self.state / "run"
        self.venv_python = REPO / ".venv" / "bin" / "python"
        self.env_file = self.state / "env"
        self.stack_json = self.state / "stack.json"
        self.demo_json = self.state / "demo.json"

    @classmethod
    def from_env(cls, *, for_test: bool = False) -> Stack:
        profile = os.environ.get("AIL_PROFILE") or "dev"
        if for_test and not is_test_profile(profile):
            profile = "test"
        raw = os.environ.get("AIL_PORT_BASE")
        if raw:
            try:
                base = int(raw)
            except ValueError as exc:
                raise StackError(f"AIL_PORT_BASE={raw!r} is not a number") from exc
        else:
            base = cls.recorded_base(profile) or (28000 if is_test_profile(profile) else 18000)
        return cls(profile, base)

    @staticmethod
    def recorded_base(profile: str) -> int | None:
        """The port base a profile's stack was made with: later commands (status, restart, down)
        without AIL_PORT_BASE must reach that stack, not start another on the default ports."""
        try:
            recorded = json.loads((REPO / ".devstack" / profile / "stack.json").read_text())
            return int(recorded["AIL_PORT_BASE"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    # ---- ports
    def port(self, name: str) -> int:
        if name in APPS_BY_NAME:
            return self.base + APPS_BY_NAME[name].offset
        return self.base + PORT_OFFSETS[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port(name)}"

    # ---- paths
    def pidfile(self, name: str) -> Path:
        return self.rundir / f"{name}.pid"

    def logfile(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    @property
    def kafka_dir(self) -> Path:
        return self.state / "kafka"

    @property
    def pg_data(self) -> Path:
        return self.state / "pg"

    @property
    def nginx_dir(self) -> Path:
        return self.state / "nginx"

    @property
    def softhsm_conf(self) -> Path:
        return self.state / "softhsm2.conf"

    @property
    def pg_external_home(self) -> Path:
        """Where PostgreSQL's files go when the PG_USER cannot reach the state folder (e.g. a
        checkout under /root): a folder of its own, symlinked from the state folder."""
        key = hashlib.sha256(str(self.state).encode()).hexdigest()[:10]
        return Path("/var/lib/ail-devstack") / f"{self.profile}-{key}"

    def mkdirs(self) -> None:
        for d in (self.state, self.logs, self.rundir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (REPO / ".devstack", self.state):
            with contextlib.suppress(OSError):
                d.chmod(0o755)


# --------------------------------------------------------------------------------------------
# install
# --------------------------------------------------------------------------------------------


def pg_bindir() -> Path | None:
    root = Path("/usr/lib/postgresql")
    versions = []
    if root.is_dir():
        for d in root.iterdir():
            if d.name.isdigit() and (d / "bin" / "initdb").exists():
                versions.append(int(d.name))
    return root / str(max(versions)) / "bin" if versions else None


def softhsm_module() -> Path | None:
    for cand in (
        "/usr/lib/softhsm/libsofthsm2.so",
        "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
        "/usr/local/lib/softhsm/libsofthsm2.so",
    ):
        if Path(cand).exists():
            return Path(cand)
    for found in Path("/usr/lib").rglob("libsofthsm2.so"):
        return found
    return None


def find_java() -> str:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java") or "/usr/bin/java"


def install_apt() -> None:
    cp = subprocess.run(
        [
            "dpkg-query",
            "-W",
            "-f=${Package}\t${db:Status-Status}\n",
            *{p for _, alts in APT_PACKAGES for p in alts},
        ],
        capture_output=True,
        text=True,
    )
    installed = {line.split("\t")[0] for line in cp.stdout.splitlines() if line.endswith("\tinstalled")}
    missing = [pkg for pkg, alts in APT_PACKAGES if not installed.intersection(alts)]
    missing += [pkg for cmd, pkg in APT_COMMANDS if not shutil.which(cmd)]
    for pkg, alts in APT_PACKAGES:
        have = sorted(installed.intersection(alts))
        if have:
            say("install", f"{pkg} ... ok" + (f" ({have[0]})" if have[0] != pkg else ""))
    for cmd, _pkg in APT_COMMANDS:
        if shutil.which(cmd):
            say("install", f"{cmd} ... ok")
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "--no-install-recommends", *missing]
    if os.geteuid() != 0:
        raise StackError(
            "missing Debian packages: " + " ".join(missing) + "\n"
            "Install them as root, then run ./dev again:\n"
            f"  sudo apt-get update && sudo {shlex.join(cmd)}"
        )
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    say("install", "apt-get update ...")
    run(["apt-get", "update"], env=env)
    say("install", f"apt-get install {' '.join(missing)} ...")
    run(cmd, env=env)
    for pkg in missing:
        say("install", f"{pkg} ... installed")


def find_uv() -> str | None:
    found = shutil.which("uv")
    if found:
        return found
    import sysconfig

    cands = [
        Path(sysconfig.get_path("scripts", "posix_user")) / "uv",
        Path.home() / ".local" / "bin" / "uv",
        Path.home() / ".cargo" / "bin" / "uv",
    ]
    for c in cands:
        if c.exists():
            return str(c)
    return None


def install_uv() -> str:
    uv = find_uv()
    if uv:
        say("install", f"uv ... ok ({uv})")
        return uv
    py = sys.executable or "python3"
    if subprocess.run([py, "-m", "pip", "--version"], capture_output=True).returncode != 0:
        if os.geteuid() != 0:
            raise StackError(
                "uv is not installed and pip is missing: install uv "
                "(python3 -m pip install --user uv) and run ./dev again"
            )
        say("install", "python3-pip (to install uv) ...")
        run(
            ["apt-get", "install", "-y", "--no-install-recommends", "python3-pip"],
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
    say("install", "uv (pip install uv) ...")
    attempts = (
        [py, "-m", "pip", "install", "uv"],
        [py, "-m", "pip", "install", "--user", "uv"],
        [py, "-m", "pip", "install", "--user", "--break-system-packages", "uv"],
    )
    last = ""
    for cmd in attempts:
        cp = subprocess.run(cmd, capture_output=True, text=True)
        uv = find_uv()
        if cp.returncode == 0 and uv:
            say("install", f"uv ... installed ({uv})")
            return uv
        last = (cp.stdout + cp.stderr).strip()[-2000:]
    raise StackError(f"could not install uv with pip:\n{last}")


def install_venv(uv: str) -> None:
    env = dict(os.environ)
    env.setdefault("UV_PYTHON_DOWNLOADS", "never")
    cp = subprocess.run([uv, "sync", "--locked"], cwd=REPO, capture_output=True, text=True, env=env)
    if cp.returncode != 0:
        out = (cp.stdout + cp.stderr).strip()
        hint = ""
        if "lockfile" in out.lower() and (
            "update" in out.lower() or "outdated" in out.lower() or "needs to be updated" in out.lower()
        ):
            hint = "\nuv.lock is out of date with pyproject.toml: run `uv lock` and commit uv.lock."
        raise StackError(f"`uv sync --locked` failed:\n{out}{hint}")
    say("install", "python environment (uv sync --locked) ... ok")


def kafka_version() -> str:
    pom = (REPO / "deploy" / "kafka" / "pom.xml").read_text()
    m = re.search(r"<kafka\.version>\s*([^<\s]+)\s*</kafka\.version>", pom)
    if not m:
        raise StackError("deploy/kafka/pom.xml has no <kafka.version> property")
    return m.group(1)


def kafka_libs() -> Path:
    return Path.home() / ".cache" / "ail" / f"kafka-{kafka_version()}" / "libs"


def install_kafka_jars() -> None:
    pom = REPO / "deploy" / "kafka" / "pom.xml"
    libs = kafka_libs()
    marker = libs.parent / ".complete"
    digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    version = kafka_version()
    with file_lock(libs.parent.parent / f"kafka-{version}.lock", f"the Kafka {version} jars"):
        if marker.exists() and marker.read_text().strip() == digest and libs.is_dir():
            say("install", f"kafka {version} jars ... ok ({rel(libs)})")
            return
        if not shutil.which("mvn"):
            raise StackError("Maven (mvn) is needed to fetch the Kafka jars: apt-get install maven")
        say("install", f"kafka {version} jars (mvn dependency:copy-dependencies) ...")
        tmp = libs.parent / "libs.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        run(
            [
                "mvn",
                "-q",
                "-B",
                "-f",
                str(pom),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={tmp}",
            ],
            timeout=900,
        )
        if not any(tmp.glob("kafka_2.13-*.jar")):
            raise StackError(f"mvn finished but {tmp} has no kafka_2.13 jar")
        shutil.rmtree(libs, ignore_errors=True)
        tmp.rename(libs)
        marker.write_text(digest + "\n")
        say("install", f"kafka {version} jars ... ok ({len(list(libs.glob('*.jar')))} jars)")


def cmd_install() -> None:
    t0 = time.monotonic()
    install_apt()
    uv = install_uv()
    install_venv(uv)
    install_kafka_jars()
    say("install", f"done in {time.monotonic() - t0:.1f}s")


# --------------------------------------------------------------------------------------------
# Kafka
# --------------------------------------------------------------------------------------------


def kafka_pid(st: Stack) -> int | None:
    return read_pidfile(st.pidfile("kafka"), "kafka.Kafka")


def max_message_bytes() -> int:
    """``MAX_MESSAGE_BYTES`` of shared/ail_shared/kafka.py, the one place the broker's limit is
    set (read from the source: this script uses the standard library only)."""
    source = (REPO / "shared" / "ail_shared" / "kafka.py").read_text(encoding="utf-8")
    m = re.search(r"^MAX_MESSAGE_BYTES = ([0-9_]+)$", source, re.MULTILINE)
    if m is None:
        raise StackError("shared/ail_shared/kafka.py has no 'MAX_MESSAGE_BYTES = <int>' line")
    return int(m.group(1))


def kafka_properties(st: Stack) -> str:
    k, c = st.port("kafka"), st.port("kafka-controller")
    return "\n".join(
        [
            "# generated by ./dev; edit scripts/devstack.py instead",
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{c}",
            f"listeners=PLAINTEXT://127.0.0.1:{k},CONTROLLER://127.0.0.1:{c}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{k}",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            f"log.dirs={st.kafka_dir / 'data'}",
            "num.partitions=6",
            "default.replication.factor=1",
            "min.insync.replicas=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=12",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=12",
            "share.coordinator.state.topic.replication.factor=1",
            "share.coordinator.state.topic.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=false",
            "log.retention.hours=168",
            f"message.max.bytes={max_message_bytes()}",
            "",
        ]
    )


def kafka_up(st: Stack) -> None:
    port = st.port("kafka")
    pid = kafka_pid(st)
    if pid and port_open(port):
        say("kafka", f"already running (pid {pid}, 127.0.0.1:{port})")
        return
    if pid:
        warn("kafka", f"pid {pid} is alive but 127.0.0.1:{port} does not answer; restarting it")
        stop_pids({"kafka": pid}, KAFKA_STOP_GRACE, "kafka")
    libs = kafka_libs()
    java = find_java()
    cp = f"{libs}/*"
    log4j = f"-Dlog4j2.configurationFile={REPO / 'deploy' / 'kafka' / 'log4j2.yaml'}"
    st.kafka_dir.mkdir(parents=True, exist_ok=True)
    props = st.kafka_dir / "server.properties"
    props.write_text(kafka_properties(st))
    id_file = st.kafka_dir / "cluster.id"
    if not id_file.exists():
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        id_file.write_text(cid + "\n")
    cluster_id = id_file.read_text().strip()
    if not (st.kafka_dir / "data" / "meta.properties").exists():
        say("kafka", f"formatting storage (cluster id {cluster_id}) ...")
        run(
            [java, log4j, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
            timeout=120,
        )
    log = st.logfile("kafka")
    offset = log.stat().st_size if log.exists() else 0
    say("kafka", f"starting on 127.0.0.1:{port} (controller :{st.port('kafka-controller')}) ...")
    proc = launch(
        "kafka",
        [java, *KAFKA_JVM, log4j, "-cp", cp, "kafka.Kafka", str(props)],
        dict(os.environ),
        log,
        st.pidfile("kafka"),
    )
    deadline = time.monotonic() + KAFKA_START_TIMEOUT
    t0 = time.monotonic()
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise StackError(
                f"Kafka exited with code {proc.returncode} while starting. "
                f"Last lines of {rel(log)}:\n{tail(log)}"
            )
        if port_open(port):
            with open(log, "rb") as f:
                f.seek(offset)
                if b"Kafka Server started" in f.read():
                    say("kafka", f"started in {time.monotonic() - t0:.1f}s (pid {proc.pid})")
                    return
        time.sleep(0.25)
    raise StackError(
        f"Kafka did not start within {KAFKA_START_TIMEOUT:.0f}s; see "
        f"{rel(log)} (./dev logs kafka). Last lines:\n{tail(log)}"
    )


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# SoftHSM2
# --------------------------------------------------------------------------------------------


def softhsm_env(st: Stack) -> dict[str, str]:
    return dict(os.environ, SOFTHSM2_CONF=str(st.softhsm_conf))


def softhsm_tokens(st: Stack) -> dict[str, str]:
    """label -> serial of the initialised tokens."""
    out = run(["softhsm2-util", "--show-slots"], env=softhsm_env(st)).stdout
    tokens: dict[str, str] = {}
    serial = ""
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Serial number:"):
            serial = line.split(":", 1)[1].strip()
        elif line.startswith("Label:"):
            label = line.split(":", 1)[1].strip()
            if label and serial:
                tokens[label] = serial
            serial = ""
    return tokens


def softhsm_up(st: Stack) -> dict[str, str]:
    module = softhsm_module()
    if module is None:
        raise StackError("libsofthsm2.so not found (run ./dev install)")
    tokendir = st.state / "softhsm" / "tokens"
    tokendir.mkdir(parents=True, exist_ok=True)
    st.softhsm_conf.write_text(
        f"directories.tokendir = {tokendir}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    ekeys_dir = st.state / "ekeys"
    ekeys_dir.mkdir(parents=True, exist_ok=True)
    env = softhsm_env(st)
    tokens = softhsm_tokens(st)
    for ek in EKEYS:
        done = ekeys_dir / f"{ek.label}.done"
        if ek.label in tokens and done.exists():
            continue
        if ek.label in tokens:
            warn("softhsm", f"token {ek.label} is incomplete; recreating it")
            run(["softhsm2-util", "--delete-token", "--token", ek.label], env=env)
        make_ekey(ek, ekeys_dir, module, env)
        done.write_text(time.strftime("%Y-%m-%dT%H:%M:%S\n"))
        say("softhsm", f"token {ek.label} created ({ek.common_name}, O={ek.org_code})")
    tokens = softhsm_tokens(st)
    missing = [ek.label for ek in EKEYS if ek.label not in tokens]
    if missing:
        raise StackError(f"SoftHSM2 tokens missing after setup: {', '.join(missing)}")
    say("softhsm", "tokens " + ", ".join(f"{ek.label} (serial {tokens[ek.label]})" for ek in EKEYS))
    return {ek.label: tokens[ek.label] for ek in EKEYS}


def make_ekey(ek: EKey, ekeys_dir: Path, module: Path, env: dict[str, str]) -> None:
    run(
        [
            "softhsm2-util",
            "--init-token",
            "--free",
            "--label",
            ek.label,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
        env=env,
    )
    work = ekeys_dir / f".{ek.label}.tmp"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(mode=0o700)
    try:
        key_pem, cert_pem = work / "key.pem", ekeys_dir / f"{ek.label}.pem"
        subject = f"/CN={ek.common_name}/O={ek.org_code}/serialNumber={ek.org_code}"
        run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                str(key_pem),
                "-out",
                str(cert_pem),
                "-days",
                "3650",
                "-utf8",
                "-nameopt",
                "utf8",
                "-subj",
                subject,
                "-sha256",
            ]
        )
        run(
            [
                "openssl",
                "pkcs8",
                "-topk8",
                "-nocrypt",
                "-in",
                str(key_pem),
                "-outform",
                "DER",
                "-out",
                str(work / "key.der"),
            ]
        )
        run(
            [
                "openssl",
                "pkey",
                "-in",
                str(key_pem),
                "-pubout",
                "-outform",
                "DER",
                "-out",
                str(work / "pub.der"),
            ]
        )
        run(["openssl", "x509", "-in", str(cert_pem), "-outform", "DER", "-out", str(work / "cert.der")])
        for kind, fname in (("privkey", "key.der"), ("pubkey", "pub.der"), ("cert", "cert.der")):
            run(
                [
                    "pkcs11-tool",
                    "--module",
                    str(module),
                    "--token-label",
                    ek.label,
                    "--login",
                    "--pin",
                    USER_PIN,
                    "--write-object",
                    str(work / fname),
                    "--type",
                    kind,
                    "--id",
                    "01",
                    "--label",
                    ek.label,
                ],
                env=env,
            )
    finally:
        # The private key lives in the token only, as it would in a USB e-key.
        shutil.rmtree(work, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Environment file
# --------------------------------------------------------------------------------------------


def stack_env(st: Stack, serials: dict[str, str]) -> dict[str, str]:
    module = softhsm_module()
    env = {
        "AIL_PROFILE": st.profile,
        "AIL_PORT_BASE": str(st.base),
        "AIL_ENV": "development",
        "AIL_PG_DSN": f"postgresql://ail@127.0.0.1:{st.port('postgres')}/ail",
        "AIL_KAFKA_BOOTSTRAP": f"127.0.0.1:{st.port('kafka')}",
        "AIL_ENTRY_URL": st.url("entry"),
    }
    for app in APPS:
        env[app.url_var] = st.url(app.name)
    env.update(
        {
            "SOFTHSM2_CONF": str(st.softhsm_conf),
            "AIL_PKCS11_MODULE": str(module) if module else "",
            "AIL_SIGNER_PIN": USER_PIN,
            "AIL_DEVSTACK_DIR": str(st.state),
            "AIL_DEMO_EKEY_SERIALS": ",".join(serials.get(ek.label, "") for ek in EKEYS),
            "AIL_DEMO_EKEY_LABELS": ",".join(ek.label for ek in EKEYS),
            "AIL_DEMO_FILE": str(st.demo_json),
            # The tests' webhook receivers listen on 127.0.0.1: loopback targets are allowed
            # here explicitly (never private or metadata addresses; refused outside development).
            "AIL_WEBHOOK_ALLOW_LOOPBACK": "true",
            # Webhook host names only from /etc/hosts: no DNS query leaves the machine, whatever
            # URL a test or a fuzzer subscribes.
            "AIL_WEBHOOK_DNS": "false",
            "AIL_WEBHOOK_SECRET_KEYS": webhook_key_ring(st),
            # Issue 10, item 4: the service credential of every internal route, and the secret
            # MOFCOM (the sandbox) signs its result callbacks with. Random per profile, kept.
            "AIL_INTERNAL_TOKEN": stack_secret(st, "internal-token"),
            "AIL_MOFCOM_CALLBACK_SECRET": stack_secret(st, "mofcom-callback-secret"),
        }
    )
    return env


def webhook_key_ring(st: Stack) -> str:
    """The stack's key ring for webhook secrets at rest: generated once and kept in the state
    folder (a new key on every `./dev up` would make the stored secrets unreadable)."""
    path = st.state / "webhook-secret-keys"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text("k1:" + base64.b64encode(os.urandom(32)).decode() + "\n")
        tmp.chmod(0o600)
        tmp.replace(path)
    return path.read_text().strip()


def stack_secret(st: Stack, name: str) -> str:
    """A random secret of this profile, made once and kept in its state folder (mode 0600), so
    that every process of the stack, and a process started again, gets the same value."""
    path = st.state / "secrets" / name
    try:
        return path.read_text().strip()
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
    return value


def write_env(st: Stack, env: dict[str, str]) -> None:
    lines = [f"# generated by ./dev up; load with: set -a; . ./.devstack/{st.profile}/env; set +a"]
    lines += [f"{k}={shlex.quote(v)}" for k, v in env.items()]
    tmp = st.env_file.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(st.env_file)
    tmp = st.stack_json.with_suffix(".tmp")
    tmp.write_text(json.dumps(env, indent=2, ensure_ascii=False) + "\n")
    tmp.replace(st.stack_json)


def read_env(st: Stack) -> dict[str, str]:
    env: dict[str, str] = {}
    try:
        text = st.env_file.read_text()
    except OSError:
        return env
    for line in text.splitlines():
        if not line or line.startswith("#") or "=" not in line:
            continue
        k, v = line.split("=", 1)
        parts = shlex.split(v)
        env[k] = parts[0] if parts else ""
    return env


def process_env(st: Stack, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.update(read_env(st))
    env["PYTHONUNBUFFERED"] = "1"
    for var in ("NO_PROXY", "no_proxy"):
        have = [h for h in env.get(var, "").split(",") if h]
        env[var] = ",".join(have + [h for h in ("127.0.0.1", "localhost") if h not in have])
    if extra:
        env.update(extra)
    return env


# --------------------------------------------------------------------------------------------
# Python modules (migrations, topics, services, sandboxes, demo data)
# --------------------------------------------------------------------------------------------

_PROBE = r"""
import importlib.util, json, sys
out = {}
for m in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(m)
        if spec is not None and spec.submodule_search_locations is not None:
            spec = importlib.util.find_spec(m + ".__main__")
        out[m] = "ok" if spec is not None else "missing"
    except ModuleNotFoundError as e:
        n = e.name or ""
        out[m] = "missing" if n and (m == n or m.startswith(n + ".")) else "error: %r" % (e,)
    except BaseException as e:
        out[m] = "error: %r" % (e,)
print(json.dumps(out))
"""


def probe_modules(st: Stack) -> dict[str, str]:
    """'ok', 'missing' or 'error: ...' for each module `up` runs with `python -m`."""
    mods = [m for _, m in PY_STEPS] + [a.module for a in APPS] + [DEMO_MODULE, DEMO_EKEY_MODULE]
    if not st.venv_python.exists():
        raise StackError(f"{rel(st.venv_python)} is missing: run ./dev install")
    cp = run([str(st.venv_python), "-c", _PROBE, *mods], cwd=REPO, timeout=120)
    result: dict[str, str] = json.loads(cp.stdout.strip().splitlines()[-1])
    return result


def module_present(mods: dict[str, str], module: str, tag: str, what: str) -> bool:
    state = mods.get(module, "missing")
    if state == "missing":
        if not ALLOW_MISSING_MODULES:
            raise StackError(f"{what}: module {module} does not exist")
        warn(tag, f"module {module} does not exist yet; skipping {what}")
        return False
    if state.startswith("error"):
        warn(tag, f"importing {module} failed ({state[7:]}); trying anyway")
    return True


def run_py_step(st: Stack, name: str, module: str, args: list[str] | None = None) -> None:
    t0 = time.monotonic()
    cmd = [str(st.venv_python), "-m", module, *(args or [])]
    cp = subprocess.run(cmd, cwd=REPO, env=process_env(st), capture_output=True, text=True, timeout=600)
    out = (cp.stdout + cp.stderr).rstrip()
    if cp.returncode != 0:
        raise StackError(f"`python -m {module}` failed (exit {cp.returncode}):\n{out}")
    for line in out.splitlines()[-15:]:
        say(name, line[len(name) + 3 :] if line.startswith(f"[{name}] ") else line)
    say(name, f"ok ({time.monotonic() - t0:.1f}s)")


def app_pid(st: Stack, app: App) -> int | None:
    return read_pidfile(st.pidfile(app.name), app.module)


def app_start(st: Stack, app: App) -> subprocess.Popen[bytes] | None:
    """Start APP unless it already runs healthy; return the new process, if any."""
    port = st.port(app.name)
    pid = app_pid(st, app)
    if pid:
        for _ in range(6):
            if http_status(port) == 200:
                say(app.name, f"already running (pid {pid}, :{port})")
                return None
            time.sleep(0.5)
        warn(app.name, f"pid {pid} is running but /healthz does not answer 200; restarting it")
        stop_pids({app.name: pid}, APP_STOP_GRACE, app.name)
    env = process_env(st, {"AIL_HTTP_PORT": str(port), "AIL_SERVICE_NAME": app.name})
    return launch(
        app.name, [str(st.venv_python), "-m", app.module], env, st.logfile(app.name), st.pidfile(app.name)
    )


def wait_healthy(
    st: Stack,
    name: str,
    port: int,
    proc: subprocess.Popen[bytes] | None,
    log: Path,
    timeout: float = APP_HEALTH_TIMEOUT,
) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise StackError(
                f"{name} exited with code {proc.returncode} while starting. "
                f"Last lines of {rel(log)}:\n{tail(log)}\n"
                f"Fix it, then run ./dev up again (./dev logs {name} for the rest)."
            )
        if http_status(port) == 200:
            if proc is not None:
                say(name, f"healthy in {time.monotonic() - t0:.1f}s (pid {proc.pid}, :{port})")
            return
        time.sleep(0.2)
    raise StackError(
        f"{name}: GET http://127.0.0.1:{port}/healthz did not answer 200 within "
        f"{timeout:.0f}s. Last lines of {rel(log)}:\n{tail(log)}\n"
        f"Look at ./dev logs {name}, fix it, then ./dev restart {name}."
    )


# --------------------------------------------------------------------------------------------
# nginx entry point
# --------------------------------------------------------------------------------------------


def nginx_pid(st: Stack) -> int | None:
    return read_pidfile(st.pidfile("nginx"), "nginx")


def nginx_conf(st: Stack, workers_as: str | None) -> str:
    spec = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())
    routes = spec["routes"]
    services = sorted({r["service"] for r in routes})
    for s in services:
        if s not in APPS_BY_NAME:
            raise StackError(f"deploy/nginx/routes.json: unknown service {s!r}")
    d, logs, run_ = st.nginx_dir, st.logs, st.rundir
    out: list[str] = [
        "# generated by ./dev from deploy/nginx/routes.json; do not edit",
        f"user {workers_as};" if workers_as else "",
        "worker_processes 1;",
        "daemon off;",
        f"pid {run_ / 'nginx.pid'};",
        f"error_log {logs / 'nginx-error.log'} warn;",
        "events { worker_connections 1024; }",
        "http {",
        "    default_type application/json;",
        "    server_tokens off;",
        "    sendfile off;",
        f"    client_body_temp_path {d / 'tmp' / 'client_body'};",
        f"    proxy_temp_path {d / 'tmp' / 'proxy'};",
        f"    fastcgi_temp_path {d / 'tmp' / 'fastcgi'};",
        f"    uwsgi_temp_path {d / 'tmp' / 'uwsgi'};",
        f"    scgi_temp_path {d / 'tmp' / 'scgi'};",
        "    map $http_x_request_id $ail_request_id {",
        "        default $http_x_request_id;",
        '        ""      $request_id;',
        "    }",
        '    log_format ail_json escape=json \'{"time":"$time_iso8601",'
        '"request_id":"$ail_request_id","remote":"$remote_addr",'
        '"method":"$request_method","uri":"$request_uri","status":$status,'
        '"bytes_sent":$body_bytes_sent,"request_time":$request_time,'
        '"upstream":"$upstream_addr","upstream_status":"$upstream_status",'
        '"upstream_time":"$upstream_response_time","traceparent":"$http_traceparent",'
        '"user_agent":"$http_user_agent"}\';',
        f"    access_log {logs / 'nginx-access.log'} ail_json;",
        "    client_max_body_size 20m;",
        "    proxy_http_version 1.1;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header Host $http_host;",
        "    proxy_set_header X-Request-Id $ail_request_id;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-Host $http_host;",
        "    proxy_connect_timeout 5s;",
        "    proxy_read_timeout 120s;",
        "    proxy_send_timeout 120s;",
    ]
    for s in services:
        out += [
            f"    upstream svc_{s.replace('-', '_')} {{",
            f"        server 127.0.0.1:{st.port(s)};",
            "        keepalive 16;",
            "    }",
        ]
    out += [
        "    server {",
        f"        listen 127.0.0.1:{st.port('entry')};",
        "        server_name _;",
        "        location = /healthz {",
        "            access_log off;",
        "            default_type text/plain;",
        '            return 200 "ok\\n";',
        "        }",
    ]
    # Files served by nginx itself (the AsyncAPI document): an exact location beats every regex.
    for doc in spec.get("documents", []):
        file = REPO / doc["file"]
        if not re.fullmatch(r"/[A-Za-z0-9/._-]+", doc["path"]) or not file.is_file():
            raise StackError(f"deploy/nginx/routes.json: bad document {doc!r} (path, or missing file)")
        out += [
            f"        location = {doc['path']} {{",
            f"            default_type {doc.get('type', 'application/json')};",
            f'            alias "{file}";',
            '            add_header Cache-Control "no-cache";',
            "        }",
        ]
    for r in routes:
        pattern = r["match"]
        if '"' in pattern or "\\" in pattern.replace("\\.", ""):
            raise StackError(f"deploy/nginx/routes.json: unsupported characters in {pattern!r}")
        out.append(f'        location ~ "{pattern}" {{')
        out.append(f"            proxy_pass http://svc_{r['service'].replace('-', '_')};")
        if r.get("stream"):
            out += [
                "            proxy_buffering off;",
                "            proxy_cache off;",
                "            proxy_read_timeout 1h;",
                "            proxy_send_timeout 1h;",
            ]
        out.append("        }")
    out += [
        # nginx's own errors (service down or slow) as JSON; a service's own 502/504 passes as is
        "        error_page 502 @upstream_down;",
        "        error_page 504 @upstream_timeout;",
        # nginx's own refusals (a NUL byte in the path, a body over client_max_body_size) in
        # the project's error body too; the services answer 413 themselves above 2 MiB.
        # A URI, not a named location: nginx cannot redirect a request whose URI it could not
        # parse to a named one ("empty URI in redirect to named location").
        "        error_page 400 /_ail_errors/400;",
        "        error_page 413 /_ail_errors/413;",
        "        location = /_ail_errors/400 {",
        "            internal;",
        '            return 400 \'{"error":{"code":"bad_request","message":'
        '"the entry point cannot parse this request (for example a NUL byte or a bad escape in the'
        ' path): send a valid HTTP request with a percent-encoded UTF-8 path","details":[]}}\';',
        "        }",
        "        location = /_ail_errors/413 {",
        "            internal;",
        '            return 413 \'{"error":{"code":"payload_too_large","message":'
        '"the request body is over the entry point limit of 20 MB; the services accept at most'
        ' 2 MiB (docs/limits.md)","details":[]}}\';',
        "        }",
        "        location @upstream_down {",
        '            return 502 \'{"error":{"code":"service_unavailable","message":'
        '"the service behind this route does not answer; try again shortly","details":[]}}\';',
        "        }",
        "        location @upstream_timeout {",
        '            return 504 \'{"error":{"code":"service_timeout","message":'
        '"the service behind this route did not answer in time; retry with the same '
        'Idempotency-Key","details":[]}}\';',
        "        }",
        "        location / {",
        '            return 404 \'{"error":{"code":"not_found","message":'
        '"no route for this path","details":[]}}\';',
        "        }",
        "    }",
        "}",
        "",
    ]
    return "\n".join(line for line in out if line != "")


def nginx_up(st: Stack) -> tuple[subprocess.Popen[bytes] | None, bool]:
    """Start (or reload) nginx; return the new process, if any, and whether to wait for it."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    workers_as = None
    tmp = st.nginx_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    if as_root():
        ensure_pg_user()
        if pg_user_can_reach(st.state):
            import grp
            import pwd

            pw = pwd.getpwnam(PG_USER)
            workers_as = f"{PG_USER} {grp.getgrgid(pw.pw_gid).gr_name}"
            for sub in ("", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
                p = tmp / sub
                p.mkdir(exist_ok=True)
                os.chown(p, pw.pw_uid, pw.pw_gid)
        else:
            workers_as = "root"
    conf_path = st.nginx_dir / "nginx.conf"
    new_conf = nginx_conf(st, workers_as)
    old_conf = conf_path.read_text() if conf_path.exists() else ""
    pid = nginx_pid(st)
    if pid and new_conf == old_conf and http_status(st.port("entry")) == 200:
        say("nginx", f"already running (pid {pid}, entry 127.0.0.1:{st.port('entry')})")
        return None, False
    conf_path.write_text(new_conf)
    base = [nginx, "-p", str(st.nginx_dir), "-c", str(conf_path), "-e", str(st.logfile("nginx-error"))]
    cp = run([*base, "-t", "-q"], check=False)
    if cp.returncode != 0:
        raise StackError(f"nginx rejects {rel(conf_path)}:\n{(cp.stdout + cp.stderr).strip()}")
    if pid:
        say("nginx", f"configuration changed; reloading (pid {pid})")
        os.kill(pid, signal.SIGHUP)
        return None, True
    say("nginx", f"starting entry point on 127.0.0.1:{st.port('entry')} ...")
    proc = launch("nginx", base, dict(os.environ), st.logfile("nginx-error"), st.pidfile("nginx"))
    return proc, True


# --------------------------------------------------------------------------------------------
# up / down / status
# --------------------------------------------------------------------------------------------


def check_ports(st: Stack) -> None:
    """Refuse to start anything when a port we need is held by something that is not ours."""
    running = {
        "kafka": kafka_pid(st) is not None,
        "postgres": pg_pid(st) is not None,
        "entry": nginx_pid(st) is not None,
    }
    running["kafka-controller"] = running["kafka"]
    for app in APPS:
        running[app.name] = app_pid(st, app) is not None
    names = list(PORT_OFFSETS) + [a.name for a in APPS]
    conflicts = []
    for name in names:
        port = st.port(name)
        if not running[name] and not port_free(port):
            conflicts.append(f"  port {port} ({name}) is in use by {port_owner(port)}")
    if conflicts:
        raise StackError(
            f"cannot start profile '{st.profile}' on port base {st.base}:\n"
            + "\n".join(conflicts)
            + "\nEither stop what holds these ports (for another ./dev profile: AIL_PROFILE=NAME "
            "./dev down), or pick another port base, e.g. AIL_PORT_BASE="
            f"{st.base + 1000} ./dev up"
        )


def cmd_up(st: Stack, *, install: bool = True, quiet_summary: bool = False) -> None:
    t0 = time.monotonic()
    if install:
        cmd_install()
    st.mkdirs()
    say("up", f"profile '{st.profile}', port base {st.base}, state in {rel(st.state)}")
    check_ports(st)
    mods = probe_modules(st)

    serials: dict[str, str] = {}

    def hsm() -> None:
        serials.update(softhsm_up(st))

    raise_collected(
        parallel({"kafka": lambda: kafka_up(st), "postgres": lambda: postgres_up(st), "softhsm": hsm})
    )
    env = stack_env(st, serials)
    write_env(st, env)
    say("up", f"environment written to {rel(st.env_file)} and {rel(st.stack_json)}")
    t_infra = time.monotonic() - t0

    for name, module in PY_STEPS:
        if module_present(mods, module, name, f"`python -m {module}`"):
            run_py_step(st, name, module)

    waits: dict[str, Callable[[], object]] = {}
    for app in APPS:
        if not module_present(mods, app.module, app.name, f"process {app.name}"):
            continue
        proc = app_start(st, app)
        if proc is not None:
            waits[app.name] = lambda a=app, p=proc: wait_healthy(
                st, a.name, st.port(a.name), p, st.logfile(a.name)
            )
    proc, wait = nginx_up(st)
    if wait:
        waits["nginx"] = lambda: wait_healthy(
            st, "nginx", st.port("entry"), proc, st.logfile("nginx-error"), 15
        )
    if waits:
        say("up", f"waiting for {', '.join(waits)} to answer /healthz ...")
    raise_collected(parallel(waits))

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
        f"{rel(st.demo_json)}  (API keys of the demo enterprises and agency)"
        if st.demo_json.exists()
        else "(not written: ail_shared.demo does not exist yet)"
    )
    print(
        f"""
Stack '{st.profile}' is up in {total:.1f}s (infrastructure {t_infra:.1f}s).
  entry point   {st.url("entry")}   (every /api/v1/... route; /healthz)
  demo data     {demo}
  environment   {rel(st.env_file)}  (set -a; . {rel(st.env_file)}; set +a)
  {prefix}./dev status         what runs where
  {prefix}./dev logs NAME -f   follow a log: kafka, postgres, nginx, nginx-access, {some_apps}, ...
  {prefix}./dev down           stop everything ({prefix}./dev reset also deletes the state)
""",
        flush=True,
    )


def cmd_down(st: Stack) -> None:
    apps = {a.name: p for a in APPS if (p := app_pid(st, a))}
    if apps:
        stop_pids(apps, APP_STOP_GRACE, "down")
    if pid := nginx_pid(st):
        stop_pids({"nginx": pid}, APP_STOP_GRACE, "down")
    if pid := kafka_pid(st):
        stop_pids({"kafka": pid}, KAFKA_STOP_GRACE, "down")
    postgres_down(st)
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
    unknown = [n for n in names if n not in APPS_BY_NAME]
    if unknown:
        raise StackError(f"unknown process {', '.join(unknown)}; one of: " + ", ".join(APPS_BY_NAME))
    targets = [APPS_BY_NAME[n] for n in names] if names else list(APPS)
    pids = {a.name: p for a in targets if (p := app_pid(st, a))}
    if pids:
        stop_pids(pids, APP_STOP_GRACE, "restart")
    cmd_up(st, install=False)


def _component_pid(st: Stack, name: str) -> int | None:
    if name == "kafka":
        return kafka_pid(st)
    if name == "postgres":
        return pg_pid(st)
    if name == "nginx":
        return nginx_pid(st)
    return app_pid(st, APPS_BY_NAME[name])


def _check_components(names: list[str]) -> None:
    known = ["kafka", "postgres", "nginx", *APPS_BY_NAME]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise StackError(f"name one or more of: {', '.join(known)} (got {', '.join(unknown) or 'none'})")


def cmd_kill(st: Stack, names: list[str]) -> None:
    """SIGKILL the named components (no grace, as a crash would): for fault tests and the chaos
    harness. ``./dev start NAME`` (or ``./dev up``) brings them back."""
    _check_components(names)
    for name in names:
        pid = _component_pid(st, name)
        if not pid:
            say("kill", f"{name} is not running")
            continue
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


def cmd_start(st: Stack, names: list[str]) -> None:
    """Start only the named components (no migrations, topics or demo data), and wait until each
    is healthy: the way back after ``./dev kill`` or an outage test."""
    _check_components(names)
    waits: dict[str, Callable[[], object]] = {}
    for name in names:
        if name == "kafka":
            kafka_up(st)
        elif name == "postgres":
            postgres_up(st)
        elif name == "nginx":
            proc, wait = nginx_up(st)
            if wait:
                waits["nginx"] = lambda p=proc: wait_healthy(
                    st, "nginx", st.port("entry"), p, st.logfile("nginx-error"), 15
                )
        else:
            app = APPS_BY_NAME[name]
            proc = app_start(st, app)
            waits[name] = lambda a=app, p=proc: wait_healthy(
                st, a.name, st.port(a.name), p, st.logfile(a.name)
            )
    raise_collected(parallel(waits))


def cmd_status(st: Stack) -> int:
    rows: list[tuple[str, str, str, str]] = []
    pid = kafka_pid(st)
    rows.append(
        (
            "kafka",
            str(pid or "-"),
            f"{st.port('kafka')}/{st.port('kafka-controller')}",
            "yes" if pid and port_open(st.port("kafka")) else "no",
        )
    )
    pid = pg_pid(st)
    ok = False
    if pid:
        ok = run([*pg_psql_base(st, "postgres"), "-tAc", "select 1"], check=False, timeout=10).returncode == 0
    rows.append(("postgres", str(pid or "-"), str(st.port("postgres")), "yes" if ok else "no"))
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
        )
    )
    pid = nginx_pid(st)
    rows.append(
        (
            "nginx (entry)",
            str(pid or "-"),
            str(st.port("entry")),
            "yes" if pid and http_status(st.port("entry")) == 200 else "no",
        )
    )
    for app in APPS:
        pid = app_pid(st, app)
        healthy = ("yes" if http_status(st.port(app.name)) == 200 else "no") if pid else "not running"
        rows.append((app.name, str(pid or "-"), str(st.port(app.name)), healthy))
    print(f"profile '{st.profile}', port base {st.base}, state {rel(st.state)}")
    widths = [max(len(r[i]) for r in rows + [("COMPONENT", "PID", "PORT", "HEALTHY")]) for i in range(4)]
    for r in [("COMPONENT", "PID", "PORT", "HEALTHY"), *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    if st.env_file.exists():
        print(f"environment: {rel(st.env_file)}")
    return 0 if all(r[3].startswith("yes") for r in rows) else 3


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


def cmd_psql(st: Stack, args: list[str]) -> None:
    if not pg_pid(st):
        raise StackError(f"PostgreSQL of profile '{st.profile}' is not running: ./dev up")
    cmd = pg_psql_base(st)
    os.execvp(cmd[0], [*cmd, *args])


# --------------------------------------------------------------------------------------------
# test
# --------------------------------------------------------------------------------------------


def pytest_targets(args: list[str]) -> list[str]:
    """`tests` unless the arguments already name a test path."""
    for a in args:
        if not a.startswith("-") and Path(a.split("::")[0]).exists():
            return []
    return ["tests"]


def cmd_test(args: list[str]) -> int:
    keep = "--keep" in args or os.environ.get("AIL_KEEP_STACK", "") in ("1", "true", "yes")
    args = [a for a in args if a != "--keep"]
    st = Stack.from_env(for_test=True)
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
                t0 = time.monotonic()
                cmd = [
                    str(st.venv_python),
                    "-m",
                    "pytest",
                    *pytest_targets(args),
                    "-p",
                    "no:cacheprovider",
                    *args,
                ]
                say("test", f"running {shlex.join(cmd[2:])} against profile '{st.profile}'")
                # The tests may call ./dev kill/start on this stack (tests.support.dev): they must
                # not wait for the profile lock this command holds until pytest ends.
                env = process_env(st, {LOCK_HELD_VAR: st.profile})
                rc = subprocess.run(cmd, cwd=REPO, env=env).returncode
                phase("pytest", t0)
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


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------

USAGE = """./dev COMMAND

  install            install what is missing (Debian packages, uv, .venv, Kafka jars)
  up                 install, then start the whole stack (idempotent)
  down               stop the stack
  status             what runs, on which port, healthy or not
  logs NAME [-f]     show (or follow) a log: kafka, postgres, nginx, nginx-access, or a process
  restart [NAME...]  restart services/sandboxes (all when none named), then `up`
  test [ARGS...]     install, start a private test stack, run pytest ARGS, stop it
                     (--keep or AIL_KEEP_STACK=1 leaves it running)
  kill NAME...       SIGKILL components (kafka, postgres, nginx or a process name): a crash
  start NAME...      start only those components again and wait until they are healthy
  psql [ARGS...]     psql into the profile's database
  reset              down, then delete the profile's state

Environment: AIL_PROFILE (default dev; ./dev test uses test), AIL_PORT_BASE (default 18000
for dev, 28000 for test*). State: .devstack/<profile>/.
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
            with file_lock(lock, f"profile '{st.profile}'"):
                cmd_up(st, install="--no-install" not in rest)
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
        elif cmd == "psql":
            cmd_psql(st, rest)
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
