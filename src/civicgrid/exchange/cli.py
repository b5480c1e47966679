"""`civicgrid exchange …`: the catalogue (list, show, register a dataset from a definition
file, upload a unit's file of rows, measure quality), the requests and grants, and the
clock that expires grants and marks late requests."""

from __future__ import annotations

import csv
import json
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import format_date, format_datetime, translate
from civicgrid.core.permissions import SYSTEM
from civicgrid.exchange import services
from civicgrid.exchange.domain import GrantState, RequestState
from civicgrid.exchange.repository import CatalogueQuery
from civicgrid.exchange.schemas import DatasetIn

exchange_cli = typer.Typer(
    help="Data sharing (数据共享): the catalogue, uploads, requests and grants.",
    no_args_is_help=True,
)
# The upload's exit status, as the registry import's: all rows taken, some kept for
# correction, or nothing taken (the file refused).
ALL_IMPORTED, SOME_REJECTED, NOTHING_IMPORTED = 0, 1, 2
SHOWN_PROBLEMS = 20


def _dataset_id(uow: UnitOfWork, which: str) -> int:
    """A dataset's number, or its code."""
    if which.isdigit():
        return int(which)
    found = services.search_catalogue(uow, SYSTEM, CatalogueQuery(q=which), 200).datasets
    for dataset in found:
        if dataset.code == which:
            return dataset.id or 0
    raise typer.BadParameter(f"no dataset {which} (没有这个数据集)")


@exchange_cli.command("datasets")
def list_datasets(
    q: Annotated[str, typer.Option(help="words in a title, description or field")] = "",
    db: DbOption = None,
) -> None:
    """The catalogue: each dataset's code, owner, share class, highest grade and rows."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        found = services.search_catalogue(uow, SYSTEM, CatalogueQuery(q=q), 200)
        table = Table("id", "code", "title", "owner", "class", "grade", "personal", "rows")
        for d in found.datasets:
            table.add_row(
                str(d.id),
                d.code,
                d.title(lang),
                d.owner_unit,
                translate(f"ui.exchange.class.{d.share_class.value}", lang),
                translate(f"ui.exchange.grade.{d.highest_grade.value}", lang),
                translate(f"ui.exchange.personal.{d.most_personal.value}", lang),
                str(d.rows),
            )
        out.print(table)


@exchange_cli.command("show")
def show_dataset(
    dataset: Annotated[str, typer.Argument(help="the dataset's code or number")],
    db: DbOption = None,
) -> None:
    """A dataset's fields with their grades, personal marks, default masks and quality."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        view = services.get_dataset(uow, SYSTEM, _dataset_id(uow, dataset))
        d = view.dataset
        out.print(
            f"[bold]{d.title(lang)}[/bold] ({d.code}) — {d.owner_unit}, {d.source_kind.value}"
        )
        table = Table(
            "field", "type", "grade", "personal", "default mask", "complete", "valid", "repeats"
        )
        for item in d.fields:
            quality = view.quality.get(item.name)
            table.add_row(
                item.name,
                item.type.value,
                item.grade.value,
                item.personal.value,
                str(item.default_mask),
                _share(quality.completeness if quality else None),
                _share(quality.validity if quality else None),
                "" if quality is None or quality.duplicates is None else str(quality.duplicates),
            )
        out.print(table)
        if d.data_updated_at is not None:
            fresh = {True: "fresh", False: "stale", None: "?"}[view.fresh]
            when = format_datetime(d.data_updated_at, lang, built.settings.timezone)
            out.print(f"data of {when}: {fresh}")


