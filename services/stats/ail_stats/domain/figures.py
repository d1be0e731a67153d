"""Monthly statistics: what an approval contributes, how it is folded into the tables exactly once,
and how the monthly / year-to-date rows are read back. Pure: no Kafka, no faust, no I/O.

Counting rule (DOMAIN §8, issue 7): only *approved* applications count, i.e. a
``ReviewResultReceived`` with ``stage="second"`` and ``result="passed"``. An application counts
**once**, in the month of its approval: the local date in China (Asia/Shanghai, UTC+8, no daylight
saving) of ``reviewed_at``. 2025-03-31T16:30Z is 2025-04-01 00:30 in Beijing, so it counts in April.
A second approval event for an application already counted (a redelivery, or another event id) is
ignored: the first approval the stats worker folded wins. Year to date for month M of year Y is
the sum of the months January..M of Y.

Exactly-once folding (see docs/stats.md for the whole argument). Two faust tables, both written
from the same agent step and therefore to the same changelog partition ``p`` (the partition of the
approval on ``ail.submission``, which is keyed by application id):

* ``approvals``: application id -> the source position ``(p, offset)`` of the approval that counted;
* ``figures``: (p, enterprise, month, agency, trade mode, country, commodity, unit) -> quantity,
  amount, count and ``upto``: the highest source offset of partition ``p`` folded into this key.

:func:`decide` turns (approval position, what the tables hold) into what to write. A redelivered
approval is recognised by the ``approvals`` entry (another position: a duplicate) or by the key's
``upto`` watermark (same position already folded), whichever of the two changelog writes survived.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from ail_shared.calendar import china_date
from ail_shared.errors import FieldProblem
from ail_shared.events import ApplicationSummary, ReviewResultReceived
from ail_shared.lifecycle import ApplicationStatus, status_after_review

MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
YEAR_RE = re.compile(r"^\d{4}$")


class NotCountable(ValueError):
    """An approval event that can never be counted (goes to the dead-letter topic)."""


def is_approval(event: ReviewResultReceived) -> bool:
    """Does this review result approve the application (the lifecycle's rule)?"""
    return status_after_review(event.stage, event.result) is ApplicationStatus.APPROVED


def china_month(moment: datetime) -> str:
    """``YYYY-MM`` of ``moment`` in China local time. A naive datetime is refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise NotCountable("reviewed_at has no UTC offset; cannot tell the month in China")
    local = china_date(moment)
    return f"{local.year:04d}-{local.month:02d}"


def category_for(summary: ApplicationSummary) -> str:
    """The event's commodity category, else the HS chapter (first two digits of the code)."""
    if summary.commodity_category:
        return summary.commodity_category
    digits = "".join(ch for ch in summary.commodity_code if ch.isdigit())
    return f"HS{digits[:2]}" if len(digits) >= 2 else ""


@dataclass(frozen=True)
class Contribution:
    """What one approved application adds to the tables."""

    application_id: str
    enterprise_code: str
    month: str  # YYYY-MM, China local date of the approval
    issuing_agency: str
    trade_mode: str
    trade_country: str
    commodity_code: str
    commodity_name: str
    unit: str
    category: str
    quantity: Decimal
    amount_usd: Decimal
    grouping: str = ""  # 商品统计方式; "" for approvals of events that did not carry it

    def dims(self) -> list[str]:
        return [
            self.enterprise_code,
            self.month,
            self.issuing_agency,
            self.trade_mode,
            self.trade_country,
            self.commodity_code,
            self.unit,
        ]


def contribution(application_id: str, event: ReviewResultReceived) -> Contribution:
    summary = event.application
    if summary is None:
        raise NotCountable("approval carries no application summary (field 'application')")
    problems = []
    if not summary.enterprise_code:
        problems.append("application.enterprise_code is empty")
    if not summary.commodity_code:
        problems.append("application.commodity_code is empty")
    if summary.total_quantity < 0 or summary.total_value_usd < 0:
        problems.append("application.total_quantity/total_value_usd must not be negative")
    if not summary.total_quantity.is_finite() or not summary.total_value_usd.is_finite():
        problems.append("application.total_quantity/total_value_usd must be finite")
    if problems:
        raise NotCountable("; ".join(problems))
    # A change or extension replaces a license whose goods were counted with its own approval:
    # it counts as an approved application, with no quantity or amount of its own (docs/stats.md).
    replacement = bool(summary.replaces_license_no)
    return Contribution(
        application_id=application_id,
        enterprise_code=summary.enterprise_code,
        month=china_month(event.reviewed_at),
        issuing_agency=summary.issuing_agency,
        trade_mode=summary.trade_mode,
        trade_country=summary.trade_country,
        commodity_code=summary.commodity_code,
        commodity_name=summary.commodity_name,
        unit=summary.unit,
        category=category_for(summary),
        quantity=Decimal(0) if replacement else summary.total_quantity,
        amount_usd=Decimal(0) if replacement else summary.total_value_usd,
        grouping=summary.commodity_grouping,
    )


def figure_key(partition: int, c: Contribution) -> str:
    """Table key: the source partition first, so that a key is only ever written from one
    partition (and its changelog lives on that partition), then the dimensions."""
    return json.dumps([partition, *c.dims()], ensure_ascii=False, separators=(",", ":"))


def key_partition(key: str) -> int:
    """The source partition of a ``figure_key``: the digits between ``[`` and the first comma.
    A query reads it for every figure it merges, and decoding the whole key as JSON was most
    of a monthly query's time (issue 16, session 8)."""
    if key[:1] != "[":
        raise ValueError(f"not a figure key: {key[:40]!r}")
    return int(key[1 : key.index(",")])


@dataclass
class Decision:
    outcome: Literal["counted", "duplicate", "already_folded"]
    approval_record: dict[str, Any] | None = None  # write to approvals[application_id]
    figure_record: dict[str, Any] | None = None  # write to figures[key]


def decide(
    c: Contribution,
    *,
    partition: int,
    offset: int,
    seen: Mapping[str, Any] | None,
    figure: Mapping[str, Any] | None,
) -> Decision:
    """Fold one approval at source position (partition, offset), given the ``approvals`` entry
    for its application (``seen``) and the ``figures`` entry for its key."""
    if seen is not None and (seen.get("p"), seen.get("o")) != (partition, offset):
        return Decision("duplicate")
    approval = None if seen is not None else {"p": partition, "o": offset, "month": c.month}
    if figure is not None and int(figure.get("upto", -1)) >= offset:
        # This very message was folded before a crash; only the approvals write may be missing.
        return Decision("already_folded", approval_record=approval)
    old = figure or {}
    record = {
        "dims": c.dims(),
        "name": c.commodity_name or str(old.get("name", "")),
        "category": c.category,
        "grouping": c.grouping,
        "quantity": str(Decimal(old.get("quantity", "0")) + c.quantity),
        "amount_usd": str(Decimal(old.get("amount_usd", "0")) + c.amount_usd),
        "count": int(old.get("count", 0)) + 1,
        "upto": offset,
    }
    return Decision("counted", approval_record=approval, figure_record=record)


# ------------------------------------------------------------------------------------ queries


@dataclass(frozen=True)
class MonthlyQuery:
    month: str
    issuing_agency: str = ""
    trade_mode: str = ""
    commodity_category: str = ""
    trade_country: str = ""
    commodity_grouping: str = ""

    @property
    def year(self) -> str:
        return self.month[:4]


HS_CHAPTER_RE = re.compile(r"^HS\d{2}$")
COUNTRY_RE = re.compile(r"^\d{3}$")  # the Customs country/region table's codes are 3 digits


def category_matches(record: Mapping[str, Any], asked: str) -> bool:
    """Does a figure belong to the asked category: the catalogue's (``iron_ore``) as the event
    carried it, or the HS chapter (``HS26``) of its commodity code, whichever was asked. Both
    work for every figure: one carried a catalogue category, the chapter is in its code."""
    if HS_CHAPTER_RE.match(asked):
        code = str(record["dims"][5])
        return f"HS{code[:2]}" == asked
    return bool(record.get("category", "") == asked)


def query_problems(
    query: MonthlyQuery, categories: frozenset[str], groupings: frozenset[str]
) -> list[FieldProblem]:
    """Every problem of a monthly query's parameters, at once; an empty filter is none."""
    problems: list[FieldProblem] = []
    if not query.month:
        problems.append(FieldProblem("month", "required, as YYYY-MM"))
    elif not MONTH_RE.match(query.month):
        problems.append(FieldProblem("month", f"{query.month!r} is not a month YYYY-MM (01..12)"))
    category = query.commodity_category
    if category and not (HS_CHAPTER_RE.match(category) or category in categories):
        problems.append(
            FieldProblem(
                "commodity_category",
                f"{category!r} is not a category: HS + 2-digit chapter (HS26) or one of the"
                f" catalogue's: {', '.join(sorted(categories))}",
            )
        )
    if query.commodity_grouping and query.commodity_grouping not in groupings:
        problems.append(
            FieldProblem(
                "commodity_grouping",
                f"{query.commodity_grouping!r} is not a grouping (商品统计方式) of the catalogue:"
                f" {', '.join(sorted(groupings))}",
            )
        )
    if query.trade_country and not COUNTRY_RE.match(query.trade_country):
        problems.append(
            FieldProblem(
                "trade_country",
                f"{query.trade_country!r} is not a country/region code (3 digits, e.g. 601)",
            )
        )
    return problems


@dataclass
class Totals:
    quantity: Decimal = Decimal(0)
    amount_usd: Decimal = Decimal(0)
    count: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"quantity": str(self.quantity), "amount_usd": str(self.amount_usd), "count": self.count}


