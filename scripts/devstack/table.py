"""The process table (every component, its port offset and module) and the stack of one profile
(its state folder, paths and ports). Ports are AIL_PORT_BASE + offset."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from .common import REPO, StackError


@dataclass(frozen=True)
class App:
    name: str  # process name: log file, pid file, `./dev logs NAME`
    offset: int  # port offset from the base
    module: str  # run as `.venv/bin/python -m MODULE`
    url_var: str  # env file variable that carries its base URL
    replica: int = 1  # 1: the table's row; k > 1: the k-th copy of a service (replica_apps)
    service: str = ""  # the service a replica is a copy of ("" for the table's own rows)

    @property
    def service_name(self) -> str:
        """What the process is told it is (AIL_SERVICE_NAME): the same for every replica."""
        return self.service or self.name


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
    # Issue 14: every consumer group's lag from Kafka's offsets (visible while a consumer is
    # down), and Prometheus scraping all of the above (the wrapper serves /healthz on this
    # port, Prometheus itself listens on the next one).
    App("lag", 107, "ail_shared.lag", "AIL_LAG_URL"),
    App("prometheus", 90, "scripts.devstack.prometheus", "AIL_PROMETHEUS_URL"),
    # The local trace store (an OTLP/HTTP receiver; ./dev trace TRACE_ID prints a trace).
    App("tracestore", 210, "ail_sandbox.tracestore", "AIL_TRACESTORE_URL"),
)

APPS_BY_NAME = {a.name: a for a in APPS}

# Issue 16, scale out: the services that run as AIL_REPLICAS processes (`./dev up --replicas N`).
# Replica 1 is the table's row (its name, port and URL variable unchanged); replica k > 1 is
# `NAME-k` on port offset + 10 (k - 1) (111..116 for the second), URL variable `..._URL_k`. The
# sandboxes, the lag exporter, Prometheus and the trace store stay single.
REPLICATED = ("application", "submission", "status", "customs", "signer", "stats")
MAX_REPLICAS = 4  # the offsets of a fifth copy (141..) would still be free, but 2 cores hold 2
REPLICA_PORT_STEP = 10
REPLICAS_KEY = "AIL_STACK_REPLICAS"  # the count the stack runs, in its env file and stack.json
# With several replicas, nginx listens in front of all replicas of a service on offset + 50
# (151..156; nginx.internal_fronts): the URL the other processes call it at.
FRONT_PORT_STEP = 50


def replica_of(app: App, k: int) -> App:
    if k == 1:
        return app
    return App(
        f"{app.name}-{k}",
        app.offset + REPLICA_PORT_STEP * (k - 1),
        app.module,
        f"{app.url_var}_{k}",
        k,
        app.name,
    )


def replica_apps(replicas: int) -> tuple[App, ...]:
    """Every process of a stack running REPLICAS copies of each service: the table's rows, then
    the second copy of each service, then the third, ..."""
    extra = [replica_of(a, k) for k in range(2, replicas + 1) for a in APPS if a.name in REPLICATED]
    return (*APPS, *extra)


# Every name a process may have, whatever the replica count (ports, `./dev kill submission-2`).
ALL_APPS_BY_NAME = {a.name: a for a in replica_apps(MAX_REPLICAS)}


def parse_replicas(raw: str, what: str = "AIL_REPLICAS") -> int:
    try:
        n = int(raw)
    except ValueError as exc:
        raise StackError(f"{what}={raw!r} is not a number (1..{MAX_REPLICAS})") from exc
    if not 1 <= n <= MAX_REPLICAS:
        raise StackError(f"{what}={n} is out of range: 1..{MAX_REPLICAS} copies of each service")
    return n


PORT_OFFSETS = {"postgres": 32, "entry": 80, "kafka": 92, "kafka-controller": 93}

PY_STEPS: tuple[tuple[str, str], ...] = (
    ("migrate", "ail_shared.migrate"),
    ("topics", "ail_shared.topics"),
)

DEMO_MODULE = "ail_shared.demo"

DEMO_EKEY_MODULE = "ail_submission.demo"

ALLOW_MISSING_MODULES = os.environ.get("AIL_STRICT_MODULES", "") not in ("1", "true", "yes")


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

# How long a started service may take to answer /healthz. A quiet machine needs 5-20 s; on a 2-core
# machine running several stacks at once Python's start alone took over 60 s (AIL_HEALTH_TIMEOUT).
APP_HEALTH_TIMEOUT = float(os.environ.get("AIL_HEALTH_TIMEOUT", "120"))

APP_STOP_GRACE = 10.0


def is_test_profile(profile: str) -> bool:
    return profile.startswith("test")


class Stack:
    def __init__(self, profile: str, base: int, replicas: int | None = None) -> None:
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
        # How many copies of each service (REPLICATED) run: what the stack runs now (stack.json,
        # AIL_STACK_REPLICAS), else 1. Only `up` and `test` take a new count (--replicas N or
        # AIL_REPLICAS, cli.py), and `scale`: an AIL_REPLICAS a test run exported when it began
        # must not undo a `./dev scale` made since.
        if replicas is None:
            replicas = self.recorded_replicas() or 1
        self.replicas = replicas

    @property
    def apps(self) -> tuple[App, ...]:
        """The processes of this stack (every replica of every service, the sandboxes, ...)."""
        return replica_apps(self.replicas)

    def replicas_of(self, service: str) -> list[App]:
        """The running copies of SERVICE (just its row when it is not replicated)."""
        return [a for a in self.apps if a.name == service or a.service == service]

    def recorded_replicas(self) -> int | None:
        try:
            recorded = json.loads(self.stack_json.read_text())
            return int(recorded[REPLICAS_KEY])
        except (OSError, ValueError, KeyError, TypeError):
            return None

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
        if name in ALL_APPS_BY_NAME:
            return self.base + ALL_APPS_BY_NAME[name].offset
        return self.base + PORT_OFFSETS[name]

    def stats_peers(self, name: str) -> str:
        """AIL_STATS_PEERS of the stats replica NAME: the other replicas' URLs, comma-separated."""
        return ",".join(self.url(a.name) for a in self.replicas_of("stats") if a.name != name)

    def front_port(self, service: str) -> int:
        return self.base + APPS_BY_NAME[service].offset + FRONT_PORT_STEP

    def service_urls(self) -> dict[str, str]:
        """The URL variables a process of the stack is started with: with several replicas a
        service's points at nginx in front of all of them (``nginx.internal_fronts``), so a call
        from one service to another goes round a replica that is down; otherwise (and in the
        env file, which tests read to reach replica 1 itself) each process's own."""
        if self.replicas < 2:
            return {}
        return {APPS_BY_NAME[s].url_var: f"http://127.0.0.1:{self.front_port(s)}" for s in REPLICATED}

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
