"""Input types and limits that every service's request models share (issue 10, items 7 and 8).

Two kinds of rule live here:

- **What text is**: a string from a client must not hold a NUL character (PostgreSQL cannot
  store one in ``text`` or ``jsonb``) nor a lone UTF-16 surrogate (it cannot be encoded as
  UTF-8, so neither the database nor the JSON encoder takes it). ``text_problem()`` is the one
  check; the ``*Text`` types apply it in pydantic models, and ``ail_shared.http``'s request
  guard applies it to every path and query parameter, the headers we read and every string of a
  JSON body, so no route can forget it.
- **How big an input may be**: lengths of text fields, numbers of lines, numeric ranges and
  scales, years, pages, batches. They follow the printed form (自动进口许可证申请表) where the
  manual gives a size, and are our rule (with the reason) where it is silent. Together they
  keep the largest event well under the broker's maximum message size
  (``tests/unit/application/test_event_size.py`` computes the largest ``ApplicationSubmitted``).

The limits are in the models as ``maxLength``/``maxItems``/``minimum``/``maximum``, so they show
in each service's OpenAPI document; ``docs/limits.md`` lists them in one table. A bound that only
one route has (copies per request, a page size of one list, a query's range) is declared at that
route, and listed in the same table.

Callers: the application service (form, contracts, iron-ore contract, pre-check, key-agri
filing, query), submission (batch submit, e-key bindings), status (subscriptions, stream,
history), customs (queries), stats (monthly query), and ``ail_shared.http``.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, GetJsonSchemaHandler, StringConstraints
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError

from ail_shared.errors import FieldProblem


class WithJsonSchemaExtra:
    """Adds keys to a type's JSON schema without adding a check."""

    def __init__(self, extra: dict[str, Any]) -> None:
        self.extra = extra

    def __get_pydantic_json_schema__(
        self, core_schema: Any, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        schema.update(self.extra)
        return schema


# -- text -------------------------------------------------------------------------------------
_SURROGATE = re.compile("[\ud800-\udfff]")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be taken as text, or None. The reason names the offending character
    and its position, so a client can find it."""
    nul = value.find("\x00")
    if nul >= 0:
        return f"must not contain a NUL character (U+0000, at position {nul})"
    m = _SURROGATE.search(value)
    if m is not None:
        return (
            f"must be valid Unicode text: a lone surrogate (U+{ord(m.group()):04X}) at position"
            f" {m.start()} cannot be encoded as UTF-8"
        )
    return None


def _text(value: Any) -> Any:
    # Before pydantic's own str check, so that the reason is ours and not "unable to parse raw
    # data as a unicode string".
    if isinstance(value, str):
        reason = text_problem(value)
        if reason is not None:
            raise PydanticCustomError("text_invalid", reason)
    return value


def _max_length(limit: int) -> Any:
    return StringConstraints(max_length=limit)


# In the OpenAPI document only (the check itself is ``_text``, with a better reason than a
# pattern's): tells clients and generated tests (schemathesis) that NUL is not text here.
_NO_NUL = WithJsonSchemaExtra({"pattern": "^[^\\u0000]*$"})


# Text lengths, in characters (a Chinese character counts as one; it is 3 bytes in UTF-8).
# The manual gives no sizes for these boxes, so these are our rules: a code-table value or an
# identifier is short; a person's name fits 50 characters; an enterprise's or a foreign party's
# name (English names are long) fits 200, as does an address; box 23 (备注) on the printed form
# holds a few lines, 500 characters is more than it can show; free descriptions (goods
# description, detailed use) get 1000.
CODE_MAX = 32
IDENTIFIER_MAX = 64
PERSON_MAX = 50
PHONE_MAX = 32
NAME_MAX = 200
ADDRESS_MAX = 200
REMARKS_MAX = 500
DESCRIPTION_MAX = 1000
EMAIL_MAX = 254  # RFC 5321 path limit
URL_MAX = 2048
QUERY_TEXT_MAX = 200  # a search term or filter in a query string
# A value a temporary save could not read is kept as typed (the application's raw_inputs) up
# to this many characters; a longer one is refused like any value over a limit.
RAW_INPUT_MAX = 200

Text = Annotated[str, BeforeValidator(_text), _NO_NUL]
"""Any text: refuses NUL and lone surrogates. Give it a length with a ``*Text`` alias below."""
CodeText = Annotated[str, _max_length(CODE_MAX), BeforeValidator(_text), _NO_NUL]
IdentifierText = Annotated[str, _max_length(IDENTIFIER_MAX), BeforeValidator(_text), _NO_NUL]
PersonText = Annotated[str, _max_length(PERSON_MAX), BeforeValidator(_text), _NO_NUL]
PhoneText = Annotated[str, _max_length(PHONE_MAX), BeforeValidator(_text), _NO_NUL]
NameText = Annotated[str, _max_length(NAME_MAX), BeforeValidator(_text), _NO_NUL]
AddressText = Annotated[str, _max_length(ADDRESS_MAX), BeforeValidator(_text), _NO_NUL]
RemarksText = Annotated[str, _max_length(REMARKS_MAX), BeforeValidator(_text), _NO_NUL]
DescriptionText = Annotated[str, _max_length(DESCRIPTION_MAX), BeforeValidator(_text), _NO_NUL]
EmailText = Annotated[str, _max_length(EMAIL_MAX), BeforeValidator(_text), _NO_NUL]
UrlText = Annotated[str, _max_length(URL_MAX), BeforeValidator(_text), _NO_NUL]
QueryText = Annotated[str, _max_length(QUERY_TEXT_MAX), BeforeValidator(_text), _NO_NUL]


# -- lines and lists --------------------------------------------------------------------------
# The printed form has one goods table (boxes 16-21) on one page; the manual's example shows two
# lines. Our rule: at most 20 goods lines (and 20 iron-ore contract lines), enough for every
# specification of one commodity code, and what keeps the printed page and the event bounded.
GOODS_LINES_MAX = 20
IRON_ORE_LINES_MAX = 20
# The form has two customs-port boxes (box 11, 1..2); submission enforces 1..2. A temporary save
# keeps a list as typed so the red hint can name the extra one, up to this bound.
PORTS_SAVED_MAX = 10
ATTACHMENTS_MAX = 20  # per application; each at most 1 MiB (DOMAIN 5)
BATCH_MAX = 100  # ids in one batch request (delete, print, submit)
PAGE_MAX = 100_000  # page number; with page_size <= 200 that is 20 million rows
PAGE_SIZE_MAX = 200


# -- numbers ----------------------------------------------------------------------------------
class DecimalLimit:
    """A decimal with at most ``integer_digits`` digits before the point and ``places`` after.

    Bounding the scale refuses ``1e-400`` (which passes "greater than 0"); bounding the integer
    digits refuses ``1e308`` and 40-digit numbers, and keeps every product the form computes
    (quantity x unit price x exchange rate, summed over the lines) inside the 28 significant
    digits of Python's default decimal context, so computing totals can never fail."""

    def __init__(self, integer_digits: int, places: int, *, positive: bool = False) -> None:
        self.integer_digits = integer_digits
        self.places = places
        self.positive = positive
        self.maximum = Decimal(10) ** integer_digits - Decimal(10) ** -places

    def __call__(self, value: Decimal) -> Decimal:
        if not value.is_finite():
            raise PydanticCustomError("decimal_invalid", "must be a finite number")
        if abs(value) > self.maximum:
            raise PydanticCustomError(
                "decimal_range",
                "at most {digits} digits before the decimal point (largest {maximum})",
                {"digits": self.integer_digits, "maximum": str(self.maximum)},
            )
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int)  # finite
        if exponent < -self.places:
            scaled = value.quantize(Decimal(10) ** -self.places)
            if scaled != value:
                raise PydanticCustomError(
                    "decimal_scale",
                    "at most {places} digits after the decimal point",
                    {"places": self.places},
                )
            value = scaled  # only trailing zeros were dropped
        elif exponent > 0:
            value = value.quantize(Decimal(1))  # 1E+3 -> 1000: stored and shown as typed digits
        if self.positive and value <= 0:
            raise PydanticCustomError("decimal_positive", "must be greater than 0")
        return value

    def schema(self, what: str) -> Any:
        return Field(
            description=f"{what}: at most {self.integer_digits} digits before the decimal point and"
            f" {self.places} after",
            json_schema_extra={
                "maximum": float(self.maximum),
                "minimum": 0 if self.positive else -float(self.maximum),
            },
        )


