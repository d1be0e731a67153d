"""``ail import``: check every row, then create drafts, contracts, iron-ore contracts and
attachments, then write the results workbook.

Three passes, none holding the rows in memory:
1. stage: stream each sheet into a temporary SQLite file, checking each row on its own;
2. check across sheets (goods, contract, iron ore and attachments of each application), and
   when any problem is found stop here: nothing is sent, every problem is reported;
3. send: a bounded queue feeds ``concurrency`` workers; results go back to SQLite; then the
   results workbook is streamed (openpyxl write-only) from the input plus the results.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook

from ail_cli import keys
from ail_cli.api import Api, ApiError
from ail_cli.checks import (
    Assembled,
    Problem,
    Reference,
    check_application,
    check_row,
    contract_body,
    draft_body,
    iron_ore_body,
)
from ail_cli.layout import (
    APPLICATIONS,
    CODE_TABLES_USED,
    CONTRACTS,
    GOODS,
    IRON_ORE,
    IRON_ORE_LINES,
    REFERENCE,
)
from ail_cli.reader import RESULT_COLUMNS, Source, raw_rows, rows, sources

EDITABLE = {"draft", "revoked", "first_review_rejected"}
MAX_ATTACHMENT = 1024 * 1024
MAGIC = ((b"%PDF-", "PDF"), (b"\x89PNG\r\n\x1a\n", "PNG"), (b"\xff\xd8\xff", "JPEG"), (b"PK\x03\x04", "OFD"))
SINGLE_ROW_SHEETS = (APPLICATIONS, CONTRACTS, IRON_ORE)


async def fetch_reference(api: Api) -> Reference:
    """The code tables and the catalogue, from the API (the same data its validation uses)."""
    tables = await asyncio.gather(*(api.items(f"/api/v1/reference/{t}") for t in CODE_TABLES_USED))
    commodities = await api.items("/api/v1/reference/commodities")
    ref = Reference.from_api(dict(zip(CODE_TABLES_USED, tables, strict=True)), commodities)
    return ref


@dataclass
class Job:
    row: int
    enterprise: str | None
    reference: str
    draft: dict[str, Any]
    contract: dict[str, Any] | None
    iron_ore: dict[str, Any] | None
    attachments: list[Path] = field(default_factory=list)

    @property
    def key(self) -> str:
        return keys.draft_key(self.enterprise, self.reference, self.draft)


@dataclass
class Outcome:
    row: int
    outcome: str  # created | already_imported | failed
    id: str | None = None
    serial_no: str | None = None
    status: str | None = None
    problems: str = ""


class Staging:
    """The rows of one import in a temporary SQLite file (deleted on close)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="ail-import-")
        self.db = sqlite3.connect(Path(self._dir.name) / "stage.db")
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
            CREATE TABLE rows (sheet TEXT, row INTEGER, ref TEXT, data TEXT, PRIMARY KEY (sheet, row));
            CREATE INDEX rows_ref ON rows (sheet, ref, row);
            CREATE TABLE problems (sheet TEXT, row INTEGER, col TEXT, reason TEXT);
            CREATE INDEX problems_at ON problems (sheet, row);
            CREATE TABLE results (row INTEGER PRIMARY KEY, outcome TEXT, id TEXT, serial_no TEXT,
                                  status TEXT, problems TEXT);
            """
        )

    def close(self) -> None:
        self.db.close()
        self._dir.cleanup()

    def add_row(self, sheet: str, row: int, values: dict[str, Any]) -> None:
        self.db.execute(
            "INSERT INTO rows VALUES (?, ?, ?, ?)",
            (sheet, row, values.get(REFERENCE), json.dumps(values, ensure_ascii=False)),
        )

    def add_problems(self, problems: list[Problem]) -> None:
        self.db.executemany(
            "INSERT INTO problems VALUES (?, ?, ?, ?)",
            [(p.sheet, p.row, p.column, p.reason) for p in problems],
        )

    def problem_count(self) -> int:
        n: int = self.db.execute("SELECT count(*) FROM problems").fetchone()[0]
        return n

    def problems(self, limit: int | None = None) -> list[Problem]:
        order = {s: i for i, s in enumerate((APPLICATIONS, GOODS, CONTRACTS, IRON_ORE, IRON_ORE_LINES))}
        got = [Problem(*r) for r in self.db.execute("SELECT sheet, row, col, reason FROM problems")]
        got.sort(key=lambda p: (order.get(p.sheet, 9), p.row, p.column))
        return got[:limit] if limit else got

    def problems_at(self, sheet: str, row: int) -> str:
        return "; ".join(
            f"{c}: {r}"
            for c, r in self.db.execute(
                "SELECT col, reason FROM problems WHERE sheet = ? AND row = ?", (sheet, row)
            )
        )

    def _of(self, sheet: str, ref: str) -> list[tuple[int, dict[str, Any]]]:
        return [
            (r, json.loads(d))
            for r, d in self.db.execute(
                "SELECT row, data FROM rows WHERE sheet = ? AND ref = ? ORDER BY row", (sheet, ref)
            )
        ]

    def applications(self) -> Iterator[Assembled]:
        cur = self.db.cursor()
        for row, data in cur.execute(
            "SELECT row, data FROM rows WHERE sheet = ? ORDER BY row", (APPLICATIONS,)
        ):
            app = json.loads(data)
            ref = app.get(REFERENCE)
            a = Assembled(row, app)
            if ref is not None:
                a.goods = self._of(GOODS, ref)
                contracts, ores = self._of(CONTRACTS, ref), self._of(IRON_ORE, ref)
                a.contract = contracts[0] if contracts else None
                a.iron_ore = ores[0] if ores else None
                a.iron_ore_lines = self._of(IRON_ORE_LINES, ref)
            yield a

    def cross_sheet_problems(self) -> list[Problem]:
        """References used twice on one-row-per-application sheets, and rows of the other
        sheets whose reference names no application."""
        out: list[Problem] = []
        for sheet in SINGLE_ROW_SHEETS:
            dupes = self.db.execute(
                "SELECT r.row, r.ref, first.row FROM rows r JOIN (SELECT ref, min(row) AS row FROM rows"
                " WHERE sheet = ? AND ref IS NOT NULL GROUP BY ref HAVING count(*) > 1) first"
                " ON r.ref = first.ref WHERE r.sheet = ? AND r.row > first.row",
                (sheet, sheet),
            )
            for row, ref, first in dupes:
                out.append(
                    Problem(sheet, row, REFERENCE, f"reference '{ref}' is already used in row {first}")
                )
        for sheet in (GOODS, CONTRACTS, IRON_ORE, IRON_ORE_LINES):
            orphans = self.db.execute(
                "SELECT r.row, r.ref FROM rows r WHERE r.sheet = ? AND r.ref IS NOT NULL AND NOT EXISTS"
                " (SELECT 1 FROM rows a WHERE a.sheet = ? AND a.ref = r.ref)",
                (sheet, APPLICATIONS),
            )
            for row, ref in orphans:
                out.append(
                    Problem(
                        sheet,
                        row,
                        REFERENCE,
                        f"no application with reference '{ref}' on sheet '{APPLICATIONS}'",
                    )
                )
        return out

    def put_result(self, o: Outcome) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?, ?)",
            (o.row, o.outcome, o.id, o.serial_no, o.status, o.problems),
        )

    def result(self, row: int) -> tuple[Any, ...] | None:
        got: tuple[Any, ...] | None = self.db.execute(
            "SELECT id, serial_no, status, outcome, problems FROM results WHERE row = ?", (row,)
        ).fetchone()
        return got

    def counts(self) -> dict[str, int]:
        return dict(self.db.execute("SELECT outcome, count(*) FROM results GROUP BY outcome").fetchall())


def attachment_problems(
    row: int, names: list[str], folder: Path, electronic: bool
) -> tuple[list[Problem], list[Path]]:
    problems: list[Problem] = []
    paths: list[Path] = []

    def add(reason: str) -> None:
        problems.append(Problem(APPLICATIONS, row, "attachments", reason))

    if names and not electronic:
        add("attachments are only for electronic-license applications (electronic_license = yes)")
    for name in names:
        path = (folder / name).resolve()
        if folder.resolve() not in path.parents:
            add(f"'{name}' is outside the attachments folder {folder}")
        elif not path.is_file():
            add(f"'{name}' not found in {folder} (give the folder with --attachments DIR)")
        elif path.stat().st_size > MAX_ATTACHMENT:
            add(f"'{name}' is {path.stat().st_size} bytes; at most 1 MB (1048576 bytes)")
        else:
            with path.open("rb") as f:
                head = f.read(8)
            if not any(head.startswith(m) for m, _ in MAGIC):
                add(f"'{name}' is not a PDF, JPEG, PNG or OFD file (judged by its content)")
            else:
                paths.append(path)
    return problems, paths


@dataclass
class Plan:
    staging: Staging
    sources: list[Source]
    rows: int
    jobs: Callable[[], Iterator[Job]]


def stage(
    files: list[Path],
    ref: Reference,
    *,
    complete: bool,
    enterprise: str | None,
    attachments_dir: Path,
    on_row: Callable[[], None] | None = None,
) -> Plan:
    """Passes 1 and 2. The plan's staging holds every problem found."""
    srcs = sources(files)
    st = Staging()
    n_apps = 0
    for src in srcs:
        for row, cells, header_problems in rows(src):
            if header_problems:
                st.add_problems([Problem(src.sheet, 1, "header", p) for p in header_problems])
                continue
            values, problems = check_row(src.sheet, row, cells, ref, complete=complete)
            st.add_row(src.sheet, row, values)
            st.add_problems(problems)
            if src.sheet == APPLICATIONS:
                n_apps += 1
                if on_row:
                    on_row()
    st.add_problems(st.cross_sheet_problems())
    default_currency = next((c for c in ref.tables.get("currencies", {}) if c == "USD"), "USD")
    for a in st.applications():
        st.add_problems(check_application(a, complete=complete, default_currency=default_currency))
        names = a.app.get("attachments") or []
        if names:
            probs, _ = attachment_problems(a.row, names, attachments_dir, _electronic(a.app, ref))
            st.add_problems(probs)
    st.db.commit()

    def jobs() -> Iterator[Job]:
        for a in st.applications():
            _, paths = attachment_problems(a.row, a.app.get("attachments") or [], attachments_dir, True)
            yield Job(
                row=a.row,
                enterprise=a.app.get("enterprise_code") or enterprise,
                reference=str(a.app[REFERENCE]),
                draft=draft_body(a.app, (g for _, g in a.goods)),
                contract=contract_body(a.contract[1]) if a.contract else None,
                iron_ore=iron_ore_body(a.iron_ore[1], (ln for _, ln in a.iron_ore_lines))
                if a.iron_ore
                else None,
                attachments=paths,
            )

    return Plan(st, srcs, n_apps, jobs)