def _share(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


@exchange_cli.command("add")
def add_dataset(
    definition: Annotated[Path, typer.Argument(help="the dataset's definition (TOML or JSON)")],
    db: DbOption = None,
) -> None:
    """Register a dataset from a definition file: code, owner_unit, titles, source_kind
    (registry, cases, file, question), source_name, share_class, frequency, key_field,
    grid_field and [[fields]] (name, column, type, meaning_zh, meaning_en, grade, personal)."""
    try:
        text = definition.read_text(encoding="utf-8")
        data = json.loads(text) if definition.suffix == ".json" else tomllib.loads(text)
        body = DatasetIn.model_validate(data)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as exc:
        problems = (
            exc.errors() if isinstance(exc, ValidationError) else [{"loc": (), "msg": str(exc)}]
        )
        for problem in problems:
            where = ".".join(str(p) for p in problem["loc"])
            err.print(f"[red]{definition}: {where} {problem['msg']}[/red]")
        raise typer.Exit(1) from exc
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        made = services.register_dataset(uow, SYSTEM, body.command())
        out.print(f"dataset {made.id}: {made.code}, {len(made.fields)} fields")


@exchange_cli.command("upload")
def upload(
    dataset: Annotated[str, typer.Argument(help="the dataset's code or number")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or GBK) or xlsx")],
    db: DbOption = None,
) -> None:
    """Make a file's good rows the dataset's rows; bad rows are listed, kept with the batch
    and written beside the file as FILE.rejected.csv. Exit status 0: every row taken,
    1: some kept for correction, 2: nothing taken."""
    lang = locale()
    try:
        with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
            report = services.upload_rows(
                uow, SYSTEM, built.exchange, _dataset_id(uow, dataset), file, file.name
            )
    except typer.Exit as refused:
        raise typer.Exit(NOTHING_IMPORTED) from refused
    batch = report.batch
    out.print(
        f"{batch.imported} of {batch.total} rows taken, {batch.rejected} kept for correction "
        f"({report.encoding})"
    )
    if report.ignored_columns:
        out.print(f"columns not in the dataset, left out: {', '.join(report.ignored_columns)}")
    for reject in report.rejects[:SHOWN_PROBLEMS]:
        message = reject.message_en if lang == "en" else reject.message_zh
        err.print(f"[yellow]{message}[/yellow]")
    if report.rejects:
        target = file.with_name(file.name + ".rejected.csv")
        with target.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            header = list(report.rejects[0].raw)
            writer.writerow(["_row", "_field", "_reason_zh", "_reason_en", *header])
            for r in report.rejects:
                writer.writerow(
                    [
                        r.row,
                        r.field,
                        r.message_zh,
                        r.message_en,
                        *(r.raw.get(h, "") for h in header),
                    ]
                )
        out.print(f"rows kept for correction: {target}")
    if batch.imported == 0:
        raise typer.Exit(NOTHING_IMPORTED)
    if batch.rejected:
        raise typer.Exit(SOME_REJECTED)


@exchange_cli.command("quality")
def quality(
    dataset: Annotated[str | None, typer.Argument(help="one dataset (default: all)")] = None,
    db: DbOption = None,
) -> None:
    """Measure field quality now: completeness, validity, duplicate keys, freshness."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        if dataset is None:
            done = services.refresh_quality(uow, SYSTEM, built.exchange, everything=True)
            out.print(f"{done} datasets measured")
            return
        services.measure_quality(uow, SYSTEM, built.exchange, _dataset_id(uow, dataset))
    show_dataset(dataset, db)


@exchange_cli.command("requests")
def list_requests(
    state: Annotated[
        str | None, typer.Option(help="asked, review, approved, refused, withdrawn")
    ] = None,
    db: DbOption = None,
) -> None:
    """Every unit's share requests, newest first, with their deadlines."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        states = [RequestState(state)] if state else []
        tz = built.settings.timezone
        table = Table("id", "dataset", "from", "to", "state", "deadline", "fields")
        for r in services.list_requests(uow, SYSTEM, "both", states):
            deadline = format_datetime(r.deadline_at, lang, tz) if r.deadline_at else "—"
            late = " ⚠" if r.overdue else ""
            table.add_row(
                str(r.id),
                str(r.dataset_id),
                r.requester_unit,
                r.owner_unit,
                translate(f"ui.exchange.state.{r.state.value}", lang),
                deadline + late,
                ", ".join(f"{k}:{v}" for k, v in r.fields.items()),
            )
        out.print(table)


@exchange_cli.command("grants")
def list_grants(
    state: Annotated[str | None, typer.Option(help="active, expired, revoked")] = None,
    db: DbOption = None,
) -> None:
    """Every grant: who may read which fields of which dataset, until when."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        states = [GrantState(state)] if state else []
        table = Table("id", "dataset", "reader", "owner", "state", "days", "fields")
        for g in services.list_grants(uow, SYSTEM, "both", states):
            table.add_row(
                str(g.id),
                str(g.dataset_id),
                g.consumer_unit,
                g.owner_unit,
                translate(f"ui.exchange.grant_state.{g.state.value}", lang),
                f"{format_date(g.starts_on, lang)} – {format_date(g.ends_on, lang)}",
                ", ".join(f"{k}:{v}" for k, v in g.fields.items()),
            )
        out.print(table)


@exchange_cli.command("tick")
def tick(db: DbOption = None) -> None:
    """Expire the grants past their last day and mark the requests past their deadline
    (what the server does every minute)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        report = services.tick(uow, SYSTEM, built.exchange)
    out.print(f"{len(report.expired)} grants expired, {len(report.overdue)} requests overdue")
