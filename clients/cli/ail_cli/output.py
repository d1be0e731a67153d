"""What a command prints: rich for people (on stderr for progress), or one JSON document on
stdout with ``--json`` for scripts. Errors name what to do next."""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Exit codes (documented in the README): 0 everything went in; 1 input refused or some items
# refused by the API; 2 usage; 3 the platform could not be reached or answered with an error.
OK, REFUSED, USAGE, UNAVAILABLE = 0, 1, 2, 3

err = Console(stderr=True)
out = Console()


class RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.1f}/s" if speed else "-/s", style="progress.data.speed")


def progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        console=err,
        disable=not enabled,
        transient=False,
    )


def emit(json_mode: bool, document: Any) -> None:
    if json_mode:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, default=str) + "\n")
        sys.stdout.flush()


def fail(
    json_mode: bool, message: str, *, code: int = UNAVAILABLE, detail: dict[str, Any] | None = None
) -> NoReturn:
    if json_mode:
        emit(True, {"ok": False, "error": {"message": message, **(detail or {})}})
    else:
        err.print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(code)
