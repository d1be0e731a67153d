"""The Python processes: one-shot steps (migrations, topics, demo data) and the services and
sandboxes, which the supervisor (supervisor.py) launches and keeps running."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from .common import REPO, StackError, rel, run, say, tail, warn
from .envfile import process_env
from .procs import http_status, read_pidfile
from .table import (
    ALLOW_MISSING_MODULES,
    APP_HEALTH_TIMEOUT,
    APPS,
    DEMO_EKEY_MODULE,
    DEMO_MODULE,
    PY_STEPS,
    App,
    Stack,
)

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


def app_hung(st: Stack, app: App) -> int | None:
    """The pid of APP when it runs but /healthz does not answer 200 within 3 s (a process left
    hanging by an earlier stack), else None. ``./dev up`` stops it; the supervisor starts it."""
    pid = app_pid(st, app)
    if not pid:
        return None
    for _ in range(6):
        if http_status(st.port(app.name)) == 200:
            return None
        time.sleep(0.5)
    return pid


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
        f"Look at ./dev logs {name}, fix it, then ./dev start {name}."
    )
