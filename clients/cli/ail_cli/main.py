"""``ail``: the agencies' command line for the Automatic Import License platform.

Speaks only the public API (``/api/v1`` behind the entry point). Every command takes ``--json``
(one JSON document on stdout, for scripts) and ``--profile``; exit codes: 0 everything went in,
1 refused (bad rows, or ids the API refused), 2 usage, 3 the platform unreachable or failing.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.live import Live
from rich.table import Table

from ail_cli import bulk, export, importer
from ail_cli import config as cfg
from ail_cli.api import ApiError, connect
from ail_cli.output import OK, REFUSED, UNAVAILABLE, USAGE, emit, err, fail, progress
from ail_cli.reader import InputError
from ail_cli.selection import QUERY_FILTERS, Target, select
from ail_cli.template import write_template
from ail_cli.watch import FINAL, Board, watch

app = typer.Typer(
    name="ail",
    help="Command line for trade agencies: spreadsheet import, bulk submit, watch and export,"
    " through the platform's public API. Start with: ail login --url URL --key KEY",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
T = TypeVar("T")

Json = Annotated[bool, typer.Option("--json", help="print one JSON document on stdout (for scripts)")]
ProfileOpt = Annotated[
    str | None, typer.Option("--profile", "-p", help="profile to use (default: the last ail login)")
]
EnterpriseOpt = Annotated[
    str | None,
    typer.Option("--enterprise", "-e", help="agencies: the enterprise to act for (X-Enterprise-Code)"),
]
SourceArg = Annotated[
    Path | None,
    typer.Argument(help="results workbook of ail import (or a CSV with an 'id' column)", show_default=False),
]
IdsOpt = Annotated[list[str] | None, typer.Option("--id", help="an application id (repeatable)")]
StatusOpt = Annotated[str | None, typer.Option(help="query: status, e.g. draft")]
YearOpt = Annotated[int | None, typer.Option(help="query: licence year")]
SerialOpt = Annotated[str | None, typer.Option("--serial-no", help="query: serial no.")]
FormOpt = Annotated[str | None, typer.Option("--form-no", help="query: MOFCOM form no.")]
AgencyOpt = Annotated[str | None, typer.Option("--issuing-agency", help="query: issuing agency code")]
TradeModeOpt = Annotated[str | None, typer.Option("--trade-mode", help="query: trade mode code")]
UserCodeOpt = Annotated[str | None, typer.Option("--import-user-code", help="query: import user code")]
UserNameOpt = Annotated[
    str | None, typer.Option("--import-user-name", help="query: part of the import user's name")
]
FromOpt = Annotated[str | None, typer.Option("--applied-from", help="query: applied on or after YYYY-MM-DD")]
ToOpt = Annotated[str | None, typer.Option("--applied-to", help="query: applied on or before YYYY-MM-DD")]


def _profile(name: str | None, enterprise: str | None, json_mode: bool) -> cfg.Profile:
    try:
        p = cfg.resolve(name)
    except cfg.ConfigError as exc:
        fail(json_mode, str(exc), code=USAGE)
    return cfg.Profile(p.name, p.url, p.key, enterprise or p.enterprise)


def _run(json_mode: bool, coro: Awaitable[T]) -> T:
    try:
        return asyncio.run(coro)  # type: ignore[arg-type]
    except ApiError as exc:
        code = UNAVAILABLE if exc.status == 0 or exc.status >= 500 else REFUSED
        fail(json_mode, str(exc), code=code, detail={"api": exc.as_json()})
    except (InputError, ValueError) as exc:
        fail(json_mode, str(exc), code=USAGE)


@app.command()
def login(
    url: Annotated[str, typer.Option(help="the platform's base URL (the entry point)", prompt=True)],
    key: Annotated[str, typer.Option(help="API key ail_<id>_<secret>", prompt=True, hide_input=True)],
    profile: Annotated[str, typer.Option("--profile", "-p", help="name of the profile to store")] = "default",
    enterprise: EnterpriseOpt = None,
    json_out: Json = False,
) -> None:
    """Check the API key against the platform and store it as a named profile (file mode 600)."""
    p = cfg.Profile(profile, url.rstrip("/"), key.strip(), enterprise)

    async def check() -> dict[str, Any]:
        async with connect(p) as api:
            body: dict[str, Any] = await api.json("GET", "/api/v1/applications", params={"page_size": 1})
            return body

    page = _run(json_out, check())
    path = cfg.save_profile(p)
    emit(
        json_out,
        {"ok": True, "profile": profile, "url": p.url, "config": str(path), "applications": page["total"]},
    )
    if not json_out:
        err.print(
            f"logged in: profile [bold]{profile}[/] at {p.url} ({page['total']} applications visible);"
            f" saved in {path}"
        )


@app.command()
def profiles(json_out: Json = False) -> None:
    """List the stored profiles (keys are not shown)."""
    default, found = cfg.list_profiles()
    rows = [
        {"name": n, "url": v.get("url"), "enterprise": v.get("enterprise"), "default": n == default}
        for n, v in found.items()
    ]
    emit(json_out, {"ok": True, "profiles": rows})
    if not json_out:
        for r in rows:
            err.print(f"{'*' if r['default'] else ' '} {r['name']}  {r['url']}  {r['enterprise'] or ''}")
        if not rows:
            err.print("no profiles: run ail login --url URL --key KEY")


@app.command()
def template(
    path: Annotated[Path, typer.Argument(help="the workbook to write, e.g. applications.xlsx")],
    year: Annotated[
        int | None, typer.Option(help="catalogue year of the commodity list (default: this year)")
    ] = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Write the import workbook: applications, goods, contracts, iron-ore contracts and lines,
    the code tables as drop-down lists, and a sheet explaining every column (中文 / English)."""
    p = _profile(profile, None, json_out)

    async def go() -> dict[str, int]:
        async with connect(p) as api:
            ref = await importer.fetch_reference(api)
        return write_template(path, ref, year=year)

    info = _run(json_out, go())
    emit(json_out, {"ok": True, "path": str(path), **info})
    if not json_out:
        err.print(f"wrote {path}: {info['sheets']} sheets, {info['drop_down_lists']} drop-down lists")


