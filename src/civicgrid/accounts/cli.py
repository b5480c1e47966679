"""`civicgrid user …` and `civicgrid apikey …`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from civicgrid.accounts import services
from civicgrid.accounts.repository import UserRepository
from civicgrid.console import DbOption, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM, USER_ROLES

user_cli = typer.Typer(help="Accounts of people.")
apikey_cli = typer.Typer(help="API keys of department systems.")


@user_cli.command("add")
def add_user_command(
    name: Annotated[str, typer.Argument(help="username")],
    role: Annotated[str, typer.Option(help=", ".join(r.value for r in USER_ROLES))],
    password: Annotated[str, typer.Option(help="at least 8 characters")],
    area: Annotated[str | None, typer.Option(help="area code the account is bound to")] = None,
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    display_name: Annotated[str, typer.Option(help="name shown on pages")] = "",
    phone: Annotated[str, typer.Option(help="phone number")] = "",
    db: DbOption = None,
) -> None:
    """Create an account."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        user = services.add_user(
            uow,
            SYSTEM,
            services.NewUser(
                username=name,
                role=role,
                password=password,
                display_name=display_name,
                area_code=area,
                department_code=department,
                phone=phone,
            ),
        )
    scope = " ".join(filter(None, [user.area_code, user.department_code]))
    out.print(f"{user.username}\t{user.role.value}\t{scope}")


@user_cli.command("passwd")
def set_password_command(
    name: Annotated[str, typer.Argument(help="username")],
    password: Annotated[str, typer.Option(help="the new password, at least 8 characters")],
    db: DbOption = None,
) -> None:
    """Set a new password for an account."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        services.set_password(uow, SYSTEM, name, password)
    out.print(f"{name}: password changed")


@user_cli.command("list")
def list_users_command(db: DbOption = None) -> None:
    """List accounts (grid workers included)."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        table = Table("username", "name", "role", "area", "department", "active")
        for user in UserRepository(uow.session).list():
            table.add_row(
                user.username,
                user.display_name,
                user.role.value,
                user.area_code or "",
                user.department_code or "",
                "yes" if user.active else "no",
            )
    out.print(table)


@apikey_cli.command("add")
def add_api_key_command(
    name: Annotated[str, typer.Argument(help="what the key is for, e.g. 'housing-bureau-sync'")],
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    db: DbOption = None,
) -> None:
    """Create an API key. The key is printed alone on the last line, once; keep it."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        key = services.add_api_key(uow, SYSTEM, name, department)
    out.print(f"API key for {name} (shown once; only its hash is stored):")
    print(key)
