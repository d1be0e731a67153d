"""Values a temporary save (暂存) could not read, kept as typed (issue 13, item 1).

A draft saves every field it can. A value that is not of its field's type (a date typed
``2026/12/20``, a quantity ``abc``, a number where text belongs) does not refuse the save: it is
taken out of the body, the rest is read as usual, and the value is kept *as typed* in the
application's ``raw_inputs`` under its dotted path (``expected_arrival_date``,
``goods.0.quantity``, ``contract.foreign_contract.signing_date``) with the reason it could not be
read. Every kept value is a problem (code ``unparseable``) in the application's ``problems`` and
blocks submission until the field is given again.

What is *not* kept but refused as before (422, every field at once): a value over a limit of
``ail_shared.inputs`` (too long, too many lines, too many digits, a NUL character), an unknown
or read-only field, and a value that is not a plain JSON scalar or is longer than
``ail_shared.inputs.RAW_INPUT_MAX`` characters: limits are limits, a typo is not."""

from __future__ import annotations

import copy
from typing import Any

from pydantic import ValidationError, ValidatorFunctionWrapHandler

from ail_shared.inputs import RAW_INPUT_MAX

UNPARSEABLE = "unparseable"

# pydantic's error types that mean "this is not a value of that type" (what a typo gives), as
# opposed to a value of the right type that breaks a limit.
PARSE_ERRORS = frozenset(
    {
        "bool_parsing",
        "bool_type",
        "date_from_datetime_inexact",
        "date_from_datetime_parsing",
        "date_parsing",
        "date_type",
        "decimal_parsing",
        "decimal_type",
        "decimal_invalid",
        "float_parsing",
        "float_type",
        "int_from_float",
        "int_parsing",
        "int_type",
        "list_type",
        "string_type",
    }
)


def _keepable(value: Any) -> bool:
    if isinstance(value, str):
        return len(value) <= RAW_INPUT_MAX
    return isinstance(value, bool | int | float)


def _take(data: Any, loc: tuple[int | str, ...]) -> bool:
    """Remove the member at ``loc`` from ``data`` (a copy); False when ``loc`` does not end at a
    named member of an object (an element of a list is not taken out: the indexes would move)."""
    *parents, last = loc
    node = data
    for step in parents:
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    if not (isinstance(node, dict) and isinstance(last, str) and last in node):
        return False
    del node[last]
    return True


def read_keeping_unparseable(
    data: Any,
    handler: ValidatorFunctionWrapHandler,
    *,
    prefix: str = "",
    never_kept: frozenset[str] = frozenset(),
) -> tuple[Any, dict[str, dict[str, Any]]]:
    """``handler(data)``, or, when the only errors are values that could not be read, the model
    of the rest and those values: ``{path: {"value": as typed, "reason": why}}``. Any other
    error is raised as pydantic raised it, and so is any error of a top-level name in
    ``never_kept`` (a field that cannot be given again later, like the draft's year)."""
    try:
        return handler(data), {}
    except ValidationError as exc:
        errors = exc.errors()
        if not isinstance(data, dict) or not all(
            e["type"] in PARSE_ERRORS
            and _keepable(e.get("input"))
            and e["loc"][:1] not in [(n,) for n in never_kept]
            for e in errors
        ):
            raise
        rest = copy.deepcopy(data)
        kept: dict[str, dict[str, Any]] = {}
        for e in errors:
            loc = tuple(e["loc"])
            if not _take(rest, loc):
                raise
            kept[prefix + ".".join(str(p) for p in loc)] = {"value": e["input"], "reason": e["msg"]}
        return handler(rest), kept