# Quantities in the unit of the line (kg, t, ...): up to 10^12 (a billion tonnes in kg is about
# a year of China's iron-ore imports), 4 decimals. Unit prices: up to 10^10, 4 decimals.
# 10^12 x 10^10 x rate (< 10) x 20 lines < 10^25, i.e. 27 digits with the cents: inside 28.
QUANTITY = DecimalLimit(12, 4)
UNIT_PRICE = DecimalLimit(10, 4)
AMOUNT = DecimalLimit(14, 2)  # contract amounts, freight totals, in a currency
CAPITAL = DecimalLimit(12, 4)  # registered capital in 万元
PERCENT = DecimalLimit(3, 2)  # grade Fe %; also checked <= 100 at submission
IRON_ORE_QUANTITY_KT = DecimalLimit(9, 4)
IRON_ORE_PRICE_PER_KT = DecimalLimit(10, 4)
POSITIVE_QUANTITY = DecimalLimit(12, 4, positive=True)

Quantity = Annotated[Decimal, AfterValidator(QUANTITY), QUANTITY.schema("quantity")]
UnitPrice = Annotated[Decimal, AfterValidator(UNIT_PRICE), UNIT_PRICE.schema("unit price")]
Amount = Annotated[Decimal, AfterValidator(AMOUNT), AMOUNT.schema("amount")]
Capital = Annotated[Decimal, AfterValidator(CAPITAL), CAPITAL.schema("capital (万元)")]
Percent = Annotated[Decimal, AfterValidator(PERCENT), PERCENT.schema("percent")]
QuantityKt = Annotated[
    Decimal, AfterValidator(IRON_ORE_QUANTITY_KT), IRON_ORE_QUANTITY_KT.schema("quantity (kt)")
]
PricePerKt = Annotated[
    Decimal, AfterValidator(IRON_ORE_PRICE_PER_KT), IRON_ORE_PRICE_PER_KT.schema("price per kt")
]
PositiveQuantity = Annotated[
    Decimal, AfterValidator(POSITIVE_QUANTITY), POSITIVE_QUANTITY.schema("quantity, greater than 0")
]