@app.command("import")
def import_(
    files: Annotated[
        list[Path], typer.Argument(help="an .xlsx workbook, or .csv files named after their sheets")
    ],
    enterprise: EnterpriseOpt = None,
    attachments: Annotated[
        Path | None,
        typer.Option(help="folder of the files named in the attachments column (default: the file's folder)"),
    ] = None,
    results: Annotated[
        Path | None, typer.Option(help="results workbook (default: <file>.results.xlsx)")
    ] = None,
    check: Annotated[bool, typer.Option("--check", help="only check the rows; send nothing")] = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            help="accept rows not yet complete for submission (temporary drafts);"
            " formats and codes are still checked"
        ),
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="requests in flight")] = 8,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Check every row against the code tables and rules (all problems at once, by sheet, row
    and column; nothing is sent when any row is bad), then create the drafts, contracts,
    iron-ore contracts and attachments. A rerun of the same file creates nothing twice.
    Ends with a results workbook; exit code 0 only when every row went in."""
    p = _profile(profile, enterprise, json_out)
    out_path = results or files[0].with_name(files[0].stem + ".results.xlsx")
    folder = attachments or files[0].parent

    async def go() -> int:
        async with connect(p, concurrency=concurrency) as api:
            ref = await importer.fetch_reference(api)
            bar = progress(not json_out)
            with bar:
                reading = bar.add_task("checking rows", total=None)
                plan = importer.stage(
                    files,
                    ref,
                    complete=not allow_incomplete,
                    enterprise=p.enterprise,
                    attachments_dir=folder,
                    on_row=lambda: bar.advance(reading),
                )
                bar.update(reading, total=plan.rows, completed=plan.rows)
                n_problems = plan.staging.problem_count()
                if n_problems or check:
                    # Its own file: a check never overwrites the results (ids) of an import.
                    problems_path = out_path.with_name(files[0].stem + ".problems.xlsx")
                    importer.write_results(plan, problems_path)
                    return _report_check(plan, n_problems, problems_path, json_out)
                sending = bar.add_task("importing", total=plan.rows)
                try:
                    counts = await importer.send(
                        api, plan, concurrency=concurrency, on_done=lambda _o: bar.advance(sending)
                    )
                    importer.write_results(plan, out_path)
                    failed = [
                        {"row": r, "problems": pr}
                        for r, pr in plan.staging.db.execute(
                            "SELECT row, problems FROM results WHERE outcome = 'failed'"
                            " ORDER BY row LIMIT 200"
                        )
                    ]
                finally:
                    plan.staging.close()
        summary = {
            "ok": counts.get("failed", 0) == 0,
            "rows": plan.rows,
            "created": counts.get("created", 0),
            "already_imported": counts.get("already_imported", 0),
            "failed": counts.get("failed", 0),
            "results": str(out_path),
            "failures": failed,
        }
        emit(json_out, summary)
        if not json_out:
            err.print(
                f"{plan.rows} rows: {summary['created']} created,"
                f" {summary['already_imported']} already imported,"
                f" {summary['failed']} failed; results in {out_path}"
            )
            for f in failed[:20]:
                err.print(f"  applications row {f['row']}: {f['problems']}", highlight=False)
            if summary["failed"]:
                err.print(
                    "fix what failed and run the same command again: rows already in are not created twice"
                )
        return OK if summary["ok"] else UNAVAILABLE

    raise typer.Exit(_run(json_out, go()))


def _report_check(plan: importer.Plan, n_problems: int, out_path: Path, json_out: bool) -> int:
    problems = plan.staging.problems()
    rows = sorted({(p.sheet, p.row) for p in problems})
    by_sheet = Counter(p.sheet for p in problems)
    doc = {
        "ok": n_problems == 0,
        "sent": 0,
        "rows": plan.rows,
        "problem_count": n_problems,
        "rows_with_problems": len(rows),
        "by_sheet": dict(by_sheet),
        "problems": [p.__dict__ for p in problems],
        "results": str(out_path),
    }
    plan.staging.close()
    emit(json_out, doc)
    if not json_out:
        if n_problems:
            err.print(f"[bold red]{n_problems} problem(s) in {len(rows)} row(s); nothing was sent[/]")
            for p in problems[:200]:
                err.print(f"  {p}", highlight=False, markup=False)
            if n_problems > 200:
                err.print(f"  ... {n_problems - 200} more in {out_path}")
            err.print(
                f"correct the rows (each is named above and in {out_path}, column 'problems'),"
                " then run ail import again"
            )
        else:
            err.print(f"{plan.rows} rows checked, no problems (nothing sent: --check)")
    return REFUSED if n_problems else OK


def _filters(**kw: Any) -> dict[str, Any]:
    return {k: kw.get(k) for k in QUERY_FILTERS}


async def _selected(
    api: Any, source: Path | None, ids: list[str] | None, filters: dict[str, Any]
) -> list[Target]:
    return await select(api, source=source, ids=ids or [], filters=filters)


def _bulk(
    name: str,
    json_out: bool,
    p: cfg.Profile,
    source: Path | None,
    ids: list[str] | None,
    filters: dict[str, Any],
    action: Callable[[Any, list[Target], Callable[[int], None]], Awaitable[list[bulk.Result]]],
    ok: set[str],
) -> None:
    async def go() -> int:
        async with connect(p) as api:
            targets = await _selected(api, source, ids, filters)
            bar = progress(not json_out)
            with bar:
                task = bar.add_task(name, total=len(targets))
                results = await action(api, targets, lambda n: bar.advance(task, n))
        counts = Counter(r.result for r in results)
        bad = [r for r in results if r.result not in ok]
        emit(
            json_out,
            {
                "ok": not bad,
                "count": len(results),
                "outcomes": dict(counts),
                "results": [r.as_json() for r in results],
            },
        )
        if not json_out:
            err.print(f"{len(results)} application(s): " + ", ".join(f"{n} {k}" for k, n in counts.items()))
            for r in bad[:50]:
                err.print(f"  {r.id}: {r.result} {r.detail or ''}", highlight=False, markup=False)
        if any(r.result == "failed" for r in bad):
            return UNAVAILABLE
        return REFUSED if bad else OK

    raise typer.Exit(_run(json_out, go()))


@app.command()
def submit(
    source: SourceArg = None,
    ids: IdsOpt = None,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Submit applications (to signing and MOFCOM) in batches; one result per id. Safe to rerun:
    an application already submitted is reported as already_submitted."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)
    _bulk(
        "submitting",
        json_out,
        p,
        source,
        ids,
        f,
        lambda api, t, d: bulk.submit(api, t, on_done=d),
        {"submitted", "already_submitted"},
    )


@app.command()
def revoke(
    source: SourceArg = None,
    ids: IdsOpt = None,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Revoke applications pending first review; one result per id. Safe to rerun."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)
    _bulk(
        "revoking",
        json_out,
        p,
        source,
        ids,
        f,
        lambda api, t, d: bulk.revoke(api, t, on_done=d),
        {"revoked", "already_revoked"},
    )


@app.command()
def delete(
    source: SourceArg = None,
    ids: IdsOpt = None,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Delete applications (draft, revoked, first_review_rejected) for good, in batches. Safe to
    rerun: an id already deleted answers not_found."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)
    _bulk(
        "deleting",
        json_out,
        p,
        source,
        ids,
        f,
        lambda api, t, d: bulk.delete(api, t, on_done=d),
        {"deleted", "not_found"},
    )


@app.command("print")
def print_(
    source: SourceArg = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="folder for the PDFs")] = Path("."),
    combined: Annotated[
        bool, typer.Option(help="one PDF per batch (the API's batch print) instead of one per application")
    ] = False,
    ids: IdsOpt = None,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Print the forms as PDF files into --out DIR (<serial no>.pdf each). Safe to rerun: PDFs
    already there are kept."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)
    _bulk(
        "printing",
        json_out,
        p,
        source,
        ids,
        f,
        lambda api, t, d: bulk.print_pdfs(api, t, out, combined=combined, on_done=d),
        {"printed", "already_printed"},
    )


def _board_table(board: Board, started: float) -> Table:
    t = Table(
        title=f"{board.done()}/{len(board.status)} final · {board.events} events"
        f" · {time.monotonic() - started:.0f}s"
    )
    total = len(board.status) or 1
    filled = round(30 * board.done() / total)
    t.caption = f"{'█' * filled}{'░' * (30 - filled)} {100 * board.done() / total:.0f}% final"
    t.add_column("status")
    t.add_column("count", justify="right")
    for s, n in board.counts().items():
        t.add_row(s, str(n))
    return t


@app.command("watch")
def watch_(
    source: SourceArg = None,
    ids: IdsOpt = None,
    until: Annotated[
        list[str] | None,
        typer.Option(help="statuses that end the watch (repeatable; default: the final ones)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait at most")] = 600.0,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """A live table of counts per status, from the server-sent events stream, until every
    application is in a final state (license_issued, rejected, revoked) or --timeout.
    Exit code 0 when all are final, 1 at the timeout."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)
    final = tuple(until) if until else FINAL

    async def go() -> int:
        async with connect(p) as api:
            targets = await _selected(api, source, ids, f)
            started = time.monotonic()
            if json_out or not err.is_terminal and os.environ.get("AIL_CLI_LIVE") != "1":
                board, all_final = await watch(
                    api, targets, final=final, timeout=timeout, on_change=lambda b: None
                )
            else:
                with Live(console=err, refresh_per_second=4) as live:
                    board, all_final = await watch(
                        api,
                        targets,
                        final=final,
                        timeout=timeout,
                        on_change=lambda b: live.update(_board_table(b, started)),
                    )
        emit(
            json_out,
            {
                "ok": all_final,
                "count": len(targets),
                "counts": board.counts(),
                "final": board.done(),
                "events": board.events,
                "seconds": round(time.monotonic() - started, 1),
            },
        )
        if not json_out:
            err.print(_board_table(board, started))
            if not all_final:
                err.print(
                    f"timed out after {timeout:.0f}s with {len(board.pending())} not final:"
                    " run ail watch again to go on"
                )
        return OK if all_final else REFUSED

    raise typer.Exit(_run(json_out, go()))


