"""`civicgrid registry map FILE`: a GIS file of building footprints or named roads into the
registry's map, which the base map draws where the city configures no tiles."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civicgrid.areas.importing import read_boundaries
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import translate
from civicgrid.core.permissions import SYSTEM
from civicgrid.registry.mapping import read_map_features, replace_map_features

SHOWN_PROBLEMS = 20


def map_command(
    file: Annotated[Path, typer.Argument(help="GeoJSON or Shapefile (.shp, or a .zip of one)")],
    kind: Annotated[str, typer.Option(help="building (footprints) or road (named lines)")],
    name_field: Annotated[str, typer.Option(help="the property holding each one's name")],
    address_field: Annotated[
        str | None, typer.Option(help="the property holding a building's standard address")
    ] = None,
    source: Annotated[
        str | None,
        typer.Option(
            help="who the file comes from; its earlier file is replaced (default: the file's name)"
        ),
    ] = None,
    gcj02: Annotated[bool, typer.Option("--gcj02", help="coordinates are GCJ-02; convert")] = False,
    db: DbOption = None,
) -> None:
    """Put a file's buildings or roads on the registry's map, in place of what the same
    source gave before, each in the grid a point inside it lies in. Features without a
    name, of the wrong shape or outside the world's coordinates are skipped and listed."""
    lang = locale()
    with friendly_errors():
        raw = read_boundaries(file)
    with platform(db) as built, UnitOfWork(built.session_factory) as uow, friendly_errors():
        locator = built.locator_cache.get(uow)

        def grid_of(lon: float, lat: float) -> str | None:
            found = locator.locate(lon, lat)
            return found[0] if found else None

        features, skipped = read_map_features(
            ((f.index, f.properties, f.geometry) for f in raw),
            kind,
            name_field,
            address_field,
            gcj02=gcj02,
            locate=grid_of,
        )
        written = replace_map_features(uow, SYSTEM, source or file.stem, features)
    for problem in skipped[:SHOWN_PROBLEMS]:
        err.print(f"[red]✗ #{problem.index}: {translate(problem.reason, lang)}[/red]")
    if len(skipped) > SHOWN_PROBLEMS:
        err.print(f"[red]… {len(skipped) - SHOWN_PROBLEMS} more[/red]")
    out.print(
        translate(
            "registry_cli_map_done",
            lang,
            {"written": written, "skipped": len(skipped), "source": source or file.stem},
        )
    )
