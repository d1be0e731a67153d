"""Import a module of the stack driver ``scripts/devstack/`` (a package outside the workspace's
Python packages: ``./dev`` runs it with the system python3)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def devstack_module(name: str) -> ModuleType:
    """``devstack.NAME``, imported from scripts/ (put on sys.path for the test session)."""
    if str(SCRIPTS) not in sys.path:
        sys.path.append(str(SCRIPTS))
    return importlib.import_module(f"devstack.{name}")