def _electronic(app: dict[str, Any], ref: Reference) -> bool:
    if app.get("electronic_license") is not None:
        return bool(app["electronic_license"])
    entry = ref.commodity(str(app.get("commodity_code")), int(app.get("year") or date.today().year))
    return bool(entry and entry.get("electronic"))


async def send_one(api: Api, job: Job) -> Outcome:
    try:
        resp = await api.request(
            "POST", "/api/v1/applications", json=job.draft, enterprise=job.enterprise, idempotency_key=job.key
        )
        app = resp.json()
        replayed = resp.headers.get("Idempotent-Replayed") == "true"
        if replayed:
            # The stored first answer is the draft as created; what matters now is its status.
            app = await api.json("GET", f"/api/v1/applications/{app['id']}", enterprise=job.enterprise)
        app_id = app["id"]
        if app["status"] in EDITABLE:
            if job.contract is not None:
                await api.request(
                    "PUT",
                    f"/api/v1/applications/{app_id}/contract",
                    json=job.contract,
                    enterprise=job.enterprise,
                )
            if job.iron_ore is not None:
                await api.request(
                    "PUT",
                    f"/api/v1/applications/{app_id}/iron-ore-contract",
                    json=job.iron_ore,
                    enterprise=job.enterprise,
                )
        for path in job.attachments:
            content = path.read_bytes()
            key = keys.attachment_key(job.key, path.name, hashlib.sha256(content).hexdigest())
            await api.request(
                "POST",
                f"/api/v1/applications/{app_id}/attachments",
                files={"file": (path.name, content)},
                enterprise=job.enterprise,
                idempotency_key=key,
            )
        return Outcome(
            job.row, "already_imported" if replayed else "created", app_id, app["serial_no"], app["status"]
        )
    except ApiError as exc:
        problems = exc.message + "".join(f"; {d.get('field')}: {d.get('reason')}" for d in exc.details)
        return Outcome(job.row, "failed", problems=problems)


