"""Demo cases: a month of a city's reports in every state, played through the real case
rules (cases.domain) with a simulated clock, so timelines, deadlines, overdue marks,
whistles, reworks, escalations, ratings and answers are all genuine."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import shapely
from faker import Faker
from sqlalchemy import select

from civicgrid.areas.domain import Area
from civicgrid.areas.repository import departments
from civicgrid.cases.attachments import Upload, check_upload
from civicgrid.cases.domain import (
    CASE_KIND,
    Action,
    Case,
    Category,
    Channel,
    Command,
    Report,
    Status,
    chain_of,
    next_level_up,
    route_at,
    route_case,
)
from civicgrid.cases.repository import AttachmentRepository, CaseRepository
from civicgrid.cases.services import CasePorts, RoutingCache, notify
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.outbox import Outbox
from civicgrid.core.permissions import Actor, Role
from civicgrid.demo.texts import DemoTexts

CHANNELS = [
    (Channel.HOTLINE, 35),
    (Channel.RESIDENT_WEB, 22),
    (Channel.GRID_WORKER, 25),
    (Channel.WECHAT_GROUP, 8),
    (Channel.OPEN311, 7),
    (Channel.SENSOR, 3),
]
# How each street works, so the assessment has differences to rank: how much its grid
# workers find on patrol (the weight of the grid-worker channel, beside the others above)
# and the chance that one of its cases' steps runs past its time limit. Streets take the
# habits in turn, by code.
STREET_HABITS = [(90, 0.01), (60, 0.03), (40, 0.05), (70, 0.02), (25, 0.09), (50, 0.04)]
LATE_SHARE = 1.3
ON_TIME_SHARES = [0.1, 0.3, 0.4, 0.5, 0.7, 0.9, 0.95]
# Where each case's story stops (weights); the rest of the story is played up to there.
ENDINGS = [
    (Status.CLOSED, 52),
    (Status.VERIFIED, 3),
    (Status.RESOLVED, 5),
    (Status.IN_PROGRESS, 10),
    (Status.SUSPENDED, 1),
    (Status.DISPATCHED, 8),
    (Status.REGISTERED, 4),
    (Status.ACCEPTED, 3),
    (Status.REPORTED, 6),
    (Status.REJECTED, 3),
    (Status.VOIDED, 1),
    (Status.MERGED, 4),
]
# Cases older than this mostly finished; the open ones are mostly recent, as in a real city.
SETTLED_AFTER = timedelta(days=7)
SETTLED_ENDINGS = [
    (Status.CLOSED, 85),
    (Status.REJECTED, 4),
    (Status.MERGED, 5),
    (Status.VOIDED, 1),
    (Status.SUSPENDED, 2),
    (Status.IN_PROGRESS, 3),
]
PATH = [
    Status.REPORTED,
    Status.ACCEPTED,
    Status.REGISTERED,
    Status.DISPATCHED,
    Status.IN_PROGRESS,
    Status.RESOLVED,
    Status.VERIFIED,
    Status.CLOSED,
]
REJECT_REASONS = ["不属于本平台受理范围，请咨询相关法院。", "诉求内容不明确，无法核实。"]


@dataclass
class Cast:
    """Who acts in the demo: the city's dispatch centre, and the handler of any unit."""

    dispatcher: Actor
    admin: Actor
    photo_id: str  # a stored photo that on-the-spot resolutions show as proof
    texts: DemoTexts  # what reporters write and units answer

    def handler(self, department: str) -> Actor:
        return Actor(
            name=f"handler@{department}",
            role=Role.HANDLER,
            department_code=department,
            display_name=department,
        )

    def grid_worker(self, username: str, grid: Area) -> Actor:
        return Actor(name=username, role=Role.GRID_WORKER, area_code=grid.code, area_path=grid.path)


