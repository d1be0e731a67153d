"""Attachment rules (DOMAIN section 5): electronic applications only, at most 1 MB, and a type
decided by the content's magic bytes, never by the file name."""

from __future__ import annotations

import io
import zipfile

MAX_BYTES = 1024 * 1024
ALLOWED = "PDF, JPEG, PNG, OFD"


def sniff(content: bytes) -> str | None:
    """The media type of ``content`` if it is an allowed type, else None."""
    if content.startswith(b"%PDF-"):
        return "application/pdf"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"PK\x03\x04"):
        # OFD (GB/T 33190) is a zip package whose root holds OFD.xml.
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as z:
                if "OFD.xml" in z.namelist():
                    return "application/ofd"
        except zipfile.BadZipFile:
            return None
    return None
