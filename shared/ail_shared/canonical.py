"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes an e-key signs.

The submission service canonicalises the application snapshot with :func:`canonical_json`, the
signer re-checks the bytes with :func:`recanonicalize` before signing, and the MOFCOM sandbox
canonicalises what it received the same way before it verifies the signature, so all three use
this one function.

The serialisation itself is the PyPI package ``rfc8785`` (Trail of Bits; issue 12, item 5): it
gives the same bytes as the hand-written encoder it replaced on every test vector (the RFC's
examples and Appendix B's number table, ``tests/unit/shared/test_canonical.py``). What is ours:
the types beyond JSON below, error messages that name the path, and the fast path of
:func:`recanonicalize`. One difference from the old encoder: the integer 2**53 is refused now
(``rfc8785`` bounds integers by ECMAScript's ``MAX_SAFE_INTEGER``, 2**53 - 1).

Rules (RFC 8785 section 3.2):

* no whitespace; object members sorted by their names as UTF-16 code units;
* strings: UTF-8, escaping only ``"``, ``\\`` and the control characters below U+0020 (as
  ``\\b \\t \\n \\f \\r`` or ``\\u00xx`` in lower-case hex); everything else literal;
* numbers: IEEE-754 doubles written as ECMAScript's ``Number.prototype.toString`` does
  (``1e+21``, ``0.000001``, ``1e-7``, ``-0`` as ``0``); NaN and infinities are refused;
* integers must be exactly representable as a double (|n| <= 2**53 - 1), else refused, because
  a reader that parses JSON numbers as doubles would silently change them.

Beyond the JSON types, :func:`canonical_json` accepts ``Decimal`` (written as a string,
``str(value)``, the same as pydantic's JSON mode, so a money amount never passes through a
double) and tuples (as arrays). Anything else is a ``TypeError`` naming where it is.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

import rfc8785

__all__ = ["CANONICALIZATION", "CanonicalFormError", "canonical_json", "recanonicalize"]

CANONICALIZATION = "RFC8785-JCS"
# ECMAScript's Number.MAX_SAFE_INTEGER, the bound ``rfc8785`` applies (2**53 itself is refused:
# 2**53 + 1 reads back as 2**53, so 2**53 is not known to be exact).
_MAX_SAFE = 2**53 - 1


class CanonicalFormError(ValueError):
    """Bytes that are not canonical JSON (or not JSON at all)."""


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``obj``."""
    plain = _plain(obj, "$")
    try:
        return rfc8785.dumps(plain)
    except UnicodeEncodeError as exc:  # a lone surrogate in a string
        raise ValueError(f"string is not valid Unicode: {exc.reason}") from exc


def recanonicalize(raw: bytes) -> bytes:
    """Parse ``raw`` as JSON and return its canonical form; raise :class:`CanonicalFormError` when
    ``raw`` is not JSON, has duplicate member names, or has numbers JCS cannot carry.

    Bytes that are canonical already (the usual case: a signer checking what it is asked to
    sign) are recognised by the standard library's C encoder, several times faster than the
    general path: its output equals JCS whenever no number is written differently (floats are
    checked one by one as they are parsed) and no member name lies outside the Basic
    Multilingual Plane (UTF-16 and code point order agree there)."""
    if _is_canonical_fast(raw):
        return raw
    try:
        text = raw.decode("utf-8")
        parsed = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_refuse_constant)
        return canonical_json(parsed)
    except UnicodeDecodeError as exc:
        raise CanonicalFormError(f"not UTF-8: {exc.reason} at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise CanonicalFormError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except (ValueError, TypeError) as exc:
        raise CanonicalFormError(str(exc)) from exc


_NON_BMP = re.compile(rb"[\xf0-\xf4]")  # lead bytes of 4-byte UTF-8 sequences


# A number token (after ``:``, ``,`` or ``[``, before ``,``, ``]`` or ``}``) that the C encoder may
# write otherwise than JCS: 16 or more digits (maybe beyond 2**53), an integral float ("3.0"),
# exponent notation. Text inside strings can match too; that only costs the general path.
_SUSPECT_NUMBER = re.compile(r"[:,\[]-?(?:\d{16,}|\d+\.0|\d+(?:\.\d+)?e[+-]?\d+)(?=[,\]}])")


def _is_canonical_fast(raw: bytes) -> bool:
    """True only if ``raw`` is certainly canonical; False means "use the general path"."""
    if _NON_BMP.search(raw):
        return False
    try:
        text = raw.decode("utf-8")
        again = json.dumps(
            json.loads(text), ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
        )
    except (ValueError, TypeError, RecursionError):
        return False
    # Duplicate member names, whitespace, escapes spelled otherwise: all make ``again`` differ.
    # Floats that JCS writes like Python's repr (1e-4 <= |x| < 1e16, not integral) pass.
    return again == text and not _SUSPECT_NUMBER.search(text)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"duplicate member name {k!r}")
        out[k] = v
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _plain(obj: Any, path: str) -> Any:
    """``obj`` with Decimals as strings and tuples as lists, checked on the way, so that an error
    names where it is (``rfc8785`` says what, not where)."""
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        if abs(obj) > _MAX_SAFE:
            raise ValueError(f"{path}: integer {obj} is not exactly representable as a double")
        return int(obj)
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path}: {obj} is not a finite number")
        return obj
    if isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"{path}: {obj} is not a finite number")
        return str(obj)
    if isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise TypeError(f"{path}: member name {k!r} is not a string")
        return {k: _plain(v, f"{path}.{k}") for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(item, f"{path}[{i}]") for i, item in enumerate(obj)]
    raise TypeError(f"{path}: {type(obj).__name__} has no canonical JSON form")


def format_number(value: float, path: str = "$") -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError(f"{path}: {value} is not a finite number")
    return rfc8785.dumps(value).decode("ascii")