# Years: a license year is this year or the next (after 25 December licenses are issued for the
# next one), or last year's for an application made in the first days of January. The static
# bounds (in the OpenAPI) keep any year a query may name inside PostgreSQL's integer and
# Python's date range; ``license_year_problem`` applies the window for a new application.
YEAR_MIN = 2000
YEAR_MAX = 2100
Year = Annotated[int, Field(ge=YEAR_MIN, le=YEAR_MAX, description=f"a year, {YEAR_MIN}..{YEAR_MAX}")]


def license_year_problem(year: int, today: date) -> str | None:
    if not today.year - 1 <= year <= today.year + 1:
        return f"must be {today.year - 1}, {today.year} or {today.year + 1} (the license year)"
    return None


# Dates a client may give: inside the years PostgreSQL and Python agree on, and a day away from
# date.max so that "to" (a whole day, exclusive end = next day) never overflows.
DATE_MIN = date(1900, 1, 1)
DATE_MAX = date(9998, 12, 31)


def _date_in_range(value: date) -> date:
    if not DATE_MIN <= value <= DATE_MAX:
        raise PydanticCustomError(
            "date_range",
            "must be between {low} and {high}",
            {"low": DATE_MIN.isoformat(), "high": DATE_MAX.isoformat()},
        )
    return value


Day = Annotated[date, AfterValidator(_date_in_range)]


def parse_instant(
    raw: str,
    field: str,
    problems: list[FieldProblem],
    *,
    zone: tzinfo = UTC,
    whole_day_end: bool = False,
) -> datetime | None:
    """A query bound: a date (the start of that day in ``zone``; with ``whole_day_end`` the start
    of the next day, so an exclusive "to" includes the day) or an ISO 8601 timestamp (UTC when it
    has no offset). Outside DATE_MIN..DATE_MAX it is a problem, not an overflow later (``to=
    9999-12-31`` used to overflow when the day was added, and a timestamp near year 9999 with a
    negative offset when the driver converted it to UTC)."""
    raw = raw.strip()
    try:
        if len(raw) == 10:
            day = date.fromisoformat(raw)
            value = datetime.combine(day, time(), zone)
        else:
            parsed = datetime.fromisoformat(raw)
            value = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        problems.append(FieldProblem(field, "expected a date YYYY-MM-DD or an ISO 8601 timestamp"))
        return None
    if not DATE_MIN <= value.date() <= DATE_MAX:
        problems.append(
            FieldProblem(field, f"must be between {DATE_MIN.isoformat()} and {DATE_MAX.isoformat()}")
        )
        return None
    if len(raw) == 10 and whole_day_end:
        value += timedelta(days=1)
    return value


# Sequence numbers and cursors are PostgreSQL bigint.
BIGINT_MAX = 2**63 - 1
Cursor = Annotated[int, Field(ge=0, le=BIGINT_MAX)]
Page = Annotated[int, Field(ge=1, le=PAGE_MAX)]
PageSize = Annotated[int, Field(ge=1, le=PAGE_SIZE_MAX)]

# Whole request bodies. An attachment is at most 1 MiB (plus multipart framing); a JSON body at
# the limits above is far smaller (docs/limits.md). The entry point allows more (20 MB), so the
# services answer 413 with the project's error body before reading any further.
MAX_BODY_BYTES = 2 * 1024 * 1024


def finite_problem(value: float) -> str | None:
    return None if math.isfinite(value) else "must be a finite number (NaN and Infinity are not JSON)"