async def send(
    api: Api, plan: Plan, *, concurrency: int, on_done: Callable[[Outcome], None] | None = None
) -> dict[str, int]:
    queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=concurrency * 2)
    st = plan.staging

    async def worker() -> None:
        while (job := await queue.get()) is not None:
            outcome = await send_one(api, job)
            st.put_result(outcome)
            if on_done:
                on_done(outcome)

    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        for job in plan.jobs():
            await queue.put(job)
        for _ in workers:
            await queue.put(None)
        await asyncio.gather(*workers)
    finally:
        for w in workers:
            w.cancel()
        st.db.commit()
    return st.counts()


def write_results(plan: Plan, path: Path) -> None:
    """The input, sheet by sheet, plus id, serial no., status, outcome and problems per row."""
    wb = Workbook(write_only=True)
    st = plan.staging
    for src in plan.sources:
        ws = wb.create_sheet(src.sheet)
        keep: list[int] = []
        for n, cells in raw_rows(src):
            if n == 1:
                keep = [i for i, c in enumerate(cells) if str(c or "").strip() not in RESULT_COLUMNS]
                extra = list(RESULT_COLUMNS) if src.sheet == APPLICATIONS else ["problems"]
                ws.append([cells[i] for i in keep] + extra)
                continue
            if not any(c is not None and str(c).strip() for c in cells):
                continue
            values = [cells[i] if i < len(cells) else None for i in keep]
            problems = st.problems_at(src.sheet, n)
            if src.sheet == APPLICATIONS:
                got = st.result(n)
                if got:
                    values += [got[0], got[1], got[2], got[3], got[4] or problems]
                else:
                    values += [None, None, None, "not_sent" if problems == "" else "refused", problems]
            else:
                values.append(problems)
            ws.append(values)
    tmp = path.with_name(path.name + ".tmp")
    wb.save(tmp)
    tmp.replace(path)
