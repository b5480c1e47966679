"""`civicgrid areas …` and `civicgrid departments …`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from civicgrid.areas import services
from civicgrid.areas.domain import LEVEL_LABELS, Function, Level, UnitKind
from civicgrid.areas.importing import read_boundaries, rejects_document
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform, progress_bar
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import format_datetime, translate
from civicgrid.core.permissions import SYSTEM

areas_cli = typer.Typer(help="Areas and grids: import boundaries, list, locate points.")
departments_cli = typer.Typer(help="Handling units (departments and non-government units).")


@areas_cli.command("import")
def import_command(
    file: Annotated[Path, typer.Argument(help="GeoJSON, Shapefile (.shp) or zipped Shapefile")],
    level: Annotated[str, typer.Option(help="city, district, street, community or grid")],
    code_field: Annotated[str, typer.Option(help="property holding the area code")],
    name_field: Annotated[str, typer.Option(help="property holding the area name")],
    parent_code: Annotated[
        str | None, typer.Option(help="parent area code for every feature")
    ] = None,
    parent_field: Annotated[
        str | None, typer.Option(help="property holding each feature's parent code")
    ] = None,
    gcj02: Annotated[
        bool, typer.Option("--gcj02", help="coordinates are GCJ-02 (AMap/DataV); convert")
    ] = False,
    update: Annotated[bool, typer.Option(help="replace areas whose code already exists")] = False,
    partial: Annotated[
        bool, typer.Option(help="import the good features even when some are rejected")
    ] = False,
    db: DbOption = None,
) -> None:
    """Import area boundaries. Every feature is checked first; if any is rejected nothing is
    written (unless --partial) and the rejected features are saved beside the input as
    FILE.rejected.geojson, each with the reason, for correction."""
    lang = locale()
    if parent_code and parent_field:
        raise typer.BadParameter("use --parent-code or --parent-field, not both")
    with friendly_errors():
        options = services.ImportOptions(
            level=Level.parse(level),
            code_field=code_field,
            name_field=name_field,
            parent_code=parent_code,
            parent_field=parent_field,
            gcj02=gcj02,
            update=update,
            partial=partial,
        )
        features = read_boundaries(file)
    with platform(db) as built, UnitOfWork(built.session_factory) as uow, progress_bar() as bar:
        task = bar.add_task(f"{file.name}", total=len(features))
        report = services.import_areas(
            uow, SYSTEM, features, options, progress=lambda n: bar.advance(task, n)
        )

    for rejection in report.rejections:
        err.print(f"[red]✗ {rejection.describe(lang)}[/red]")
    if report.rejections:
        rejects_path = file.with_name(file.stem + ".rejected.geojson")
        rejects_path.write_text(
            json.dumps(rejects_document(report.rejections, lang), ensure_ascii=False, indent=1),
            encoding="utf-8",
        )
        err.print(f"rejected features saved to {rejects_path}")
    label = LEVEL_LABELS[options.level][lang]
    out.print(
        f"{label}: {report.total} read, {report.created} created, {report.updated} updated, "
        f"{len(report.rejections)} rejected"
    )
    if report.rejections and not partial:
        rejected = translate("import_rejected", lang, {"count": len(report.rejections)})
        err.print(f"[red]{rejected}[/red]")
        raise typer.Exit(1)


@areas_cli.command("list")
def list_command(
    level: Annotated[str | None, typer.Option(help="only this level")] = None,
    parent: Annotated[str | None, typer.Option(help="only the children of this code")] = None,
    db: DbOption = None,
) -> None:
    """List areas (code, name, level, parent, km²)."""
    lang = locale()
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        chosen = Level.parse(level) if level else None
        found = services.list_areas(uow, SYSTEM, level=chosen, parent_code=parent)
        table = Table("code", "name", "level", "parent", "km²")
        for area in found:
            table.add_row(
                area.code,
                area.name,
                LEVEL_LABELS[area.level][lang],
                area.parent_code or "",
                f"{area.area_km2:.2f}",
            )
    out.print(table)


@areas_cli.command("locate")
def locate_command(
    lat: Annotated[float, typer.Argument(help="latitude (WGS84)")],
    lon: Annotated[float, typer.Argument(help="longitude (WGS84)")],
    db: DbOption = None,
) -> None:
    """Print the grid containing a point and the areas above it."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        located = services.locate_point(uow, SYSTEM, built.locator_cache, lat, lon)
    for ref in [*located.ancestors, located.grid]:
        out.print(f"{LEVEL_LABELS[ref.level][locale()]}\t{ref.code}\t{ref.name}")


