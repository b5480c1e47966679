"""Each service action carries its permission beside it (as CKAN pairs actions and auth)."""

import ast
import importlib
import inspect
import pkgutil
import textwrap

import pytest

import civicgrid
from civicgrid.core.errors import Forbidden, NotAuthenticated
from civicgrid.core.permissions import ANONYMOUS, Actor, Role, Rule, rule_of

# Every module of the package below the routes (whose rules tests/integration/
# test_permissions.py checks): each domain's services, their parts (insight.warnings,
# registry.entities' confirm and split) and anything else that acts for a caller.
MODULES = [
    importlib.import_module(info.name)
    for info in pkgutil.walk_packages(civicgrid.__path__, "civicgrid.")
    if not info.ispkg
    and info.name.rsplit(".", 1)[-1] not in ("__main__", "env", "api", "cli")
    and not info.name.startswith(("civicgrid.migrations.", "civicgrid.web."))
]


def service_actions() -> list[tuple[str, object]]:
    """Every function `fn(uow, actor, ...)`: an action some caller takes."""
    found = []
    for module in MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            parameters = list(inspect.signature(fn).parameters)
            if parameters[:2] == ["uow", "actor"]:
                found.append((f"{module.__name__}.{name}", fn))
    return found


def test_services_exist() -> None:
    names = {name for name, _ in service_actions()}
    assert len(names) >= 10
    assert "civicgrid.registry.entities.decide_link" in names  # confirm and split


# Refusals that belong to a rule: a service that raises them itself says in its body what
# its @permission should say, so a rule declared PUBLIC could allow only some callers.
ROLE_REFUSALS = ("forbidden_role", "not_authenticated")


@pytest.mark.parametrize(("name", "fn"), service_actions())
def test_no_service_refuses_callers_by_role_behind_its_rule(name: str, fn: object) -> None:
    source = textwrap.dedent(inspect.getsource(fn))  # type: ignore[arg-type]
    refusals = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Raise)
        and any(
            isinstance(arg, ast.Constant) and arg.value in ROLE_REFUSALS
            for call in ast.walk(node)
            if isinstance(call, ast.Call)
            for arg in call.args
        )
    ]
    assert refusals == [], f"{name} refuses by role itself; declare it in @permission"


@pytest.mark.parametrize(("name", "fn"), service_actions())
def test_every_service_action_declares_its_permission(name: str, fn: object) -> None:
    assert rule_of(fn) is not None, f"{name} has no @permission rule"  # type: ignore[arg-type]


def test_a_role_rule_asks_anonymous_callers_to_log_in() -> None:
    with pytest.raises(NotAuthenticated):
        Rule(frozenset({Role.ADMIN})).check(ANONYMOUS)


def test_a_role_rule_refuses_other_roles() -> None:
    with pytest.raises(Forbidden):
        Rule(frozenset({Role.ADMIN})).check(Actor("r", Role.RESIDENT))


def test_area_scope_is_a_path_prefix() -> None:
    cadre = Actor("c", Role.CADRE, area_code="S1", area_path="/C/D/S1/")
    assert cadre.covers("/C/D/S1/K1/G1/")
    assert not cadre.covers("/C/D/S2/")
    assert cadre.sees_context_of("/C/D/")
    with pytest.raises(Forbidden):
        cadre.require_covers("S2", "/C/D/S2/")
