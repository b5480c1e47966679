"""Plumbing shared by the domain CLIs: the database option, migrations, friendly errors.

The domains' commands get their platform from here without importing the domains that
build it: the command line's composition root (civicgrid.cli) hands over the builder
(civicgrid.bootstrap.build_platform) once, so no domain reaches every other through this
module.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Protocol

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from civicgrid.core.errors import CivicGridError
from civicgrid.core.i18n import Locale
from civicgrid.core.migrate import upgrade
from civicgrid.core.settings import Settings

if TYPE_CHECKING:
    from civicgrid.bootstrap import Platform

# Wide enough for the demo credentials table even when the output is not a terminal.
out = Console(highlight=False, width=120 if not sys.stdout.isatty() else None)
err = Console(stderr=True, highlight=False)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (default: $CIVICGRID_DATABASE_URL, else sqlite:///var/civicgrid.db)",
        show_default=False,
    ),
]


class PlatformBuilder(Protocol):
    def __call__(self, settings: Settings, database_url: str | None = None) -> Platform: ...


_builder: PlatformBuilder | None = None


def use_platform_builder(builder: PlatformBuilder) -> None:
    """How `platform` builds a platform; set by civicgrid.cli before any command runs."""
    global _builder
    _builder = builder


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        for problem in exc.errors():
            err.print(f"[red]配置错误 Configuration error:[/red] {problem['msg']}")
        raise typer.Exit(2) from exc


def locale() -> Locale:
    return load_settings().default_locale


@contextmanager
def platform(db: str | None, *, migrate: bool = True) -> Iterator[Platform]:
    """A platform on the chosen database, migrated to the newest schema; errors are printed
    in the configured language and end the command with exit status 1."""
    if _builder is None:
        raise RuntimeError("no platform builder: civicgrid.cli sets it (use_platform_builder)")
    settings = load_settings()
    with friendly_errors():
        built = _builder(settings, database_url=db)
        try:
            if migrate:
                upgrade(built.engine)
            yield built
        finally:
            built.engine.dispose()


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except CivicGridError as exc:
        err.print(f"[red]{exc.message(locale())}[/red]")
        raise typer.Exit(1) from exc
    except OperationalError as exc:
        err.print(f"[red]数据库连接失败 Database unavailable:[/red] {exc.orig}")
        raise typer.Exit(1) from exc


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
