"""Accounts: people who log in, and API keys for department systems."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from civicgrid.core.db import utcnow
from civicgrid.core.errors import CivicGridError, InvalidFields, InvalidInput
from civicgrid.core.i18n import N_, Locale, format_datetime, translate
from civicgrid.core.permissions import USER_ROLES, Role
from civicgrid.core.security import mask_phone

MIN_PASSWORD_LENGTH = 8
USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,40}$")
PHONE_DIGITS = (6, 20)
NAME_LENGTH = (2, 40)


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
        raise InvalidInput("password_too_short", min=MIN_PASSWORD_LENGTH, field="password")


@dataclass(frozen=True)
class NewResident:
    """What a resident types to get an account of her own. Without a username, her mobile
    number is the name she logs in with."""

    display_name: str
    phone: str
    password: str
    password_again: str
    username: str = ""

    @property
    def phone_number(self) -> str:
        """The number as digits (a leading + kept): spaces and dashes are how people type."""
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        return ("+" if self.phone.strip().startswith("+") else "") + digits

    @property
    def login_name(self) -> str:
        return self.username.strip() or "".join(ch for ch in self.phone if ch.isdigit())

    def problems(self) -> list[CivicGridError]:
        """Every wrong field at once, each named (the page shows each beside its input)."""
        found: list[CivicGridError] = []
        name = self.display_name.strip()
        if not NAME_LENGTH[0] <= len(name) <= NAME_LENGTH[1]:
            found.append(InvalidInput("signup_name_required", field="display_name"))
        digits = "".join(ch for ch in self.phone if ch.isdigit())
        allowed = set("0123456789+-() ")
        if not (PHONE_DIGITS[0] <= len(digits) <= PHONE_DIGITS[1]) or set(self.phone) - allowed:
            found.append(InvalidInput("signup_bad_phone", value=self.phone, field="phone"))
        if self.username.strip() and not USERNAME.match(self.username.strip()):
            found.append(InvalidInput("signup_bad_username", value=self.username, field="username"))
        try:
            check_password_strength(self.password)
        except InvalidInput as weak:
            found.append(weak)
        else:
            if self.password in (self.login_name, digits):
                found.append(InvalidInput("signup_password_is_name", field="password"))
            elif self.password != self.password_again:
                found.append(InvalidInput("signup_passwords_differ", field="password_again"))
        return found

    def check(self) -> None:
        found = self.problems()
        if found:
            raise InvalidFields(found)


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
    id: int | None = None
    # Every access token carries the generation it was issued in; one from an earlier
    # generation is refused. Logging out, a new password and disabling start a new one.
    session_generation: int = 0

    def end_sessions(self) -> None:
        """Every token issued so far stops working (in every server process)."""
        self.session_generation = (self.session_generation or 0) + 1

    def facts(self) -> dict[str, object]:
        """What the account's history records of it: never its password, and its phone
        only masked (the history is read by administrators, not the phone's owner)."""
        return {
            "username": self.username,
            "role": self.role.value,
            "display_name": self.display_name,
            "area_code": self.area_code,
            "department_code": self.department_code,
            "phone": mask_phone(self.phone) if self.phone else "",
            "active": self.active,
        }


class AccountLocked(CivicGridError):
    """Too many wrong passwords: the account is locked until UNTIL, shown in the reader's
    language and the city's time zone TZ (and as minutes, and Retry-After's SECONDS)."""

    status = 429
    code = "too_many_attempts"

    def __init__(self, until: datetime, tz: str, seconds: int) -> None:
        self.until = until
        self.tz = tz
        super().__init__(
            N_("account_locked"),
            until=until.isoformat(),
            minutes=math.ceil(seconds / 60),
            seconds=seconds,
        )

    def message(self, locale: Locale) -> str:
        when = format_datetime(self.until, locale, self.tz, year=False)
        return translate(self.message_key, locale, {**self.params, "until": when})


# The kinds of the accounts domain in the event log.
ACCOUNT_KIND = "account"
API_KEY_KIND = "api_key"


class AccountAction(StrEnum):
    SIGN_UP = "sign_up"  # a resident made her own account
    PASSWORD = "password"  # the password was set (never what it is)
    DISABLE = "disable"  # no more logging in; her tokens stopped working
    ENABLE = "enable"
    LOCKED = "locked"  # too many wrong passwords: locked for a while


class ApiKeyAction(StrEnum):
    EXPIRY = "expiry"  # an expiry was set or removed
    REVOKE = "revoke"  # stopped working, for good


@dataclass(eq=False)
class ApiKey:
    """Only a hash of the key is kept; the key itself is shown once, when it is created."""

    name: str
    key_hash: str
    prefix: str
    department_code: str | None = None
    active: bool = True
    created_at: datetime = field(default_factory=utcnow)
    id: int | None = None
    last_used_at: datetime | None = None
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def facts(self) -> dict[str, object]:
        """What the key's history records of it (never the key, only its first letters)."""
        return {
            "name": self.name,
            "prefix": self.prefix,
            "department_code": self.department_code,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }
