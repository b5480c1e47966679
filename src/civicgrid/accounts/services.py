"""Accounts: creating users and API keys, logging in, and turning credentials into an Actor."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from civicgrid.accounts.domain import (
    ACCOUNT_KIND,
    API_KEY_KIND,
    AccountAction,
    ApiKey,
    ApiKeyAction,
    NewResident,
    User,
    check_password_strength,
    parse_role,
)
from civicgrid.accounts.repository import ApiKeyRepository, UserRepository
from civicgrid.accounts.sessions import EndedTokens
from civicgrid.accounts.throttle import LoginThrottle
from civicgrid.areas.domain import Area, Level
from civicgrid.areas.ports import AreaFacts
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.core.db import UnitOfWork, bump_revision, read_revision, utcnow
from civicgrid.core.errors import (
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotAuthenticated,
    NotFound,
)
from civicgrid.core.outbox import Contact
from civicgrid.core.permissions import (
    ADMIN_ROLES,
    ANY_USER,
    AREA_BOUND_ROLES,
    AUTHENTICATED,
    PUBLIC,
    Actor,
    Role,
    permission,
)
from civicgrid.core.security import (
    TokenClaims,
    generate_api_key,
    hash_api_key,
    hash_password,
    issue_token,
    mask_name,
    verify_password,
)
from civicgrid.core.workflow import Event, EventLog, SystemAction, change_event

log = logging.getLogger("civicgrid.accounts")
# Who writes the "locked" row of an account's history: the platform, not the guesser.
LOGIN_THROTTLE = Actor(name="login-throttle", role=None, display_name="登录保护 Login throttle")


@dataclass(frozen=True)
class NewUser:
    username: str
    role: str
    password: str
    display_name: str = ""
    area_code: str | None = None
    department_code: str | None = None
    phone: str = ""


@permission(ADMIN_ROLES, "Create an account")
def add_user(
    uow: UnitOfWork, actor: Actor, new: NewUser, *, password_hash: str | None = None
) -> User:
    """Create an account. Grid workers belong to a grid, cadres to an area, handlers to a
    department; the department's area becomes the handler's scope when none is given."""
    role = parse_role(new.role)
    if password_hash is None:
        check_password_strength(new.password)
    users = UserRepository(uow.session)
    if users.get(new.username) is not None:
        raise Conflict("user_exists", name=new.username)
    area_code = new.area_code
    department = None
    if new.department_code is not None:
        department = DepartmentRepository(uow.session).get(new.department_code)
        if department is None:
            raise NotFound("department_not_found", code=new.department_code)
        area_code = area_code or department.area_code
    elif role is Role.HANDLER:
        raise InvalidInput("handler_needs_department")
    if area_code is None and role in AREA_BOUND_ROLES:
        raise InvalidInput("role_needs_area", role=role.value)
    if area_code is not None:
        area = AreaRepository(uow.session).get(area_code)
        if area is None:
            raise NotFound("area_not_found", code=area_code)
        actor.require_covers(area.code, area.path)
        if role is Role.GRID_WORKER and area.level is not Level.GRID:
            raise InvalidInput("grid_worker_needs_grid", code=area.code, level=area.level.value)
        if department is not None and department.area_code != area.code:
            # The account's unit must lie in the area it is bound to, or its scope would
            # be a place its unit has nothing to do with.
            unit_path = AreaRepository(uow.session).path_of(department.area_code) or ""
            if not unit_path.startswith(area.path):
                raise FieldProblem(
                    "department_outside_area",
                    field="department",
                    code=department.code,
                    unit_area=department.area_code,
                    area=area.code,
                )
    user = User(
        username=new.username,
        role=role,
        password_hash=password_hash or hash_password(new.password),
        display_name=new.display_name or new.username,
        area_code=area_code,
        department_code=new.department_code,
        phone=new.phone,
    )
    users.add(user)
    uow.session.flush()
    _record(uow, actor, ACCOUNT_KIND, user.id, SystemAction.CREATE, user.facts())
    bump_revision(uow.session, ACCOUNTS_REVISION)
    uow.commit()
    return user


@permission(ADMIN_ROLES, "Set a user's password")
def set_password(uow: UnitOfWork, actor: Actor, username: str, password: str) -> None:
    """Replace a user's password (for example after the demo credentials were lost)."""
    check_password_strength(password)
    user = UserRepository(uow.session).get(username)
    if user is None:
        raise NotFound("user_not_found", name=username)
    user.password_hash = hash_password(password)
    user.end_sessions()  # whoever knew the old password is logged out everywhere
    EventLog(uow.session).add(
        change_event(ACCOUNT_KIND, user.id or 0, actor, utcnow(), {}, action=AccountAction.PASSWORD)
    )
    bump_revision(uow.session, ACCOUNTS_REVISION)
    uow.commit()


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_at: datetime
    user: User


