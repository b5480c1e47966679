"""`civicgrid demo`: generate a demo city (synthetic, or inside real district boundaries)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from shapely.geometry.base import BaseGeometry

from civicgrid.areas.domain import LEVEL_LABELS
from civicgrid.areas.importing import Rejection, check_feature, read_boundaries
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import ROLE_LABELS, SYSTEM
from civicgrid.demo.assessment import DEMO_DAYS, install_demo_assessment
from civicgrid.demo.domain import DemoCityBuilder, Shape
from civicgrid.demo.exchange import install_demo_exchange
from civicgrid.demo.services import install_demo_city, install_demo_registry
from civicgrid.insight.warnings.services import scan_warnings

# Property names tried, in order, when --code-field/--name-field are not given.
CODE_FIELDS = ("code", "adcode", "BoroCD", "boro_cd", "Precinct", "precinct", "id", "ID")
NAME_FIELDS = ("name", "NAME", "Name", "name_zh")


def demo_command(
    db: DbOption = None,
    reset: Annotated[
        bool, typer.Option(help="empty the database first (all data is deleted)")
    ] = False,
    boundaries: Annotated[
        Path | None,
        typer.Option(help="GeoJSON of real districts; streets, communities, grids are generated"),
    ] = None,
    code_field: Annotated[str | None, typer.Option(help="district code property")] = None,
    name_field: Annotated[str | None, typer.Option(help="district name property")] = None,
    gcj02: Annotated[bool, typer.Option("--gcj02", help="boundaries are in GCJ-02")] = False,
    city_name: Annotated[str | None, typer.Option(help="name of the city")] = None,
    seed: Annotated[int, typer.Option(help="same seed, same city")] = 2024,
    cases: Annotated[
        int, typer.Option(help="how many demo cases to play (over the last three months)")
    ] = 3000,
    registry_people: Annotated[
        int,
        typer.Option(help="people in the demo registry (一标三实), from three departments' files"),
    ] = 20000,
) -> None:
    """Generate a demo city with departments, grid workers and one account per role.

    The demo accounts' passwords are random and printed once, below."""
    started = time.perf_counter()
    lang = locale()
    builder = DemoCityBuilder(seed=seed)
    with friendly_errors():
        if boundaries is None:
            city = builder.synthetic(Shape())
        else:
            districts = _read_districts(boundaries, code_field, name_field, gcj02)
            shape = Shape(streets_per_district=3, communities_per_street=3, grids_per_community=4)
            city = builder.from_boundaries(districts, shape, city_name or boundaries.stem)
        if city_name and boundaries is None:
            city.name = city_name
            city.areas[0].name = city_name
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        summary = install_demo_city(
            uow,
            SYSTEM,
            city,
            ports=built.cases,
            cases=cases,
            reset=reset,
            progress=lambda step: err.print(f"… {step}"),
            hot_spots=cases > 0,
            days=DEMO_DAYS,
        )
        folder = Path(tempfile.mkdtemp(prefix="civicgrid-demo-registry-"))
        registry = install_demo_registry(
            uow,
            SYSTEM,
            registry_people,
            secret_key=built.settings.secret_key,
            folder=folder,
            progress=lambda step: err.print(f"… {step}"),
        )
        err.print("… data sharing")
        sharing = install_demo_exchange(uow, SYSTEM, built.exchange, folder=folder)
        # The command map shows the early warnings from the start.
        warnings = scan_warnings(uow, SYSTEM, built.warnings) if cases else None
        err.print("… assessment")
        assessed = install_demo_assessment(uow, SYSTEM, built.assess) if cases else None
        url = built.engine.url.render_as_string(hide_password=True)

    elapsed = time.perf_counter() - started
    parts = ", ".join(f"{n} {LEVEL_LABELS[level][lang]}" for level, n in summary.counts.items())
    out.print(f"[bold]{summary.city_name}[/bold]: {parts}, {summary.departments} units")
    if summary.case_states:
        states = ", ".join(f"{n} {s.value}" for s, n in sorted(summary.case_states.items()))
        out.print(f"cases: {states}")
    if warnings is not None:
        out.print(f"warnings: {warnings.hotspots} hot spots, {warnings.surges} surges")
    if assessed is not None and assessed.frozen:
        out.print(
            f"assessment: {', '.join(assessed.frozen)} frozen, appeal #{assessed.appeal} accepted"
        )
    for batch in registry.batches:
        out.print(
            f"registry {batch.kind.value} from {batch.source}: {batch.created} records, "
            f"{batch.rejected} rejected, {batch.review} for review"
        )
    for kind, run in registry.linked.items():
        out.print(
            f"registry {kind.value} linked: {run.records} records → {run.entities} entities, "
            f"{run.linked_entities} with two records or more, {run.disagreeing_entities} "
            f"whose records disagree ({sum(run.timings.values()):.1f} s)"
        )
    requests = ", ".join(f"{n} {s.value}" for s, n in sorted(sharing.requests.items()))
    grants = ", ".join(f"{n} {s.value}" for s, n in sorted(sharing.grants.items()))
    out.print(f"data sharing: {sharing.datasets} datasets; requests: {requests}; grants: {grants}")
    out.print(f"database: {url} ({elapsed:.1f} s)")
    table = Table("role", "username", "password", "area / department", title="Demo accounts")
    for credential in summary.credentials:
        table.add_row(
            f"{ROLE_LABELS[credential.role][lang]} ({credential.role.value})",
            credential.username,
            credential.password,
            credential.scope,
        )
    out.print(table)
    out.print(
        f"All {summary.grid_workers} grid workers log in as gw<grid code> with the grid "
        "worker's password above.\nThe units that share data log in as x.<unit code> "
        f"({', '.join(sharing.staff[:3])} …) with the password {sharing.staff_password}\n"
        + (
            f"The resident {sharing.resident[0]} (the same password) sees which units read "
            f"her data at /my/reads, giving her identity number {sharing.resident[1]}\n"
            if sharing.resident
            else ""
        )
        + "These passwords are shown only now; reset one with: "
        "civicgrid user passwd NAME --password NEW"
    )


def _read_districts(
    path: Path, code_field: str | None, name_field: str | None, gcj02: bool
) -> list[tuple[str, str, BaseGeometry]]:
    features = read_boundaries(path)
    if not features:
        raise typer.BadParameter(f"{path} has no features")
    keys = set().union(*(f.properties.keys() for f in features))
    code_field = code_field or next((k for k in CODE_FIELDS if k in keys), None)
    if code_field is None:
        raise typer.BadParameter(f"no code property found in {sorted(keys)}; use --code-field")
    name_field = name_field or next((k for k in NAME_FIELDS if k in keys), code_field)
    districts = []
    for raw in features:
        checked = check_feature(
            raw,
            code_field=code_field,
            name_field=name_field,
            parent_field=None,
            parent_code=None,
            gcj02=gcj02,
            repair=True,
        )
        if isinstance(checked, Rejection):
            err.print(f"[yellow]skipped {checked.describe(locale())}[/yellow]")
            continue
        name = checked.name if name_field != code_field else f"District {checked.code}"
        districts.append((checked.code, name, checked.geometry))
    return districts
