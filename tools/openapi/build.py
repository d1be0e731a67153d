"""Writes the public OpenAPI document: the six services' documents merged (``ail_shared.openapi``).

``.venv/bin/python tools/openapi/build.py > docs/openapi.json``; tests/unit/shared/test_openapi.py
fails when the committed document is stale. The services' apps are built as they start
(``bootstrap()``, default settings), without connecting to anything: only their routes are read.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

from ail_shared.openapi import merge

SERVICES = ("application", "submission", "status", "customs", "signer", "stats")
TITLE = "Automatic Import License platform (自动进口许可证)"
DESCRIPTION = (
    "The public API of every service, at the entry point. Authenticate with"
    " `Authorization: Bearer <api key>` (agencies name the enterprise in `X-Enterprise-Code`)"
    " or the console's `ail_session` cookie. Every error is"
    " `{error: {code, message, details: [{field, reason, code}]}}`, with every field in error at once."
    " Writes a client may retry take an `Idempotency-Key`. Limits: docs/limits.md. The events:"
    " /api/v1/asyncapi.json."
)


def documents() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for service in SERVICES:
        bootstrap = importlib.import_module(f"ail_{service}.bootstrap")
        out[service] = bootstrap.bootstrap().openapi()
    return out


def document() -> dict[str, Any]:
    return merge(documents(), title=TITLE, description=DESCRIPTION)


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