@permission(PUBLIC, "Log in with a username and password")
def log_in(
    uow: UnitOfWork,
    actor: Actor,
    username: str,
    password: str,
    secret: str,
    ttl: timedelta,
    *,
    throttle: LoginThrottle | None = None,
    address: str = "-",
) -> IssuedToken:
    """An access token for USERNAME when PASSWORD is right and the account is active.
    With a THROTTLE, wrong passwords are counted per account and per client ADDRESS: a
    locked account or a guessing address is refused (429, saying when to try again)
    before the password is even checked, and the failure that reaches the account's
    limit locks it, with a warning in the log and a row in the account's history."""
    if throttle is not None:
        throttle.admit(username, address)
    user = UserRepository(uow.session).get(username)
    # Hash even for an unknown user, so timing does not reveal which usernames exist.
    valid = verify_password(user.password_hash if user else _dummy_hash(), password)
    if user is None or not valid:
        lock = throttle.failed(username, address) if throttle is not None else None
        if throttle is not None and lock is not None:
            log.warning(
                "login: %s locked until %s after %d wrong passwords (the last from %s)",
                username,
                lock.until.isoformat(timespec="seconds"),
                lock.failures,
                address,
            )
            if user is not None:
                EventLog(uow.session).add(
                    change_event(
                        ACCOUNT_KIND,
                        user.id or 0,
                        LOGIN_THROTTLE,
                        utcnow(),
                        {},
                        action=AccountAction.LOCKED,
                        data={"until": lock.until.isoformat(), "failures": lock.failures},
                    )
                )
                uow.commit()
            raise throttle.locked(lock.until)
        raise NotAuthenticated("wrong_credentials")
    if not user.active:
        raise NotAuthenticated("account_disabled")
    if throttle is not None:
        throttle.succeeded(username)
    token, expires_at = issue_token(user.username, secret, ttl, user.session_generation)
    user.last_login_at = utcnow()
    uow.commit()
    return IssuedToken(token, expires_at, user)


@permission(ANY_USER, "Log out: end the caller's session", anonymous=True)
def log_out(
    uow: UnitOfWork,
    actor: Actor,
    token: TokenClaims | None = None,
    ended: EndedTokens | None = None,
    *,
    everywhere: bool = False,
) -> None:
    """End the session of the calling person's TOKEN at once, in every server process:
    that token stops working, her other logins (another device, a script) go on. With
    EVERYWHERE, or for a token without an id, every token issued to her so far stops
    working. Without a login there is nothing to end."""
    if actor.is_anonymous:
        return
    user = UserRepository(uow.session).get(actor.name)
    if user is None:
        return
    if everywhere or token is None or ended is None or not token.token_id:
        user.end_sessions()
    else:
        ended.end(token.token_id)
    bump_revision(uow.session, ACCOUNTS_REVISION)  # every process forgets who it knew
    uow.commit()


