"""RFC 8785 JSON Canonicalization Scheme (JCS): the bytes an application snapshot is signed over.

Keys sorted by their UTF-16 code units, no insignificant whitespace, strings escaped as
ECMAScript's JSON.stringify does, numbers in ECMAScript's shortest round-trip form.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any


def _number(value: float | int | Decimal) -> str:
    if isinstance(value, bool):  # bool is an int; handled by the caller
        raise TypeError("bool is not a number")
    if isinstance(value, int):
        return str(value)
    f = float(value)
    if math.isnan(f) or math.isinf(f):
        raise ValueError("NaN and Infinity have no JSON form (RFC 8785 section 3.2.2.3)")
    if f == 0:
        return "0"
    if f.is_integer() and abs(f) < 1e21:
        return str(int(f))
    text = repr(f)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = "-" if exp.startswith("-") else "+"
        digits = exp.lstrip("+-").lstrip("0") or "0"
        text = f"{mantissa.removesuffix('.0')}e{sign}{digits}"
    return text


def _encode(obj: Any, out: list[str]) -> None:
    if obj is None:
        out.append("null")
    elif obj is True:
        out.append("true")
    elif obj is False:
        out.append("false")
    elif isinstance(obj, str):
        out.append(json.dumps(obj, ensure_ascii=False))
    elif isinstance(obj, int | float | Decimal):
        out.append(_number(obj))
    elif isinstance(obj, dict):
        out.append("{")
        items = sorted(((str(k), v) for k, v in obj.items()), key=lambda kv: kv[0].encode("utf-16-be"))
        for i, (k, v) in enumerate(items):
            if i:
                out.append(",")
            out.append(json.dumps(k, ensure_ascii=False))
            out.append(":")
            _encode(v, out)
        out.append("}")
    elif isinstance(obj, list | tuple):
        out.append("[")
        for i, v in enumerate(obj):
            if i:
                out.append(",")
            _encode(v, out)
        out.append("]")
    else:
        raise TypeError(f"{type(obj).__name__} has no JSON form")


def canonical_json(obj: Any) -> bytes:
    """The RFC 8785 canonical UTF-8 bytes of ``obj`` (JSON data: dict, list, str, numbers, bool, None)."""
    out: list[str] = []
    _encode(obj, out)
    return "".join(out).encode("utf-8")