@departments_cli.command("add")
def add_department_command(
    code: Annotated[str, typer.Argument(help="unique code, e.g. 990101-CGJ")],
    name: Annotated[str, typer.Argument(help="name, e.g. 城市管理局")],
    level: Annotated[str, typer.Option(help="city, district, street or community")],
    area: Annotated[str, typer.Option(help="code of the area it is responsible for")],
    kind: Annotated[
        str, typer.Option(help=", ".join(k.value for k in UnitKind))
    ] = UnitKind.GOVERNMENT.value,
    function: Annotated[
        str, typer.Option(help=", ".join(f.value for f in Function))
    ] = Function.GENERAL.value,
    phone: Annotated[str, typer.Option(help="duty phone")] = "",
    webhook: Annotated[
        str, typer.Option(help="its own system's http(s) address, told of new work")
    ] = "",
    db: DbOption = None,
) -> None:
    """Register a handling unit; the authority list routes cases to it by its function."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        try:
            unit_kind = UnitKind(kind)
        except ValueError as exc:
            raise typer.BadParameter(f"kind must be one of {[k.value for k in UnitKind]}") from exc
        try:
            unit_function = Function(function)
        except ValueError as exc:
            allowed = [f.value for f in Function]
            raise typer.BadParameter(f"function must be one of {allowed}") from exc
        department = services.add_department(
            uow,
            SYSTEM,
            code=code,
            name=name,
            level=Level.parse(level),
            area_code=area,
            kind=unit_kind,
            function=unit_function,
            phone=phone,
            webhook_url=webhook,
        )
    out.print(f"{department.code}\t{department.name}")


@departments_cli.command("set")
def change_department_command(
    code: Annotated[str, typer.Argument(help="the unit's code")],
    reason: Annotated[str, typer.Option(help="why (kept in the unit's history)")],
    name: Annotated[str | None, typer.Option(help="a new name")] = None,
    phone: Annotated[str | None, typer.Option(help="a new duty phone")] = None,
    webhook: Annotated[str | None, typer.Option(help="its system's address ('' for none)")] = None,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="in service or not")
    ] = None,
    db: DbOption = None,
) -> None:
    """Change a unit (an inactive one is no longer routed to); the change and the reason
    go into its history."""
    change = services.UnitChange(name=name, phone=phone, active=active, webhook_url=webhook)
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        department = services.change_department(uow, SYSTEM, code, change, reason)
        state = "active" if department.active else "inactive"
        out.print(f"{department.code}\t{department.name}\t{state}")


@departments_cli.command("history")
def department_history_command(
    code: Annotated[str, typer.Argument(help="the unit's code")], db: DbOption = None
) -> None:
    """Every change of a unit: when, who, what and why."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        settings = built.settings
        for event in services.department_history(uow, SYSTEM, code):
            when = format_datetime(event.at, settings.default_locale, settings.timezone)
            changes = event.data.get("changes") or {}
            fields = ", ".join(f"{k}: {old} → {new}" for k, (old, new) in changes.items())
            out.print(f"{when}\t{event.actor_name}\t{event.action}\t{fields}\t{event.note}")


@departments_cli.command("list")
def list_departments_command(db: DbOption = None) -> None:
    """List handling units."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        found = services.list_departments(uow, SYSTEM)
        table = Table("code", "name", "level", "area", "kind", "function")
        for d in found:
            table.add_row(
                d.code, d.name, d.level.value, d.area_code, d.kind.value, d.function.value
            )
    out.print(table)
