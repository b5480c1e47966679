"""Who is calling (Actor), what roles exist, and the area-scope rule shared by all services.

An area's `path` is the chain of codes from the city down to it ("/990100/990101/…/"), so
"is this area inside my scope" is a prefix test that the database can answer with an index.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Concatenate, ParamSpec, TypeVar

from civicgrid.core.errors import Forbidden, NotAuthenticated


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_WORKER = "grid_worker"
    DISPATCHER = "dispatcher"
    HANDLER = "handler"
    CADRE = "cadre"
    DATA_ADMIN = "data_admin"
    LEADER = "leader"
    ADMIN = "admin"
    # Not a person: a department system calling with an API key.
    API_CLIENT = "api_client"


ROLE_LABELS: dict[Role, dict[str, str]] = {
    Role.RESIDENT: {"zh": "居民", "en": "Resident"},
    Role.GRID_WORKER: {"zh": "网格员", "en": "Grid worker"},
    Role.DISPATCHER: {"zh": "坐席员", "en": "Dispatcher"},
    Role.HANDLER: {"zh": "部门办理人员", "en": "Department handler"},
    Role.CADRE: {"zh": "社区/街道干部", "en": "Community/street cadre"},
    Role.DATA_ADMIN: {"zh": "数据管理员", "en": "Data administrator"},
    Role.LEADER: {"zh": "领导", "en": "Leader"},
    Role.ADMIN: {"zh": "系统管理员", "en": "Administrator"},
    Role.API_CLIENT: {"zh": "部门系统接口", "en": "Department API client"},
}

USER_ROLES: tuple[Role, ...] = tuple(r for r in Role if r is not Role.API_CLIENT)
# Anyone with credentials: every account and every department system.
AUTHENTICATED: frozenset[Role] = frozenset(Role)
STAFF_ROLES: frozenset[Role] = frozenset(USER_ROLES) - {Role.RESIDENT}
# Roles whose accounts must be tied to an area, because everything they see is scoped by it.
AREA_BOUND_ROLES: frozenset[Role] = frozenset({Role.GRID_WORKER, Role.CADRE})


@dataclass(frozen=True)
class Actor:
    """The caller of a service: a person, a department system, or nobody (anonymous)."""

    name: str
    role: Role | None
    area_code: str | None = None
    area_path: str | None = None
    department_code: str | None = None
    display_name: str = ""

    @property
    def is_anonymous(self) -> bool:
        return self.role is None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES or self.role is Role.API_CLIENT

    @property
    def scope_path(self) -> str | None:
        """The path prefix of what this actor may see; None means everything (no area bound)."""
        return self.area_path

    def covers(self, area_path: str) -> bool:
        """True when the area with AREA_PATH lies inside this actor's scope."""
        return self.area_path is None or area_path.startswith(self.area_path)

    def sees_context_of(self, area_path: str) -> bool:
        """Ancestors of the actor's own area are shown for orientation (names and outlines)."""
        return self.area_path is not None and self.area_path.startswith(area_path)

    def require_covers(self, area_code: str, area_path: str) -> None:
        if not self.covers(area_path):
            raise Forbidden("forbidden_area", code=area_code)


ANONYMOUS = Actor(name="anonymous", role=None)


# --- Every service action carries its permission rule beside it (see tests/unit/test_rules.py).

PUBLIC: frozenset[Role] | None = None  # anyone, logged in or not
STAFF: frozenset[Role] = STAFF_ROLES
ANY_USER: frozenset[Role] = frozenset(USER_ROLES)

# The operator at the server's console (CLI commands) acts with full authority.
SYSTEM = Actor(name="system", role=Role.ADMIN, display_name="CivicGrid CLI")


@dataclass(frozen=True)
class Rule:
    """Who may call an action: `roles` None means everyone, including anonymous callers;
    otherwise callers of those roles, and callers without credentials when `anonymous`
    (a resident without an account reporting, tracking or adding her voice)."""

    roles: frozenset[Role] | None
    description: str = ""
    anonymous: bool = False

    def allows(self, actor: Actor) -> bool:
        if self.roles is None:
            return True
        if actor.is_anonymous:
            return self.anonymous
        return actor.role in self.roles

    def check(self, actor: Actor) -> None:
        if self.allows(actor):
            return
        if actor.is_anonymous:
            raise NotAuthenticated("not_authenticated")
        raise Forbidden("forbidden_role", role=actor.role.value if actor.role else "-")

    def within(self, audience: Rule) -> Rule:
        """Only those both rules allow (a page made for some of the callers its services
        allow)."""
        if audience.roles is None:
            return self
        roles = audience.roles if self.roles is None else self.roles & audience.roles
        anonymous = audience.anonymous and (self.roles is None or self.anonymous)
        return Rule(roles, audience.description or self.description, anonymous)

    def union(self, other: Rule) -> Rule:
        """Whoever either rule allows (a page that calls one service or another by who
        is calling)."""
        if self.roles is None or other.roles is None:
            return Rule(None, self.description)
        return Rule(self.roles | other.roles, self.description, self.anonymous or other.anonymous)


P = ParamSpec("P")
R = TypeVar("R")


def permission(
    roles: frozenset[Role] | Iterable[Role] | None,
    description: str = "",
    *,
    anonymous: bool = False,
) -> Callable[[Callable[Concatenate[Any, Actor, P], R]], Callable[Concatenate[Any, Actor, P], R]]:
    """Declare and enforce who may call a service function `fn(uow, actor, ...)`: ROLES
    (None: anyone at all), and with ANONYMOUS also callers without credentials. The API
    route or page that calls the function takes this same rule (core.http.allow)."""
    rule = Rule(None if roles is None else frozenset(roles), description, anonymous)

    def decorate(
        fn: Callable[Concatenate[Any, Actor, P], R],
    ) -> Callable[Concatenate[Any, Actor, P], R]:
        @functools.wraps(fn)
        def guarded(uow: Any, actor: Actor, /, *args: P.args, **kwargs: P.kwargs) -> R:
            rule.check(actor)
            return fn(uow, actor, *args, **kwargs)

        guarded.__permission__ = rule  # type: ignore[attr-defined]
        return guarded

    return decorate


def rule_of(fn: Callable[..., Any]) -> Rule | None:
    return getattr(fn, "__permission__", None)


ADMIN_ROLES: frozenset[Role] = frozenset({Role.ADMIN})
