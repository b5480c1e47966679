"""`civicgrid open311 …`: the service attribute list and importing historic 311 exports."""

from __future__ import annotations

import csv
import os
import stat
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import TaskID

from civicgrid.cases.services import RowsRejected
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform, progress_bar
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import message_text, translate
from civicgrid.core.permissions import SYSTEM
from civicgrid.core.rows import RowProblem, read_csv_file, read_csv_text, write_rejected_rows
from civicgrid.open311 import services
from civicgrid.open311.importing import (
    DEFAULT_ATTRIBUTES,
    attributes_csv,
    mapping_path,
    parse_attributes,
    read_export,
    read_mapping,
)

open311_cli = typer.Typer(help="Open311 GeoReport v2: service attributes, importing 311 exports.")
attributes_cli = typer.Typer(help="The attributes (questions) asked with each Open311 service.")
open311_cli.add_typer(attributes_cli, name="attributes")

SHOWN_PROBLEMS = 20


@attributes_cli.command("import")
def import_attributes(
    file: Annotated[
        Path | None,
        typer.Argument(help="CSV file (UTF-8 or GBK); the built-in list when left out"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Replace the attribute list. Columns: service_code, code, order, datatype, required,
    variable, description, description_en, datatype_description, datatype_description_en,
    values (`key=名称=Name|…` for singlevaluelist and multivaluelist). All rows or none:
    bad rows are listed and saved beside the file as FILE.rejected.csv."""
    path = file or DEFAULT_ATTRIBUTES
    with friendly_errors():
        parsed = parse_attributes(read_csv_text(path))
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        try:
            count = services.replace_attributes(uow, SYSTEM, parsed, built.cases)
        except RowsRejected as rejected:
            _show_problems(rejected.problems)
            saved = write_rejected_rows(path, parsed.bad_rows())
            rows = len({p.row for p in rejected.problems})
            message = translate("csv_rejected", locale(), {"count": rows, "path": saved})
            err.print(f"[red]{message}[/red]")
            raise typer.Exit(1) from rejected
    out.print(f"{count} attributes installed from {path}")


@attributes_cli.command("export")
def export_attributes(db: DbOption = None) -> None:
    """Print the attribute list as CSV (the columns `attributes import` reads)."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        print(attributes_csv(services.list_attributes(uow, SYSTEM, built.cases)), end="")


@open311_cli.command("import")
def import_requests(
    file: Annotated[Path, typer.Argument(help="CSV export of service requests")],
    mapping: Annotated[
        str | None,
        typer.Option(
            help="mapping file (TOML), or a built-in one: open311 (the default: Open311 "
            "field names) or nyc311 (NYC Open Data's 311 Service Requests)"
        ),
    ] = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="import the good rows even when some are bad")
    ] = False,
    rejected: Annotated[
        Path | None,
        typer.Option(help="where to save bad rows (default: FILE.rejected.csv beside FILE)"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import historic service requests as cases with their own times, states, agencies
    (→ units) and complaint types (→ categories), placed in their grids. Requests imported
    before from the same source are skipped, so running it again changes nothing. Bad rows
    are named and saved with the reason in `_errors`; without --partial nothing is written
    when any row is bad."""
    lang = locale()
    with friendly_errors():
        plan = read_mapping(mapping_path(mapping))
        decoded = read_csv_file(file)  # a row not in the file's encoding is named, not fatal
        batch = read_export(decoded.text, plan, decoded)
    bars = progress_bar()
    tasks: dict[str, TaskID] = {}
    labels = {"check": "checking", "store": "storing"}

    def advance(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(labels.get(phase, phase), total=total)
        bars.advance(tasks[phase], done)

    with platform(db) as built, UnitOfWork(built.session_factory) as uow, friendly_errors():
        with bars:
            report = services.import_requests(
                uow, SYSTEM, batch, plan, built.cases, partial=partial, progress=advance
            )
        fallback = built.settings.fallback_category
    _show_problems(report.problems)
    if report.problems:
        saved = _save_rejected(rejected, file, batch.bad_rows(report.problems))
        reasons = ", ".join(
            f"{count} × {_reason(key)}" for key, count in report.reasons().most_common()
        )
        err.print(f"{report.rejected} rows rejected ({reasons}); saved to {saved}")
    if not report.written:
        message = translate("open311_import_aborted", lang, {"count": report.rejected})
        err.print(f"[red]{message}[/red]")
        raise typer.Exit(1)
    out.print(f"{report.imported} requests imported from {file} (source {plan.source})")
    out.print(f"{report.already_imported} imported before, skipped; {report.rejected} rejected")
    if report.fallback_types:
        types = ", ".join(f"{t} ({n})" for t, n in report.fallback_types.most_common())
        out.print(f"complaint types without a category, filed under {fallback}: {types}")
    for code, name in report.units_created:
        out.print(f"unit created for an unmapped agency: {code} {name}")


def _show_problems(problems: list[RowProblem]) -> None:
    lang = locale()
    for problem in problems[:SHOWN_PROBLEMS]:
        err.print(f"[red]✗ {problem.message(lang)}[/red]")
    if len(problems) > SHOWN_PROBLEMS:
        err.print(f"[red]… {len(problems) - SHOWN_PROBLEMS} more[/red]")


def _reason(key: str) -> str:
    """A problem's reason without its particulars ("the address '…' is not known")."""
    text = message_text(key, locale())
    if text is None:
        return key
    return text.format_map(defaultdict(lambda: "…"))


def _save_rejected(target: Path | None, source: Path, rows: list[dict[str, str]]) -> Path:
    """Beside the source file; in the working directory when that folder is read-only."""
    if target is not None:
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
        return target
    if _writable(source.resolve().parent):
        try:
            return write_rejected_rows(source, rows)
        except OSError:
            pass
    return write_rejected_rows(Path.cwd() / source.name, rows)


def _writable(folder: Path) -> bool:
    """Whether FOLDER may be written to, honouring a folder marked read-only even for an
    administrator (shared data folders are)."""
    return os.access(folder, os.W_OK) and bool(folder.stat().st_mode & stat.S_IWUSR)
