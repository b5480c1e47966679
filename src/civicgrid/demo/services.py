"""Writing a demo city into the database, with demo accounts for every role."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from shapely import Point
from shapely.geometry.base import BaseGeometry

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.areas.domain import Level
from civicgrid.areas.repository import AreaRepository
from civicgrid.areas.services import add_areas, add_departments
from civicgrid.cases.domain import Status
from civicgrid.cases.services import CasePorts, replace_categories, replace_rules
from civicgrid.cases.taxonomy import (
    DEFAULT_CATEGORIES,
    DEFAULT_RULES,
    parse_categories,
    parse_rules,
)
from civicgrid.core.db import UnitOfWork, delete_everything
from civicgrid.core.errors import Conflict
from civicgrid.core.permissions import ADMIN_ROLES, Actor, Role, permission
from civicgrid.core.rows import read_csv_text
from civicgrid.core.security import generate_password, hash_password
from civicgrid.demo.cases import play_demo_cases
from civicgrid.demo.domain import DemoCity
from civicgrid.demo.registry import ROOMS_PER_BUILDING, department_files, standard_addresses
from civicgrid.demo.streets import lay_out
from civicgrid.registry.domain import ImportBatch, RecordKind
from civicgrid.registry.entities import LinkRun, link_registry
from civicgrid.registry.importing import default_mapping, open_table
from civicgrid.registry.mapping import replace_map_features
from civicgrid.registry.services import import_records


@dataclass(frozen=True)
class Credential:
    role: Role
    username: str
    password: str
    scope: str  # the area (and department) the account is bound to, for the console


@dataclass(frozen=True)
class DemoSummary:
    city_name: str
    counts: dict[Level, int]
    departments: int
    credentials: list[Credential]
    grid_workers: int
    case_states: dict[Status, int]


@permission(ADMIN_ROLES, "Generate the demo city")
def install_demo_city(
    uow: UnitOfWork,
    actor: Actor,
    city: DemoCity,
    *,
    ports: CasePorts | None = None,
    cases: int = 0,
    reset: bool = False,
    progress: Callable[[str], None] | None = None,
    hot_spots: bool = False,
    days: int = 30,
) -> DemoSummary:
    """Write CITY (areas, handling units, grid workers), one demo account per role, the
    default taxonomy and authority list, and (with PORTS) CASES demo cases over the last
    DAYS, with HOT_SPOTS
    also a surge and a cluster for the early warnings.

    Refuses to touch a database that already has areas unless RESET, which empties it first.
    Passwords are random and returned once; only their hashes are stored."""
    note = progress or (lambda _message: None)
    if AreaRepository(uow.session).count() and not reset:
        raise Conflict("demo_exists")
    if reset:
        delete_everything(uow.session)
        uow.commit()
    note("areas")
    add_areas(uow, actor, city.areas)
    note("departments")
    add_departments(uow, actor, city.departments)

    note("accounts")
    # One password for all grid workers (hashed once): argon2 is deliberately slow, and
    # hundreds of separate hashes would take most of a minute.
    worker_password = generate_password()
    worker_hash = hash_password(worker_password)
    for worker in city.workers:
        add_user(
            uow,
            actor,
            NewUser(
                username=worker.username,
                role=Role.GRID_WORKER.value,
                password=worker_password,
                display_name=worker.display_name,
                area_code=worker.grid_code,
                phone=worker.phone,
            ),
            password_hash=worker_hash,
        )
    credentials = _role_accounts(uow, actor, city)
    first_worker = city.workers[0]
    credentials.insert(
        1,
        Credential(
            Role.GRID_WORKER,
            first_worker.username,
            worker_password,
            first_worker.grid_code,
        ),
    )
    note("taxonomy")
    replace_categories(uow, actor, parse_categories(read_csv_text(DEFAULT_CATEGORIES)))
    replace_rules(uow, actor, parse_rules(read_csv_text(DEFAULT_RULES)))
    case_states: dict[Status, int] = {}
    if ports is not None and cases:
        note(f"{cases} cases")
        grids = list(AreaRepository(uow.session).list(level=Level.GRID))
        workers = {w.grid_code: w.username for w in city.workers}
        case_states = play_demo_cases(
            uow, ports, grids, workers, cases, days=days, hot_spots=hot_spots
        )
    counts = {level: len(city.of_level(level)) for level in Level}
    return DemoSummary(
        city.name, counts, len(city.departments), credentials, len(city.workers), case_states
    )


def _role_accounts(uow: UnitOfWork, actor: Actor, city: DemoCity) -> list[Credential]:
    city_area = city.of_level(Level.CITY)[0]
    district = city.of_level(Level.DISTRICT)[0]
    street = next(a for a in city.areas if a.parent_code == district.code)
    handler_unit = next(
        d for d in city.departments if d.area_code == district.code and d.code.endswith("-CGJ")
    )
    data_unit = next(d for d in city.departments if d.code.endswith("-SJGLJ"))
    plan: list[tuple[Role, str, str | None, str | None, str]] = [
        (Role.RESIDENT, "resident", None, None, "居民 Resident"),
        (Role.DISPATCHER, "dispatcher", city_area.code, None, "12345 分拨中心坐席"),
        (Role.HANDLER, "handler", None, handler_unit.code, handler_unit.name),
        (Role.CADRE, "cadre", street.code, None, street.name + "干部"),
        (Role.DATA_ADMIN, "data_admin", None, data_unit.code, "数据管理员"),
        (Role.LEADER, "leader", city_area.code, None, city.name + "领导"),
        (Role.ADMIN, "admin", None, None, "系统管理员"),
    ]
    credentials = []
    for role, username, area_code, department_code, display in plan:
        password = generate_password()
        user = add_user(
            uow,
            actor,
            NewUser(
                username=username,
                role=role.value,
                password=password,
                display_name=display,
                area_code=area_code,
                department_code=department_code,
            ),
        )
        scope = " / ".join(filter(None, [user.area_code, user.department_code])) or "-"
        credentials.append(Credential(role, username, password, scope))
    return credentials


@dataclass(frozen=True)
class DemoRegistry:
    batches: list[ImportBatch]
    linked: dict[RecordKind, LinkRun]  # people, houses and organisations linked into entities


@permission(ADMIN_ROLES, "Fill the demo registry from three departments' files")
def install_demo_registry(
    uow: UnitOfWork,
    actor: Actor,
    people: int,
    *,
    secret_key: str,
    folder: Path | None = None,
    today: date | None = None,
    progress: Callable[[str], None] | None = None,
    link: bool = True,
) -> DemoRegistry:
    """Standard addresses for every grid, then the files of public security (户籍: everyone),
    the housing office (houses, in its own address shorthand), market regulation (the
    registered organisations) and the grid workers' collection (people they met, with new
    phones, names written by ear, care tags, a few mistyped identity numbers; the houses
    they visited; shops and organisations by their signs), each imported as a department's
    file through the registry import. The files stay in FOLDER (a temporary one if none).
    With LINK the people, houses and organisations are then linked into entities (Splink on
    DuckDB), so each one's records from the departments open side by side."""
    note = progress or (lambda _message: None)
    outlines = [(a.code, a.geometry) for a in AreaRepository(uow.session).list(level=Level.GRID)]
    grids = [(code, point.x, point.y) for code, point in _inside(outlines)]
    per_grid = max(4, -(-people // (len(grids) * 2))) if grids else 0  # two people a room
    # The roads and blocks the addresses stand on, so the maps can be read without tiles.
    note("registry: roads and buildings")
    streets = lay_out(outlines, -(-per_grid // ROOMS_PER_BUILDING))
    replace_map_features(uow, actor, "demo", streets.features())
    if not grids or people <= 0:
        return DemoRegistry([], {})
    addresses = standard_addresses(grids, per_grid, places=streets.places())
    where = folder or Path(tempfile.mkdtemp(prefix="civicgrid-demo-registry-"))
    batches = []
    for kind, path, source in department_files(where, addresses, people, today or date.today()):
        note(f"registry: {path.name}")
        record_kind = RecordKind(kind)
        report = import_records(
            uow,
            actor,
            record_kind,
            open_table(path),
            default_mapping(record_kind),
            secret_key=secret_key,
            source=source,
        )
        batches.append(report.batch)
    linked = {}
    for kind in (RecordKind.PERSON, RecordKind.HOUSE, RecordKind.ORGANISATION) if link else ():
        note(f"registry: linking {kind.value}")
        linked[kind] = link_registry(uow, actor, kind, backend="duckdb")
    return DemoRegistry(batches, linked)


def _inside(outlines: list[tuple[str, BaseGeometry]]) -> list[tuple[str, Point]]:
    return [(code, outline.representative_point()) for code, outline in outlines]
