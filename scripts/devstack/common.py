"""Output, errors and small helpers every part of the stack driver uses."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

_print_lock = threading.Lock()

# Where say() writes instead of stdout, when set (the supervisor logs JSON lines).
SINK: Callable[[str, str], None] | None = None


def say(tag: str, msg: str) -> None:
    if SINK is not None:
        SINK(tag, msg)
        return
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
