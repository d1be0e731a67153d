"""Idempotency keys of an import: the same row of the same file gives the same key.

The API stores each ``Idempotency-Key`` per caller (the API key's principal: for an agency, the
agency, whichever enterprise it names) together with a hash of the request body; the same key
and body replay the first answer, the same key with another body is refused. So a key here is
derived from

* the enterprise the row is for (one agency key acts for many enterprises, and the API's request
  hash does not include ``X-Enterprise-Code``: without it two enterprises' identical rows would
  share one application),
* the row's reference (the agency's own name for the application, unique in a file),
* the row's content as read from the file: the application's cells with its goods lines (and for
  an attachment, the application's key, the file name and the file's SHA-256).

A rerun of the same file (or of a file that repeats the same rows) therefore creates nothing
twice, even after a crash half-way; a row whose content changed is a new application.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

PREFIX = "ail-import-v1"


def _digest(doc: Any) -> str:
    text = json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def draft_key(enterprise: str | None, reference: str, body: dict[str, Any]) -> str:
    """Key of ``POST /api/v1/applications`` for one row (``body`` is the request body)."""
    return f"{PREFIX}-draft-{_digest({'enterprise': enterprise, 'reference': reference, 'body': body})}"


def attachment_key(draft: str, filename: str, sha256: str) -> str:
    """Key of one attachment upload of the application whose draft key is ``draft``."""
    return f"{PREFIX}-attachment-{_digest({'draft': draft, 'filename': filename, 'sha256': sha256})}"