@permission(PUBLIC, "A resident creates her own account")
def sign_up(
    uow: UnitOfWork,
    actor: Actor,
    new: NewResident,
    secret: str,
    ttl: timedelta,
) -> IssuedToken:
    """Create a resident's account (her mobile number, or a username, to log in with) and
    log her in. Residents belong to no area: they see their own reports wherever those
    lie, so none is asked for. Every wrong field is named at once; a taken name is a 409
    naming it. Callers limit sign-ups per address."""
    new.check()
    users = UserRepository(uow.session)
    username = new.login_name
    if users.get(username) is not None:
        field = "username" if new.username.strip() else "phone"
        raise Conflict("user_exists", name=username, field=field)
    user = User(
        username=username,
        role=Role.RESIDENT,
        password_hash=hash_password(new.password),
        display_name=new.display_name.strip(),
        phone=new.phone_number,
        last_login_at=utcnow(),
    )
    users.add(user)
    uow.session.flush()
    herself = Actor(user.username, Role.RESIDENT)
    _record(uow, herself, ACCOUNT_KIND, user.id, AccountAction.SIGN_UP, user.facts())
    bump_revision(uow.session, ACCOUNTS_REVISION)
    uow.commit()
    token, expires_at = issue_token(user.username, secret, ttl, user.session_generation)
    return IssuedToken(token, expires_at, user)


@permission(ANY_USER, "The caller's own account")
def own_account(uow: UnitOfWork, actor: Actor) -> User:
    """The calling person's account (to fill in her phone number on forms)."""
    user = UserRepository(uow.session).get(actor.name)
    if user is None:
        raise NotFound("user_not_found", name=actor.name)
    return user


@functools.cache
def _dummy_hash() -> str:
    return hash_password("timing-equaliser-not-a-password")


def actor_for_username(uow: UnitOfWork, username: str) -> Actor:
    """The Actor of an active account, by its username (to act as a person without a
    token: the tests' personas, a command acting for someone)."""
    user = UserRepository(uow.session).get(username)
    if user is None:
        raise NotAuthenticated("token_invalid")
    if not user.active:
        raise NotAuthenticated("account_disabled")
    return actor_for_user(uow.session, user)


def actor_for_token(
    uow: UnitOfWork, claims: TokenClaims, ended: EndedTokens | None = None
) -> Actor:
    """The Actor of an account named in a valid token, while the account is active and
    the token's session has not been ended (the token logged out, or all of the account's
    by a new password or logging out everywhere)."""
    user = UserRepository(uow.session).get(claims.username)
    if user is None:
        raise NotAuthenticated("token_invalid")
    if not user.active:
        raise NotAuthenticated("account_disabled")
    if claims.generation != user.session_generation:
        raise NotAuthenticated("session_ended")
    if ended is not None and ended.ended(claims.token_id):
        raise NotAuthenticated("session_ended")
    return actor_for_user(uow.session, user)


def actor_for_user(session: Session, user: User) -> Actor:
    area_path = None
    if user.area_code is not None:
        area_path = AreaRepository(session).path_of(user.area_code) or f"/{user.area_code}/"
    return Actor(
        name=user.username,
        role=user.role,
        area_code=user.area_code,
        area_path=area_path,
        department_code=user.department_code,
        display_name=user.display_name,
    )


API_KEY_USE_RESOLUTION = timedelta(minutes=5)
ACCOUNTS_REVISION = "accounts"
# What a resolved caller depends on: their account or key, and the areas (their scope).
CALLER_REVISIONS = (ACCOUNTS_REVISION, "areas")


class CallerCache:
    """Callers already resolved (by API key or token), so a busy department system or
    dispatcher does not cost three queries per request. Dropped whenever an account, a key
    or an area changes (revision counters: logging out, a new password, disabling an
    account and revoking a key all bump them), never kept past a key's expiry, and re-read
    every few minutes regardless."""

    def __init__(self, lifetime: timedelta = API_KEY_USE_RESOLUTION) -> None:
        self._lock = threading.Lock()
        self._revisions: tuple[int, ...] | None = None
        self._actors: dict[str, tuple[Actor, datetime]] = {}
        self._lifetime = lifetime

    def resolve(
        self, uow: UnitOfWork, key: str, load: Callable[[], tuple[Actor, datetime | None]]
    ) -> Actor:
        """The caller behind KEY, from memory or by LOAD (the actor, and when it stops
        being valid: a key's expiry, or None)."""
        counters = {name: read_revision(uow.session, name) for name in CALLER_REVISIONS}
        found = self.recall(key, counters)
        if found is not None:
            return found
        actor, until = load()
        now = utcnow()
        forget_at = now + self._lifetime if until is None else min(now + self._lifetime, until)
        with self._lock:
            self._actors[key] = (actor, forget_at)
        return actor

    def recall(self, key: str, counters: Mapping[str, int]) -> Actor | None:
        """The caller behind KEY if resolved lately and nothing changed since, by the change
        COUNTERS given (no database)."""
        revisions = tuple(counters.get(name, 0) for name in CALLER_REVISIONS)
        with self._lock:
            if revisions != self._revisions:
                self._actors.clear()
                self._revisions = revisions
            found = self._actors.get(key)
        if found is not None and utcnow() < found[1]:
            return found[0]
        return None


