"""Accounts: people who log in, and API keys for department systems."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from civicgrid.core.db import utcnow
from civicgrid.core.errors import InvalidInput
from civicgrid.core.permissions import USER_ROLES, Role

MIN_PASSWORD_LENGTH = 8


def parse_role(value: str) -> Role:
    try:
        role = Role(value.strip().lower())
    except ValueError:
        role = None
    if role is None or role not in USER_ROLES:
        raise InvalidInput(
            "unknown_role", role=value, allowed=", ".join(r.value for r in USER_ROLES)
        )
    return role


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password_too_short", min=MIN_PASSWORD_LENGTH)


@dataclass(eq=False)
class User:
    username: str
    role: Role
    password_hash: str
    display_name: str = ""
    area_code: str | None = None
    department_code: str | None = None
    phone: str = ""
    active: bool = True
    created_at: datetime = field(default_factory=utcnow)
    last_login_at: datetime | None = None


@dataclass(eq=False)
class ApiKey:
    """Only a hash of the key is kept; the key itself is shown once, when it is created."""

    name: str
    key_hash: str
    prefix: str
    department_code: str | None = None
    active: bool = True
    created_at: datetime = field(default_factory=utcnow)
    last_used_at: datetime | None = None
