"""`civicgrid user …` and `civicgrid apikey …`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer
from rich.table import Table

from civicgrid.accounts import services
from civicgrid.accounts.repository import UserRepository
from civicgrid.console import DbOption, load_settings, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import day_start, format_datetime, zone
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


@user_cli.command("disable")
def disable_user_command(
    name: Annotated[str, typer.Argument(help="username")],
    reason: Annotated[str, typer.Option(help="why (kept in the account's history)")],
    db: DbOption = None,
) -> None:
    """Disable an account: it can no longer log in, and its tokens stop working at once."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        services.disable_user(uow, SYSTEM, name, reason)
    out.print(f"{name}: disabled; its sessions have ended")


@user_cli.command("enable")
def enable_user_command(
    name: Annotated[str, typer.Argument(help="username")],
    reason: Annotated[str, typer.Option(help="why (kept in the account's history)")] = "",
    db: DbOption = None,
) -> None:
    """Enable a disabled account again."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        services.enable_user(uow, SYSTEM, name, reason)
    out.print(f"{name}: enabled")


DateOption = Annotated[
    str | None,
    typer.Option(
        help="YYYY-MM-DD: the key stops working at that day's first minute in the city's "
        "time zone (or an ISO time with its offset)",
        show_default=False,
    ),
]


def parse_expiry(text: str, tz: str) -> datetime:
    """2027-01-31 → the city's midnight that begins that day; an ISO time with an offset
    as written."""
    try:
        return day_start(date.fromisoformat(text.strip()), tz)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD) nor a time") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=zone(tz))


@apikey_cli.command("add")
def add_api_key_command(
    name: Annotated[str, typer.Argument(help="what the key is for, e.g. 'housing-bureau-sync'")],
    department: Annotated[str | None, typer.Option(help="department code")] = None,
    expires: DateOption = None,
    db: DbOption = None,
) -> None:
    """Create an API key. The key is printed alone on the last line, once; keep it."""
    tz = load_settings().timezone
    expires_at = parse_expiry(expires, tz) if expires else None
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        key = services.add_api_key(uow, SYSTEM, name, department, expires_at)
    until = f", until {_city_time(expires_at, tz)}" if expires_at else ""
    out.print(f"API key for {name}{until} (shown once; only its hash is stored):")
    print(key)


@apikey_cli.command("list")
def list_api_keys_command(db: DbOption = None) -> None:
    """List the API keys, one a line, tab-separated: id, name, unit, first letters,
    created, last used, expiry, state (active, expired or revoked). Never the key."""
    tz = load_settings().timezone
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        keys = services.list_api_keys(uow, SYSTEM)
    # Plain tabs (rich would turn them into spaces), for scripts as much as for people.
    print("\t".join(("id", "name", "unit", "prefix", "created", "last used", "expires", "state")))
    for key in keys:
        state = "revoked" if not key.active else "expired" if key.expired else "active"
        fields = (
            str(key.id),
            key.name,
            key.department_code or "-",
            f"{key.prefix}…",
            _city_time(key.created_at, tz),
            _city_time(key.last_used_at, tz) if key.last_used_at else "never",
            _city_time(key.expires_at, tz) if key.expires_at else "never",
            state,
        )
        print("\t".join(fields))


@apikey_cli.command("revoke")
def revoke_api_key_command(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="the key's id (apikey list)")],
    reason: Annotated[str, typer.Option(help="why (kept in the key's history)")] = "",
    db: DbOption = None,
) -> None:
    """Revoke an API key: it stops working at once, for good."""
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        key = services.revoke_api_key(uow, SYSTEM, key_id, reason)
    out.print(f"API key {key_id} ({key.name}, {key.prefix}…): revoked")


@apikey_cli.command("expire")
def expire_api_key_command(
    key_id: Annotated[int, typer.Argument(metavar="ID", help="the key's id (apikey list)")],
    on: DateOption = None,
    never: Annotated[bool, typer.Option(help="remove the key's expiry")] = False,
    reason: Annotated[str, typer.Option(help="why (kept in the key's history)")] = "",
    db: DbOption = None,
) -> None:
    """Set when an API key stops working (--on DATE), or that it never does (--never)."""
    if (on is None) == (not never):
        raise typer.BadParameter("give either --on DATE or --never")
    tz = load_settings().timezone
    expires_at = parse_expiry(on, tz) if on else None
    with platform(db) as built, UnitOfWork(built.session_factory) as uow:
        key = services.set_api_key_expiry(uow, SYSTEM, key_id, expires_at, reason)
    until = f"stops working at {_city_time(expires_at, tz)}" if expires_at else "never expires"
    out.print(f"API key {key_id} ({key.name}, {key.prefix}…): {until}")


def _city_time(moment: datetime, tz: str) -> str:
    """In the configured language and the city's time zone, as every command shows times."""
    return format_datetime(moment, load_settings().default_locale, tz)