def api_key_caller(uow: UnitOfWork, key: str) -> tuple[Actor, datetime | None]:
    """The Actor for a department system calling with an API key, and the key's expiry.
    A revoked or unknown key is a 401, an expired one a 401 saying when it expired."""
    api_key = ApiKeyRepository(uow.session).by_hash(hash_api_key(key))
    if api_key is None or not api_key.active:
        raise NotAuthenticated("api_key_invalid")
    now = utcnow()
    if api_key.expired(now):
        assert api_key.expires_at is not None
        expired_at = api_key.expires_at.isoformat(timespec="minutes")
        raise NotAuthenticated("api_key_expired", prefix=api_key.prefix, at=expired_at)
    # Recorded at most every few minutes: a busy system must not pay a write per request.
    if api_key.last_used_at is None or now - api_key.last_used_at > API_KEY_USE_RESOLUTION:
        api_key.last_used_at = now
        uow.commit()
    area_code = area_path = None
    if api_key.department_code:
        department = DepartmentRepository(uow.session).get(api_key.department_code)
        if department is not None:
            area_code = department.area_code
            area_path = AreaRepository(uow.session).path_of(department.area_code)
    actor = Actor(
        name=f"apikey:{api_key.name}",
        role=Role.API_CLIENT,
        area_code=area_code,
        area_path=area_path,
        department_code=api_key.department_code,
        display_name=api_key.name,
    )
    return actor, api_key.expires_at


def actor_from_api_key(uow: UnitOfWork, key: str) -> Actor:
    """The Actor for a department system calling with an API key."""
    return api_key_caller(uow, key)[0]


@permission(ADMIN_ROLES, "Create an API key for a department system")
def add_api_key(
    uow: UnitOfWork,
    actor: Actor,
    name: str,
    department_code: str | None = None,
    expires_at: datetime | None = None,
) -> str:
    """Create a key and return it; only its hash is stored, so it is shown this once.
    With EXPIRES_AT it stops working then."""
    if (
        department_code is not None
        and DepartmentRepository(uow.session).get(department_code) is None
    ):
        raise NotFound("department_not_found", code=department_code)
    _check_expiry(expires_at)
    key = generate_api_key()
    record = ApiKey(
        name=name,
        key_hash=hash_api_key(key),
        prefix=key[:8],
        department_code=department_code,
        expires_at=expires_at,
    )
    ApiKeyRepository(uow.session).add(record)
    uow.session.flush()
    _record(uow, actor, API_KEY_KIND, record.id, SystemAction.CREATE, record.facts())
    uow.commit()
    return key


@dataclass(frozen=True)
class ApiKeyView:
    """A key as administrators see it: never the key, only its first letters."""

    id: int
    name: str
    prefix: str
    department_code: str | None
    department_name: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    active: bool
    expired: bool


@permission(ADMIN_ROLES, "List the API keys")
def list_api_keys(uow: UnitOfWork, actor: Actor) -> list[ApiKeyView]:
    """Every API key: name, unit, first letters, created, last used, expiry, and whether
    it still works (newest first)."""
    now = utcnow()
    units = {d.code: d.name for d in DepartmentRepository(uow.session).list()}
    return [
        ApiKeyView(
            id=key.id or 0,
            name=key.name,
            prefix=key.prefix,
            department_code=key.department_code,
            department_name=units.get(key.department_code or "", ""),
            created_at=key.created_at,
            last_used_at=key.last_used_at,
            expires_at=key.expires_at,
            active=key.active,
            expired=key.expired(now),
        )
        for key in ApiKeyRepository(uow.session).list()
    ]


