"""Each service action carries its permission beside it (as CKAN pairs actions and auth)."""

import importlib
import inspect
import pkgutil

import pytest

import civicgrid
from civicgrid.core.errors import Forbidden, NotAuthenticated
from civicgrid.core.permissions import ANONYMOUS, Actor, Role, Rule, rule_of

# Every domain's services, and those of the domains' own parts (insight.warnings).
SERVICE_MODULES = [
    importlib.import_module(f"{info.name}.services")
    for info in pkgutil.walk_packages(civicgrid.__path__, "civicgrid.")
    if info.ispkg and importlib.util.find_spec(f"{info.name}.services")
]


def service_actions() -> list[tuple[str, object]]:
    found = []
    for module in SERVICE_MODULES:
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or name.startswith("_"):
                continue
            parameters = list(inspect.signature(fn).parameters)
            if parameters[:2] == ["uow", "actor"]:
                found.append((f"{module.__name__}.{name}", fn))
    return found


def test_services_exist() -> None:
    assert len(service_actions()) >= 10


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
