"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes an e-key signs.

The submission service canonicalises the application snapshot with :func:`canonical_json`, the
signer re-checks the bytes with :func:`recanonicalize` before signing, and the MOFCOM sandbox
canonicalises what it received the same way before it verifies the signature, so all three use
this one function.

Rules (RFC 8785 section 3.2):

* no whitespace; object members sorted by their names as UTF-16 code units;
* strings: UTF-8, escaping only ``"``, ``\\`` and the control characters below U+0020 (as
  ``\\b \\t \\n \\f \\r`` or ``\\u00xx`` in lower-case hex); everything else literal;
* numbers: IEEE-754 doubles written as ECMAScript's ``Number.prototype.toString`` does
  (``1e+21``, ``0.000001``, ``1e-7``, ``-0`` as ``0``); NaN and infinities are refused;
* integers must be exactly representable as a double (|n| <= 2**53), else refused, because
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

__all__ = ["CANONICALIZATION", "CanonicalFormError", "canonical_json", "recanonicalize"]

CANONICALIZATION = "RFC8785-JCS"
_MAX_SAFE = 2**53

# The C-accelerated string escaper of the standard json module (ensure_ascii=False): it escapes
# exactly what RFC 8785 escapes, in the same spelling.
_encode_string = json.encoder.encode_basestring


class CanonicalFormError(ValueError):
    """Bytes that are not canonical JSON (or not JSON at all)."""


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``obj``."""
    out: list[str] = []
    _write(obj, out, "$")
    try:
        return "".join(out).encode("utf-8")
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


def _utf16_key(name: str) -> bytes:
    return name.encode("utf-16-be", "surrogatepass")


def _write(obj: Any, out: list[str], path: str) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(_encode_string(obj))
    elif isinstance(obj, int):
        if abs(obj) > _MAX_SAFE:
            raise ValueError(f"{path}: integer {obj} is not exactly representable as a double")
        out.append(str(int(obj)))
    elif isinstance(obj, float):
        out.append(format_number(obj, path))
    elif isinstance(obj, Decimal):
        if not obj.is_finite():
            raise ValueError(f"{path}: {obj} is not a finite number")
        out.append(_encode_string(str(obj)))
    elif isinstance(obj, dict):
        for k in obj:
            if not isinstance(k, str):
                raise TypeError(f"{path}: member name {k!r} is not a string")
        out.append("{")
        first = True
        for k in sorted(obj, key=_utf16_key):
            if not first:
                out.append(",")
            first = False
            out.append(_encode_string(k))
            out.append(":")
            _write(obj[k], out, f"{path}.{k}")
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, item in enumerate(obj):
            if i:
                out.append(",")
            _write(item, out, f"{path}[{i}]")
        out.append("]")
    else:
        raise TypeError(f"{path}: {type(obj).__name__} has no canonical JSON form")


def format_number(value: float, path: str = "$") -> str:
    """ECMAScript Number.prototype.toString for a finite double (RFC 8785 section 3.2.2.3)."""
    if not math.isfinite(value):
        raise ValueError(f"{path}: {value} is not a finite number")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires; re-lay them out.
    mantissa, _, exp_text = repr(abs(value)).partition("e")
    int_part, _, frac_part = mantissa.partition(".")
    all_digits = int_part + frac_part
    lead_zeros = len(all_digits) - len(all_digits.lstrip("0"))
    # n: where the decimal point sits relative to the significant digits (ECMAScript's n).
    n = len(int_part) - lead_zeros + (int(exp_text) if exp_text else 0)
    digits = all_digits.strip("0")
    k = len(digits)
    if k <= n <= 21:
        body = digits + "0" * (n - k)
    elif 0 < n <= 21:
        body = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        body = f"0.{'0' * -n}{digits}"
    else:
        e = n - 1
        exp = f"e{'+' if e >= 0 else '-'}{abs(e)}"
        body = f"{digits[0]}{exp}" if k == 1 else f"{digits[0]}.{digits[1:]}{exp}"
    return sign + body