@permission(ADMIN_ROLES, "Revoke an API key")
def revoke_api_key(uow: UnitOfWork, actor: Actor, key_id: int, reason: str = "") -> ApiKey:
    """The key stops working at once, in every server process, for good (a system that
    still needs access gets a new key)."""
    key = _api_key(uow, key_id)
    if not key.active:
        raise Conflict("api_key_already_revoked", id=key_id, prefix=key.prefix)
    key.active = False
    EventLog(uow.session).add(
        change_event(
            API_KEY_KIND,
            key_id,
            actor,
            utcnow(),
            {"active": (True, False)},
            action=ApiKeyAction.REVOKE,
            note=reason.strip(),
        )
    )
    bump_revision(uow.session, ACCOUNTS_REVISION)
    uow.commit()
    return key


@permission(ADMIN_ROLES, "Set or remove an API key's expiry")
def set_api_key_expiry(
    uow: UnitOfWork, actor: Actor, key_id: int, expires_at: datetime | None, reason: str = ""
) -> ApiKey:
    """From EXPIRES_AT on, the key answers 401 saying it has expired; None: it never
    expires. A time already past is refused (revoke the key to end it now)."""
    key = _api_key(uow, key_id)
    if not key.active:
        raise Conflict("api_key_already_revoked", id=key_id, prefix=key.prefix)
    _check_expiry(expires_at)
    before = key.expires_at.isoformat() if key.expires_at else None
    key.expires_at = expires_at
    after = expires_at.isoformat() if expires_at else None
    EventLog(uow.session).add(
        change_event(
            API_KEY_KIND,
            key_id,
            actor,
            utcnow(),
            {"expires_at": (before, after)},
            action=ApiKeyAction.EXPIRY,
            note=reason.strip(),
        )
    )
    bump_revision(uow.session, ACCOUNTS_REVISION)  # callers remembered with the old expiry
    uow.commit()
    return key


@permission(ADMIN_ROLES, "The history of an API key")
def api_key_history(uow: UnitOfWork, actor: Actor, key_id: int) -> list[Event]:
    """Every change of a key: created (with its unit and expiry), expiry set, revoked."""
    _api_key(uow, key_id)
    return list(EventLog(uow.session).of(API_KEY_KIND, key_id))


def _api_key(uow: UnitOfWork, key_id: int) -> ApiKey:
    key = ApiKeyRepository(uow.session).get(key_id)
    if key is None:
        raise NotFound("api_key_not_found", id=key_id)
    return key


def _check_expiry(expires_at: datetime | None) -> None:
    if expires_at is None:
        return
    if expires_at.tzinfo is None:
        raise ValueError("an expiry must be an aware datetime")
    if expires_at <= utcnow():
        raise FieldProblem("api_key_expiry_past", field="expires_at")


def _record(
    uow: UnitOfWork,
    actor: Actor,
    kind: str,
    record_id: int | None,
    action: str,
    facts: Mapping[str, object],
) -> None:
    """The first row of an account's or a key's history: what it was created with."""
    created = {name: (None, value) for name, value in facts.items()}
    EventLog(uow.session).add(
        change_event(kind, record_id or 0, actor, utcnow(), created, action=action)
    )


@permission(ADMIN_ROLES, "List accounts")
def list_accounts(uow: UnitOfWork, actor: Actor, q: str = "", limit: int = 200) -> list[User]:
    """Accounts whose username or name contains Q (at most LIMIT, by username); an
    administrator bound to an area sees the accounts bound inside it."""
    return list(UserRepository(uow.session).search(q.strip(), within=actor.scope_path, limit=limit))