class ExportKind(StrEnum):
    applications = "applications"
    customs_status = "customs-status"
    clearances = "clearances"
    monthly = "monthly"


@app.command("export")
def export_(
    kind: Annotated[ExportKind, typer.Argument(help="what to export")],
    path: Annotated[Path, typer.Argument(help="the file to write (.xlsx or .csv)")],
    fmt: Annotated[
        str | None, typer.Option("--format", help="csv or xlsx (default: from the file name)")
    ] = None,
    status: StatusOpt = None,
    year: YearOpt = None,
    serial_no: SerialOpt = None,
    form_no: FormOpt = None,
    issuing_agency: AgencyOpt = None,
    trade_mode: TradeModeOpt = None,
    import_user_code: UserCodeOpt = None,
    import_user_name: UserNameOpt = None,
    applied_from: FromOpt = None,
    applied_to: ToOpt = None,
    license_no: Annotated[
        list[str] | None, typer.Option("--license-no", help="customs-status / clearances: license no.")
    ] = None,
    month: Annotated[str | None, typer.Option(help="monthly: YYYY-MM")] = None,
    commodity_category: Annotated[
        str | None, typer.Option(help="monthly: commodity category (iron_ore, coal, ... or HS26)")
    ] = None,
    commodity_grouping: Annotated[
        str | None, typer.Option(help="monthly: commodity grouping (商品统计方式, e.g. 矿产品)")
    ] = None,
    trade_country: Annotated[str | None, typer.Option(help="monthly: trade country code")] = None,
    enterprise: EnterpriseOpt = None,
    profile: ProfileOpt = None,
    json_out: Json = False,
) -> None:
    """Export the application query, customs status, clearances (per --license-no) or monthly
    statistics (--month) to XLSX or CSV."""
    f = _filters(**locals())
    p = _profile(profile, enterprise, json_out)

    async def go() -> int:
        chosen = export.fmt_of(path, fmt)
        async with connect(p) as api:
            if kind is ExportKind.applications:
                n = await export.applications(api, path, chosen, f)
            elif kind is ExportKind.customs_status:
                n = await export.customs_status(
                    api,
                    path,
                    chosen,
                    {
                        "year": year,
                        "serial_no": serial_no,
                        "license_no": license_no[0] if license_no else None,
                        "applied_from": applied_from,
                        "applied_to": applied_to,
                    },
                )
            elif kind is ExportKind.clearances:
                if not license_no:
                    raise ValueError("clearances: give --license-no LICENSE (repeatable)")
                n = await export.clearances(api, path, chosen, license_no)
            else:
                if not month:
                    raise ValueError("monthly: give --month YYYY-MM")
                n = await export.monthly(
                    api,
                    path,
                    chosen,
                    {
                        "month": month,
                        "issuing_agency": issuing_agency,
                        "trade_mode": trade_mode,
                        "commodity_category": commodity_category,
                        "commodity_grouping": commodity_grouping,
                        "trade_country": trade_country,
                    },
                )
        emit(json_out, {"ok": True, "kind": kind.value, "path": str(path), "format": chosen, "rows": n})
        if not json_out:
            err.print(f"wrote {path} ({chosen}, {n if n >= 0 else '?'} rows)")
        return OK

    raise typer.Exit(_run(json_out, go()))


if __name__ == "__main__":
    app()
