"""Find the running stack for a benchmark: AIL_* variables, else .devstack/<profile>/env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stack_env() -> dict[str, str]:
    if os.environ.get("AIL_PG_DSN") and os.environ.get("AIL_KAFKA_BOOTSTRAP"):
        return dict(os.environ)
    for profile in (os.environ.get("AIL_PROFILE"), "dev", "test"):
        if not profile:
            continue
        env_file = REPO / ".devstack" / profile / "env"
        if env_file.exists():
            env = {}
            for line in env_file.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#") and "=" in line:
                    k, v = line.removeprefix("export ").split("=", 1)
                    env[k] = v.strip().strip("'\"")
            return env
    sys.exit("no running stack found: start one with ./dev up (or ./dev test --keep)")


def stack_replicas(env: dict[str, str]) -> int:
    """Copies of each service the stack runs now: its stack.json (``./dev scale N`` rewrites
    it while the variables a test run exported stay as they were), else the variable, else 1."""
    try:
        recorded = json.loads((Path(env.get("AIL_DEVSTACK_DIR", "")) / "stack.json").read_text())
        return int(recorded.get("AIL_STACK_REPLICAS") or 1)
    except (OSError, ValueError, TypeError, AttributeError):
        pass
    try:
        return int(env.get("AIL_STACK_REPLICAS") or 1)
    except ValueError:
        return 1


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far: user + system, its own and that of its
    children that exited and were waited for), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            used = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
            stats[int(entry.name)] = (int(fields[1]), used / tick)
    return stats


def stack_roots(env: dict[str, str]) -> dict[str, int]:
    """name -> pid of every process the stack's driver started (run/*.pid: services, sandboxes,
    Kafka, nginx, the supervisor) and of the PostgreSQL postmaster."""
    state = Path(env.get("AIL_DEVSTACK_DIR", ""))
    roots: dict[str, int] = {}
    files = [*sorted((state / "run").glob("*.pid")), state / "pg" / "postmaster.pid"]
    for path in files:
        try:
            pid = int(path.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        roots["postgres" if path.name == "postmaster.pid" else path.stem] = pid
    return roots


def stack_cpu_by_name(env: dict[str, str]) -> dict[str, float]:
    """CPU seconds (user + system) used so far by each process of the stack (``stack_roots``)
    with its children (PostgreSQL backends, nginx workers); a child that exited counts in its
    parent's cutime/cstime once waited for (the postmaster reaps its backends)."""
    stats = _proc_table()
    owner = {pid: name for name, pid in stack_roots(env).items() if pid in stats}
    changed = True
    while changed:
        changed = False
        for pid, (ppid, _) in stats.items():
            if ppid in owner and pid not in owner:
                owner[pid] = owner[ppid]
                changed = True
    used: dict[str, float] = {}
    for pid, name in owner.items():
        used[name] = used.get(name, 0.0) + stats[pid][1]
    return used


def stack_cpu(env: dict[str, str]) -> float:
    """CPU seconds used so far by every process of the stack together (``stack_cpu_by_name``)."""
    return sum(stack_cpu_by_name(env).values())