def play_demo_cases(
    uow: UnitOfWork,
    ports: CasePorts,
    grids: list[Area],
    workers: dict[str, str],
    count: int,
    seed: int = 2024,
    days: int = 30,
    progress: Callable[[int], None] | None = None,
    hot_spots: bool = False,
) -> dict[Status, int]:
    """COUNT cases reported over the last DAYS days, each played to a chosen ending; with
    HOT_SPOTS also a surge today and a cluster this week for the early warnings to find."""
    rng = random.Random(seed)
    faker = Faker("zh_CN")
    faker.seed_instance(seed)
    routing = ports.routing.fresh(uow)
    leaves = [c for c in routing.categories.values() if c.parent_code and c.active]
    weights = [3 if c.parent_code in ("CR", "SO", "HS", "EP") else 1 for c in leaves]
    cases = CaseRepository(uow.session)
    photo = check_upload(Upload("现场照片.png", demo_photo()), 1, "demo", utcnow())
    AttachmentRepository(uow.session).add(photo)
    unit_names = dict(uow.session.execute(select(departments.c.code, departments.c.name)).all())
    cast = Cast(
        dispatcher=Actor(name="dispatcher", role=Role.DISPATCHER, display_name="12345 分拨中心"),
        admin=Actor(name="admin", role=Role.ADMIN),
        photo_id=photo.id,
        texts=DemoTexts(seed, unit_names, [(grid.code, grid.name) for grid in grids]),
    )
    now = utcnow()
    start = now - timedelta(days=days)
    open_recent: list[Case] = []
    tally: dict[Status, int] = {}
    # The hot spots' cases are part of COUNT, among the others by time.
    extra = demo_hot_spots(routing, grids, now, rng) if hot_spots and count >= 100 else []
    usual = count - len(extra)
    planned = []
    for number in range(usual):
        category = rng.choices(leaves, weights)[0]
        grid = rng.choice(grids)
        # Spread over the period in order, so case numbers grow with time.
        planned.append((category, grid, start + (now - start) * ((number + rng.random()) / usual)))
    if extra:
        planned = sorted([*planned, *extra], key=lambda item: item[2])
    habits = _street_habits(grids)
    for number, (category, grid, created) in enumerate(planned):
        patrol, late = habits[_street_of(grid)]
        weights = [patrol if c is Channel.GRID_WORKER else w for c, w in CHANNELS]
        channel = rng.choices([c for c, _ in CHANNELS], weights)[0]
        endings = SETTLED_ENDINGS if now - created > SETTLED_AFTER else ENDINGS
        ending = rng.choices([s for s, _ in endings], [w for _, w in endings])[0]
        case, reporter_actor = _new_case(
            cases, ports, routing, category, grid, channel, created, rng, faker, workers, cast
        )
        _play(
            cases, ports, routing, case, ending, rng, late, cast, reporter_actor, now, open_recent
        )
        tally[case.status] = tally.get(case.status, 0) + 1
        if case.is_open:
            open_recent.append(case)
            del open_recent[:-200]
        if progress:
            progress(1)
        if number % 250 == 249:
            uow.commit()
    # The month already happened: its answers went out when they were written.
    Outbox(uow.session).mark_all_sent(CASE_KIND)
    uow.commit()
    return tally


def _street_of(grid: Area) -> str:
    return "/".join(grid.path.split("/")[:4]) + "/"


def _street_habits(grids: list[Area]) -> dict[str, tuple[int, float]]:
    streets = sorted({_street_of(grid) for grid in grids})
    return {street: STREET_HABITS[n % len(STREET_HABITS)] for n, street in enumerate(streets)}


