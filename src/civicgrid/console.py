"""Plumbing shared by the domain CLIs: the database option, migrations, friendly errors."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.exc import OperationalError

from civicgrid.bootstrap import Platform, build_platform
from civicgrid.core.errors import CivicGridError
from civicgrid.core.i18n import Locale
from civicgrid.core.migrate import upgrade
from civicgrid.core.settings import Settings

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
    settings = load_settings()
    with friendly_errors():
        built = build_platform(settings, database_url=db)
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