class _Sums:
    """The records a total is made of, summed once at the end (``total``): ``sum(map(Decimal,
    ...))`` runs in C, where a ``Totals.add`` per record cost a Python call and three look-ups
    for each of the thousands of figures a year-to-date query reads (issue 16, session 9)."""

    __slots__ = ("quantities", "amounts", "counts")

    def __init__(self) -> None:
        self.quantities: list[str] = []
        self.amounts: list[str] = []
        self.counts: list[int] = []

    def take(self, record: Mapping[str, Any]) -> None:
        self.quantities.append(record["quantity"])
        self.amounts.append(record["amount_usd"])
        self.counts.append(record["count"])

    def total(self) -> Totals:
        return Totals(
            sum(map(Decimal, self.quantities), Decimal(0)),
            sum(map(Decimal, self.amounts), Decimal(0)),
            sum(map(int, self.counts)),
        )


@dataclass
class Row:
    commodity_code: str
    commodity_name: str
    unit: str
    month: Totals = field(default_factory=Totals)
    year_to_date: Totals = field(default_factory=Totals)

    def as_json(self) -> dict[str, Any]:
        return {
            "commodity_code": self.commodity_code,
            "commodity_name": self.commodity_name,
            "unit": self.unit,
            "month": self.month.as_json(),
            "year_to_date": self.year_to_date.as_json(),
        }