def demo_hot_spots(
    routing: RoutingCache, grids: list[Area], now: datetime, rng: random.Random
) -> list[tuple[Category, Area, datetime]]:
    """What the early warnings should find in the demo: twelve noise complaints today in
    one grid (a surge), and street vending in five neighbouring grids, four in each over the
    last five days (a hot spot) — both in the first street, the demo cadre's."""
    leaves = sorted(
        (c for c in routing.categories.values() if c.parent_code and c.active),
        key=lambda c: c.code,
    )
    if not leaves or len(grids) < 3:
        return []
    noise = routing.categories.get("EP01", leaves[0])
    vending = routing.categories.get("SO01", leaves[-1])
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    street = _street_of(grids[0])
    ours = [g for g in grids if g.path.startswith(street)]
    surge_grid = ours[len(ours) // 4]
    planned = [(noise, surge_grid, today + (now - today) * (i + 0.5) / 12) for i in range(12)]
    centre = ours[3 * len(ours) // 4]
    around = [g for g in grids if g is not centre and g.geometry.distance(centre.geometry) < 1e-6]
    for grid in [centre, *around[:4]]:
        for _ in range(4):
            planned.append((vending, grid, now - timedelta(days=5) * rng.random()))
    return sorted(planned, key=lambda item: item[2])


def _new_case(
    cases: CaseRepository,
    ports: CasePorts,
    routing: RoutingCache,
    category: Category,
    grid: Area,
    channel: Channel,
    at: datetime,
    rng: random.Random,
    faker: Faker,
    workers: dict[str, str],
    cast: Cast,
) -> tuple[Case, Actor]:
    point = _point_in(grid, rng)
    route = route_case(
        category,
        chain_of(grid.path),
        routing.rules_for(category),
        routing.unit_for,
        routing.version,
    )
    written = cast.texts.report(category.code, channel.value, grid.code, at)
    worker = workers.get(grid.code)
    reporter_actor = cast.dispatcher
    username = None
    if channel is Channel.GRID_WORKER and worker:
        reporter_actor = cast.grid_worker(worker, grid)
        username = worker
    report = Report(
        channel=channel,
        description=written.description,
        category=category,
        group=routing.categories.get(category.parent_code or ""),
        grid_code=grid.code,
        area_path=grid.path,
        route=route,
        lat=point.y,
        lon=point.x,
        title=written.title,
        reporter_name="" if username else faker.name(),
        reporter_phone="" if username else faker.phone_number(),
    )
    case, reporter, event = report.open(reporter_actor, at)
    cases.add(case)
    cases.session.flush()
    cast.texts.remember(case.id, written)
    reporter.case_id = case.id
    cases.add_reporter(reporter)
    cases.add_event(case, event)
    cases.session.flush()
    notify(cases, case, event, ports, [reporter])
    return case, reporter_actor


def _point_in(grid: Area, rng: random.Random) -> shapely.Point:
    min_x, min_y, max_x, max_y = grid.geometry.bounds
    for _ in range(50):
        x, y = rng.uniform(min_x, max_x), rng.uniform(min_y, max_y)
        if grid.geometry.contains(shapely.Point(x, y)):
            return shapely.Point(x, y)
    return grid.geometry.representative_point()


def _play(
    cases: CaseRepository,
    ports: CasePorts,
    routing: RoutingCache,
    case: Case,
    ending: Status,
    rng: random.Random,
    late: float,
    cast: Cast,
    reporter: Actor,
    now: datetime,
    open_recent: list[Case],
) -> None:
    """Take the case through its lifecycle up to ENDING, never past the present; each
    step runs past its time limit with the chance LATE."""
    clock = case.created_at

    def step(command: Command, actor: Actor, share: float | None = None) -> bool:
        nonlocal clock
        hours = 0.5
        if case.deadline_at is not None and case.step_started_at is not None:
            allowed = (case.deadline_at - case.step_started_at).total_seconds() / 3600
            if share is None:
                share = LATE_SHARE if rng.random() < late else rng.choice(ON_TIME_SHARES)
            hours = allowed * share
        moment = clock + timedelta(hours=max(hours, 0.05))
        if moment >= now:
            return False
        if case.deadline_at is not None and moment > case.deadline_at and not case.overdue:
            cases.add_event(case, case.mark_overdue(case.deadline_at))
        clock = moment
        event = case.apply(command, actor, clock)
        cases.add_event(case, event)
        notify(cases, case, event, ports)
        return True

    if (
        case.channel is Channel.GRID_WORKER
        and reporter.role is Role.GRID_WORKER
        and rng.random() < 0.3
    ) and ending in (Status.CLOSED, Status.VERIFIED, Status.RESOLVED):
        step(
            Command(
                Action.RESOLVE_ON_SPOT,
                note=cast.texts.on_the_spot(case.id, clock),
                attachments=[cast.photo_id],
            ),
            reporter,
            0.2,
        )
        return
    target = PATH.index(ending) if ending in PATH else len(PATH)
    if ending is Status.REJECTED:
        step(Command(Action.REJECT, reason=rng.choice(REJECT_REASONS)), cast.dispatcher)
        return
    if ending is Status.MERGED and open_recent:
        same = [
            c
            for c in open_recent[-50:]
            if c.category_code == case.category_code and c.id != case.id
        ]
        if same:
            step(Command(Action.MERGE, into=rng.choice(same).id), cast.dispatcher, 0.2)
            return
    if ending is Status.VOIDED:
        step(Command(Action.VOID, reason="重复录入，作废"), cast.admin, 0.2)
        return
    if target >= 1 and not step(Command(Action.ACCEPT), cast.dispatcher):
        return
    if target >= 2 and not step(Command(Action.REGISTER), cast.dispatcher):
        return
    if target < 3 and ending not in (Status.SUSPENDED,):
        return
    department = case.suggested_department_code or _any_unit(routing, case)
    if department is None:
        return
    units = [u for u in _units_near(routing, case) if u != department]
    if len(units) >= 1 and rng.random() < 0.07:
        summoned = [department, *rng.sample(units, min(2, len(units)))]
        if not step(
            Command(
                Action.WHISTLE,
                departments=summoned,
                lead=department,
                reason="涉及多个部门职责，需联合处置",
            ),
            cast.dispatcher,
        ):
            return
        for co in summoned[1:]:
            if not step(Command(Action.CHECK_IN, note="已到场"), cast.handler(co), 0.2):
                return
    elif not step(Command(Action.DISPATCH, department=department), cast.dispatcher):
        return
    handler = cast.handler(department)
    if target < 4 and ending is not Status.SUSPENDED:
        return
    if rng.random() < 0.04 and next_level_up(case.handling_level) is not None:
        # The unit lacks authority: the case goes a level up and is dispatched again there.
        category = routing.categories[case.category_code]
        level = next_level_up(case.handling_level)
        assert level is not None
        rules = routing.rules_for(category, case.rule_version)
        route = route_at(
            level, category, chain_of(case.area_path), rules, routing.unit_for, case.rule_version
        )
        if not step(
            Command(Action.ESCALATE, reason="超出本级职权，申请上级协调", route=route), handler, 0.3
        ):
            return
        department = case.suggested_department_code or _any_unit(routing, case)
        if department is None or not step(
            Command(Action.DISPATCH, department=department), cast.dispatcher
        ):
            return
        handler = cast.handler(department)
    if not step(Command(Action.START), handler):
        return
    if ending is Status.SUSPENDED:
        step(
            Command(Action.SUSPEND, reason="涉及历史遗留问题，需纳入明年改造计划"), cast.dispatcher
        )
        return
    if rng.random() < 0.05:
        hours = min(48.0, case.longest_extension())  # at most the rule's handling time
        extension = Command(Action.REQUEST_EXTENSION, reason="需采购配件", hours=hours)
        if not step(extension, handler, 0.5):
            return
        if not step(Command(Action.APPROVE_EXTENSION), cast.dispatcher, 0.05):
            return
    if target < 5:
        return
    reply = cast.texts.reply(case.id, department, clock)
    if not step(Command(Action.RESOLVE, note=reply), handler):
        return
    if rng.random() < 0.08:
        if not step(Command(Action.REWORK, reason="现场核查问题仍存在"), cast.dispatcher):
            return
        again = "已返工处理完毕。" + cast.texts.reply(case.id, department, clock)
        if not step(Command(Action.RESOLVE, note=again), handler):
            return
    if target < 6 or not step(Command(Action.VERIFY), cast.dispatcher):
        return
    if target < 7 or not step(Command(Action.CLOSE), cast.dispatcher):
        return
    if rng.random() < 0.7:
        score = rng.choices([5, 4, 3, 2, 1], [55, 25, 10, 6, 4])[0]
        step(Command(Action.RATE, satisfaction=score, note="回访"), cast.dispatcher, 0.1)


def _any_unit(routing: RoutingCache, case: Case) -> str | None:
    for (area, _function), code in routing.unit_for.items():
        if area == case.handling_area_code:
            return code
    return None


def _units_near(routing: RoutingCache, case: Case) -> list[str]:
    return sorted(
        {code for (area, _), code in routing.unit_for.items() if area == case.handling_area_code}
    )


def demo_photo(width: int = 96, height: int = 64) -> bytes:
    """A small PNG (a green-and-grey street scene in blocks), made here so the demo
    needs no image files."""
    import struct
    import zlib

    rows = []
    for y in range(height):
        row = bytearray([0])
        for x in range(width):
            sky = y < height // 3
            road = y > 2 * height // 3
            color = (170, 200, 230) if sky else (90, 90, 95) if road else (70 + x % 40, 140, 80)
            row.extend(color)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"".join(rows)))
        + chunk(b"IEND", b"")
    )