@permission(ADMIN_ROLES, "Disable an account")
def disable_user(uow: UnitOfWork, actor: Actor, username: str, reason: str) -> User:
    """The account can no longer log in, and every token it holds stops working at once in
    every server process. The REASON goes into its history."""
    if not reason.strip():
        raise FieldProblem("account_reason_required", field="reason")
    user = _user_in_scope(uow, actor, username)
    if user.username == actor.name:
        raise Conflict("cannot_disable_yourself")
    if not user.active:
        raise Conflict("account_already_disabled", name=username)
    user.active = False
    user.end_sessions()
    _changed(uow, actor, user, AccountAction.DISABLE, reason)
    return user


@permission(ADMIN_ROLES, "Enable an account")
def enable_user(uow: UnitOfWork, actor: Actor, username: str, reason: str = "") -> User:
    """A disabled account may log in again (its old tokens stay ended)."""
    user = _user_in_scope(uow, actor, username)
    if user.active:
        raise Conflict("account_already_enabled", name=username)
    user.active = True
    _changed(uow, actor, user, AccountAction.ENABLE, reason)
    return user


def _user_in_scope(uow: UnitOfWork, actor: Actor, username: str) -> User:
    user = UserRepository(uow.session).get(username)
    if user is None:
        raise NotFound("user_not_found", name=username)
    if actor.scope_path is not None:
        path = AreaRepository(uow.session).path_of(user.area_code) if user.area_code else None
        if path is None:
            raise Forbidden("forbidden_area", code=user.area_code or "-")
        actor.require_covers(user.area_code or "-", path)
    return user


def _changed(uow: UnitOfWork, actor: Actor, user: User, action: AccountAction, reason: str) -> None:
    EventLog(uow.session).add(
        change_event(
            ACCOUNT_KIND,
            user.id or 0,
            actor,
            utcnow(),
            {"active": (not user.active, user.active)},
            action=action,
            note=reason.strip(),
        )
    )
    bump_revision(uow.session, ACCOUNTS_REVISION)
    uow.commit()


@permission(ADMIN_ROLES, "The history of an account")
def account_history(uow: UnitOfWork, actor: Actor, username: str) -> list[Event]:
    """Every change of an account since it was made: who, when, what (never a password)."""
    user = UserRepository(uow.session).get(username)
    if user is None:
        raise NotFound("user_not_found", name=username)
    return list(EventLog(uow.session).of(ACCOUNT_KIND, user.id or 0))


@permission(AUTHENTICATED, "Describe the calling account")
def who_am_i(uow: UnitOfWork, actor: Actor) -> Actor:
    """The caller as the platform sees it: role, area scope and department."""
    return actor


def grid_worker_facts(session: Session, area: Area, actor: Actor, facts: AreaFacts) -> None:
    """Area fact source: the grid workers of a grid (masked for the public view) and the
    number of grid workers under any area."""
    users = UserRepository(session)
    facts.counts["grid_workers"] = users.count_within(area.path, Role.GRID_WORKER)
    if area.level is not Level.GRID:
        return
    for user in users.in_areas([area.code], Role.GRID_WORKER):
        if actor.is_staff:
            facts.workers.append(
                {"username": user.username, "name": user.display_name, "phone": user.phone}
            )
        else:
            facts.workers.append(
                {"username": "", "name": mask_name(user.display_name), "phone": ""}
            )


class StaffDirectory:
    """Who works where (core.outbox.Directory): the platform tells units of new work and
    areas' staff of warnings through it."""

    def unit_staff(self, session: Session, unit_code: str) -> list[Contact]:
        """The active accounts of a handling unit."""
        found = UserRepository(session).of_department(unit_code)
        return [_contact(u) for u in found if u.active]

    def area_staff(self, session: Session, area_path: str, roles: frozenset[Role]) -> list[Contact]:
        """The active accounts of ROLES bound to the area at AREA_PATH or to one above it."""
        codes = area_path.strip("/").split("/")
        users = UserRepository(session)
        found = [u for role in sorted(roles) for u in users.in_areas(codes, role) if u.active]
        return [_contact(u) for u in sorted(found, key=lambda u: u.username)]


def _contact(user: User) -> Contact:
    return Contact(username=user.username, name=user.display_name, phone=user.phone)