def monthly_rows(
    records: Iterable[Mapping[str, Any]], query: MonthlyQuery, enterprises: Iterable[str]
) -> list[Row]:
    """One row per commodity (code and unit: quantities in different units are never summed),
    over the given enterprises only, for the asked month and January..month of its year."""
    allowed = set(enterprises)
    year, asked = query.year, query.month
    rows: dict[tuple[str, str], tuple[Row, _Sums, _Sums]] = {}
    for rec in records:
        enterprise, month, agency, mode, country, code, unit = rec["dims"]
        if enterprise not in allowed or month[:4] != year or month > asked:
            continue
        if query.issuing_agency and agency != query.issuing_agency:
            continue
        if query.trade_mode and mode != query.trade_mode:
            continue
        if query.trade_country and country != query.trade_country:
            continue
        if query.commodity_category and not category_matches(rec, query.commodity_category):
            continue
        if query.commodity_grouping and rec.get("grouping", "") != query.commodity_grouping:
            continue
        entry = rows.get((code, unit))
        if entry is None:
            entry = rows[(code, unit)] = (Row(code, str(rec.get("name", "")), unit), _Sums(), _Sums())
        elif not entry[0].commodity_name and rec.get("name"):
            entry[0].commodity_name = str(rec["name"])
        entry[2].take(rec)
        if month == asked:
            entry[1].take(rec)
    out = []
    for k in sorted(rows):
        row, month_sums, ytd_sums = rows[k]
        row.month, row.year_to_date = month_sums.total(), ytd_sums.total()
        out.append(row)
    return out


CSV_COLUMNS = (
    "commodity_code",
    "commodity_name",
    "unit",
    "month_quantity",
    "month_amount_usd",
    "month_count",
    "ytd_quantity",
    "ytd_amount_usd",
    "ytd_count",
)


def rows_csv(rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.commodity_code,
                r.commodity_name,
                r.unit,
                r.month.quantity,
                r.month.amount_usd,
                r.month.count,
                r.year_to_date.quantity,
                r.year_to_date.amount_usd,
                r.year_to_date.count,
            ]
        )
    return buf.getvalue()


# ------------------------------------------------------------------- replicas (issue 16)


@dataclass(frozen=True)
class Shard:
    """What one stats replica holds: the source partitions it owns (recovered, not rebalancing)
    and, of the asked enterprises and year, its figures as (table key, record). A faust worker
    with the memory store holds only its own partitions' keys, so with two replicas each one
    has about half of every answer."""

    partitions: frozenset[int]
    figures: tuple[tuple[str, Mapping[str, Any]], ...]


@dataclass(frozen=True)
class Gathered:
    records: list[Mapping[str, Any]]
    missing: tuple[int, ...]  # partitions no replica answered for: the answer would be short


def merge_shards(shards: Iterable[Shard], partitions: int) -> Gathered:
    """The figures of every partition, from whichever replicas hold them. A key carries its
    source partition first (``figure_key``), so each key comes from the one replica owning that
    partition; while a rebalance hands a partition over two replicas may both have it, and the
    record folded furthest (``upto``, the source offset) wins. A key of a partition its sender
    does not own (revoked, not yet dropped) is left out."""
    shards = list(shards)
    if len(shards) == 1 and shards[0].partitions >= frozenset(range(partitions)):
        # One replica holding every partition (the usual local case): its keys are unique and
        # all its own, so there is nothing to choose between; skip the per-key work.
        return Gathered([record for _, record in shards[0].figures], ())
    best: dict[str, Mapping[str, Any]] = {}
    held: set[int] = set()
    for shard in shards:
        held |= shard.partitions
        for key, record in shard.figures:
            if key_partition(key) not in shard.partitions:
                continue
            old = best.get(key)
            if old is None or int(record.get("upto", -1)) > int(old.get("upto", -1)):
                best[key] = record
    missing = tuple(p for p in range(partitions) if p not in held)
    return Gathered(list(best.values()), missing)
