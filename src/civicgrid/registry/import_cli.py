"""`civicgrid registry import KIND FILE`: a department's CSV or Excel export into the registry."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform, progress_bar
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import translate
from civicgrid.core.permissions import SYSTEM
from civicgrid.registry import services
from civicgrid.registry.domain import RecordKind
from civicgrid.registry.importing import (
    default_mapping,
    open_table,
    read_mapping,
    write_rejected,
)

SHOWN_PROBLEMS = 20
# The command's exit status, for scripts that chain imports: every row imported (some
# perhaps listed for review), some rows rejected, or nothing imported at all (every row
# rejected, or the file refused before a row was read).
ALL_IMPORTED, SOME_REJECTED, NOTHING_IMPORTED = 0, 1, 2


@contextmanager
def refusals() -> Iterator[None]:
    """friendly_errors, with the exit status of an import that wrote nothing."""
    try:
        with friendly_errors():
            yield
    except typer.Exit as refused:
        raise typer.Exit(NOTHING_IMPORTED) from refused


def import_command(
    kind: Annotated[str, typer.Argument(help="addresses, houses, people or organisations")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or Excel (xlsx) export")],
    source: Annotated[
        str | None,
        typer.Option(
            help="the department the file comes from (default: the mapping's, else the kind's)"
        ),
    ] = None,
    mapping: Annotated[
        Path | None,
        typer.Option(help='mapping file (TOML): source and [columns] field = "column"'),
    ] = None,
    db: DbOption = None,
) -> None:
    """Import a department's file: every row checked field by field; good rows added or
    updated (a row that did not change is left alone, so a second run changes nothing);
    bad rows listed, saved beside the file as FILE.rejected.csv and kept with the batch.
    Exit status: 0 every row imported, 1 some rows rejected, 2 nothing imported."""
    lang = locale()
    with refusals():
        record_kind = RecordKind.parse(kind)
        plan = read_mapping(mapping, record_kind) if mapping else default_mapping(record_kind)
        table = open_table(file)
    encoding = {"utf-8": "UTF-8", "gb18030": "GB18030 (GBK)", "xlsx": "xlsx"}[table.encoding]
    err.print(translate("registry_cli_reading", lang, {"path": file, "encoding": encoding}))
    bars = progress_bar()
    task = bars.add_task(translate("registry_cli_progress", lang), total=table.estimated_rows)
    with (
        platform(db) as built,
        UnitOfWork(built.session_factory) as uow,
        refusals(),
        bars,
    ):
        report = services.import_records(
            uow,
            SYSTEM,
            record_kind,
            table,
            plan,
            secret_key=built.settings.secret_key,
            source=source,
            locator_cache=built.locator_cache,
            progress=lambda n: bars.advance(task, n),
        )
    batch = report.batch
    problems = report.problems
    for problem in problems[:SHOWN_PROBLEMS]:
        err.print(f"[red]✗ {problem.message(lang)}[/red]")
    if len(problems) > SHOWN_PROBLEMS:
        err.print(f"[red]… {len(problems) - SHOWN_PROBLEMS} more[/red]")
    if report.bad_rows:
        saved = write_rejected(file, table.header, report.bad_rows)
        reasons = Counter(p.key for p in problems)
        summary = ", ".join(f"{n} × {key}" for key, n in reasons.most_common())
        err.print(
            translate(
                "registry_cli_rejected",
                lang,
                {"rejected": batch.rejected, "review": batch.review, "path": saved},
            )
            + f" ({summary})"
        )
    out.print(
        translate(
            "registry_cli_done",
            lang,
            {
                "batch": batch.id,
                "source": batch.source,
                "total": batch.total,
                "created": batch.created,
                "updated": batch.updated,
                "unchanged": batch.unchanged,
                "rejected": batch.rejected,
                "review": batch.review,
            },
        )
    )
    if batch.created + batch.updated + batch.unchanged == 0:
        raise typer.Exit(NOTHING_IMPORTED)
    if batch.rejected:
        raise typer.Exit(SOME_REJECTED)
