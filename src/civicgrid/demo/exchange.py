"""The demo city's data sharing (部门—平台—部门): the catalogue its units publish — the
registry's people, houses, organisations and standard addresses, the cases, two units' own
files and the yes/no questions — graded and classed, and a few weeks of real requests and
grants between units: some approved, one narrowed by the owner, one that also needed the
data administrator, one refused, one expired on its date, one revoked, two still waiting
(one of them late), with reads, an export and questions in the audit trail."""

from __future__ import annotations

import csv
import tempfile
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from civicgrid.accounts.services import NewUser, add_user
from civicgrid.areas.domain import Level
from civicgrid.areas.repository import AreaRepository, DepartmentRepository
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.i18n import city_day
from civicgrid.core.permissions import ADMIN_ROLES, Actor, Role, permission
from civicgrid.core.security import generate_password, hash_password
from civicgrid.demo.registry import credit_codes, write_csv
from civicgrid.exchange import services as exchange
from civicgrid.exchange.domain import (
    Frequency,
    Grade,
    GrantState,
    Question,
    RequestAction,
    RequestState,
    ShareClass,
    SourceKind,
)
from civicgrid.exchange.masking import FieldType, Personal
from civicgrid.exchange.ports import ExchangePorts
from civicgrid.exchange.services import FieldIn, NewDataset, RowRequest, TermsIn

G, IMPORTANT, CORE = Grade.GENERAL, Grade.IMPORTANT, Grade.CORE
NONE, PERSONAL, SENSITIVE = Personal.NONE, Personal.PERSONAL, Personal.SENSITIVE
T = FieldType


def f(
    name: str,
    kind: FieldType,
    zh: str,
    en: str,
    grade: Grade = G,
    personal: Personal = NONE,
    column: str = "",
) -> FieldIn:
    return FieldIn(name, column or name, kind, zh, en, grade, personal)


def catalogue(city: str, district: str) -> list[NewDataset]:
    """The datasets the demo city's units publish (CITY and DISTRICT: area codes)."""
    answer = [f("answer", T.TEXT, "是、否或无法确定", "yes, no or unknown", G, PERSONAL)]
    questions = [
        (Question.LIVES_AT, "居住地核验", "Lives at an address", f"{city}-GAJ"),
        (
            Question.REGISTERED_IN,
            "户籍所在地核验",
            "Household registered in an area",
            f"{city}-GAJ",
        ),
        (Question.AGE_AT_LEAST, "年龄核验（是否满N周岁）", "Age at least N", f"{city}-GAJ"),
        (
            Question.ORGANISATION_ACTIVE,
            "单位登记状态核验",
            "Organisation registered",
            f"{city}-SJJ",
        ),
    ]
    return [
        NewDataset(
            code="people",
            owner_unit=f"{city}-GAJ",
            title_zh="实有人口",
            title_en="Actual population",
            description_zh="公安户籍与流动人口登记，经网格采集补充，按人链接（一标三实）。",
            description_en="Registered and floating population from public security and the "
            "grid workers' collection, linked per person.",
            source_kind=SourceKind.REGISTRY,
            source_name="people",
            share_class=ShareClass.CONDITIONAL,
            frequency=Frequency.DAILY,
            key_field="id_hash",
            grid_field="grid_code",
            fields=[
                f("name", T.NAME, "姓名", "Name", G, PERSONAL),
                f("id_masked", T.IDENTITY, "公民身份号码", "Identity number", IMPORTANT, SENSITIVE),
                f(
                    "id_hash",
                    T.KEY_HASH,
                    "身份号码密钥哈希",
                    "Keyed hash of the identity number",
                    G,
                    PERSONAL,
                ),
                f("sex", T.TEXT, "性别", "Sex", G, PERSONAL),
                f("birth_date", T.DATE, "出生日期", "Date of birth", G, PERSONAL),
                f("phone", T.PHONE, "联系电话", "Phone", G, PERSONAL),
                f(
                    "residence",
                    T.TEXT,
                    "人员类型（户籍/流动）",
                    "Registered or floating",
                    G,
                    PERSONAL,
                ),
                f("household_address", T.ADDRESS, "户籍地址", "Household address", G, PERSONAL),
                f("address_text", T.ADDRESS, "现住址", "Current address", G, PERSONAL),
                f("grid_code", T.GRID, "所在网格", "Grid"),
                f("care_tags", T.TEXT, "关怀类型", "Care groups", IMPORTANT, SENSITIVE),
            ],
        ),
        NewDataset(
            code="houses",
            owner_unit=f"{city}-ZJJ",
            title_zh="实有房屋",
            title_en="Houses",
            description_zh="房屋类型、面积、核定居住人数与产权人。",
            description_en="Kind, floor area, occupancy limit and owner of each house.",
            source_kind=SourceKind.REGISTRY,
            source_name="houses",
            share_class=ShareClass.UNCONDITIONAL,
            frequency=Frequency.MONTHLY,
            grid_field="grid_code",
            fields=[
                f("address_text", T.ADDRESS, "房屋地址", "Address"),
                f("kind", T.TEXT, "房屋类型", "Kind"),
                f("area_m2", T.NUMBER, "建筑面积（平方米）", "Floor area (m²)"),
                f("occupancy_limit", T.INTEGER, "核定居住人数", "Occupancy limit"),
                f("owner_name", T.NAME, "产权人", "Owner", G, PERSONAL),
                f("owner_phone", T.PHONE, "产权人电话", "Owner's phone", G, PERSONAL),
                f("grid_code", T.GRID, "所在网格", "Grid"),
            ],
        ),
        NewDataset(
            code="organisations",
            owner_unit=f"{city}-SJJ",
            title_zh="实有单位",
            title_en="Organisations",
            description_zh="市场主体登记与网格采集的单位、个体工商户。",
            description_en="Registered organisations and the shops the grid workers found.",
            source_kind=SourceKind.REGISTRY,
            source_name="organisations",
            share_class=ShareClass.UNCONDITIONAL,
            frequency=Frequency.WEEKLY,
            key_field="credit_code",
            grid_field="grid_code",
            fields=[
                f("name", T.TEXT, "单位名称", "Name"),
                f("credit_code", T.CREDIT_CODE, "统一社会信用代码", "Credit code"),
                f("kind", T.TEXT, "单位类型", "Kind"),
                f("address_text", T.ADDRESS, "单位地址", "Address"),
                f("contact_name", T.NAME, "联系人", "Contact", G, PERSONAL),
                f("contact_phone", T.PHONE, "联系电话", "Contact phone", G, PERSONAL),
                f("grid_code", T.GRID, "所在网格", "Grid"),
            ],
        ),
        NewDataset(
            code="addresses",
            owner_unit=f"{city}-MZJ",
            title_zh="标准地址",
            title_en="Standard addresses",
            description_zh="地名管理的标准地址及其坐标、网格。",
            description_en="The standard addresses, their points and grids.",
            source_kind=SourceKind.REGISTRY,
            source_name="addresses",
            share_class=ShareClass.UNCONDITIONAL,
            frequency=Frequency.MONTHLY,
            grid_field="grid_code",
            fields=[
                f("text", T.ADDRESS, "标准地址", "Address"),
                f("street", T.TEXT, "街道", "Street"),
                f("community", T.TEXT, "社区", "Community"),
                f("lat", T.NUMBER, "纬度", "Latitude"),
                f("lon", T.NUMBER, "经度", "Longitude"),
                f("grid_code", T.GRID, "所在网格", "Grid"),
            ],
        ),
        NewDataset(
            code="cases",
            owner_unit=f"{city}-CGJ",
            title_zh="城市管理事件",
            title_en="City management cases",
            description_zh="12345 与网格上报的事件：类别、状态、网格、时间与满意度（不含报事人）。",
            description_en="Cases from 12345 and the grids: category, state, grid, times and "
            "rating (no reporters).",
            source_kind=SourceKind.CASES,
            share_class=ShareClass.UNCONDITIONAL,
            frequency=Frequency.REALTIME,
            grid_field="grid_code",
            fields=[
                f("category_code", T.TEXT, "事件类别", "Category"),
                f("status", T.TEXT, "状态", "State"),
                f("title", T.TEXT, "标题", "Title"),
                f("grid_code", T.GRID, "所在网格", "Grid"),
                f("department_code", T.TEXT, "主办单位", "Lead unit"),
                f("created_at", T.DATETIME, "上报时间", "Reported"),
                f("closed_at", T.DATETIME, "结案时间", "Closed"),
                f("satisfaction", T.INTEGER, "满意度", "Rating"),
            ],
        ),
        NewDataset(
            code="street-vending",
            owner_unit=f"{district}-CGJ",
            title_zh="占道经营点位台账",
            title_en="Street vending points",
            description_zh="城管巡查登记的占道经营点位与经营者。",
            description_en="Street vending points and their vendors, as patrols recorded them.",
            source_kind=SourceKind.FILE,
            share_class=ShareClass.CONDITIONAL,
            frequency=Frequency.MONTHLY,
            key_field="point",
            grid_field="grid_code",
            fields=[
                f("point", T.TEXT, "点位编号", "Point", column="点位编号"),
                f("address", T.ADDRESS, "地址", "Address", column="地址"),
                f("grid_code", T.GRID, "网格编码", "Grid", column="网格编码"),
                f("kind", T.TEXT, "经营类型", "Trade", column="经营类型"),
                f("vendor", T.NAME, "经营者", "Vendor", G, PERSONAL, column="经营者"),
                f("phone", T.PHONE, "联系电话", "Phone", G, PERSONAL, column="联系电话"),
                f("checked_on", T.DATE, "巡查日期", "Checked on", column="巡查日期"),
            ],
        ),
        NewDataset(
            code="care-homes",
            owner_unit=f"{city}-MZJ",
            title_zh="养老服务机构名录",
            title_en="Elderly care homes",
            description_zh="备案的养老服务机构：床位、电话与开业日期。",
            description_en="Registered elderly care homes: beds, phone and opening date.",
            source_kind=SourceKind.FILE,
            share_class=ShareClass.UNCONDITIONAL,
            frequency=Frequency.QUARTERLY,
            key_field="credit_code",
            grid_field="grid_code",
            fields=[
                f("name", T.TEXT, "机构名称", "Name", column="机构名称"),
                f(
                    "credit_code",
                    T.CREDIT_CODE,
                    "统一社会信用代码",
                    "Credit code",
                    column="统一社会信用代码",
                ),
                f("address", T.ADDRESS, "地址", "Address", column="地址"),
                f("grid_code", T.GRID, "网格编码", "Grid", column="网格编码"),
                f("beds", T.INTEGER, "床位数", "Beds", column="床位数"),
                f("phone", T.PHONE, "咨询电话", "Phone", column="咨询电话"),
                f("opened_on", T.DATE, "开业日期", "Opened on", column="开业日期"),
            ],
        ),
        NewDataset(
            code="key-persons",
            owner_unit=f"{city}-GAJ",
            title_zh="重点人员管控名单",
            title_en="Persons under watch",
            description_zh="涉及国家安全与公共安全，不予共享。",
            description_en="Bears on national and public security: not to be shared.",
            source_kind=SourceKind.FILE,
            share_class=ShareClass.NOT_SHARED,
            frequency=Frequency.DAILY,
            fields=[
                f("name", T.NAME, "姓名", "Name", CORE, PERSONAL, column="姓名"),
                f(
                    "id_number",
                    T.IDENTITY,
                    "公民身份号码",
                    "Identity number",
                    CORE,
                    SENSITIVE,
                    column="公民身份号码",
                ),
                f("grid_code", T.GRID, "所在网格", "Grid", column="网格编码"),
            ],
        ),
        *(
            NewDataset(
                code=f"q-{question.value.replace('_', '-')}",
                owner_unit=owner,
                title_zh=zh,
                title_en=en,
                description_zh="免证明核验：只回答是、否或无法确定，不提供数据。",
                description_en="Verified without a certificate: the answer is yes, no or unknown, "
                "never the data.",
                source_kind=SourceKind.QUESTION,
                source_name=question.value,
                share_class=ShareClass.CONDITIONAL,
                frequency=Frequency.DAILY,
                fields=answer,
            )
            for question, zh, en, owner in questions
        ),
    ]


@dataclass(frozen=True)
class DemoExchange:
    datasets: int
    requests: dict[RequestState, int]
    grants: dict[GrantState, int]
    staff_password: str  # of every unit's exchange account ("x.<unit code>")
    staff: list[str]
    # A resident whose records the units read (her account is her mobile number, its
    # password the units' password), and the identity number she gives on the page of
    # who read her data (是谁查看了我的信息); None without the registry's files.
    resident: tuple[str, str] | None = None


def _files(folder: Path, grids: list[str], rng: np.random.Generator, today: str) -> dict[str, Path]:
    """The two units' files: vending points (with a bad phone, an unknown grid and a point
    written twice, kept for correction) and care homes (one mistyped credit code)."""
    kinds = ["早餐摊点", "水果摊", "烧烤摊", "小商品", "修鞋配钥匙"]
    surnames = "王李张刘陈杨黄赵吴周"
    given = "伟明华建国丽静敏芳强"
    vending = []
    for i in range(1, 61):
        grid = grids[int(rng.integers(0, len(grids)))]
        name = surnames[int(rng.integers(0, 10))] + "".join(
            given[int(j)] for j in rng.integers(0, 10, int(rng.integers(1, 3)))
        )
        phone = "13" + "".join(str(int(d)) for d in rng.integers(0, 10, 9))
        vending.append((f"ZD{i:04d}", f"建设路{i}号门前", grid, kinds[i % 5], name, phone, today))
    vending.append(("ZD0061", "文化路8号", grids[0], "水果摊", "刘强", "1380013", today))
    vending.append(
        ("ZD0062", "和平路2号", "990199999999", "早餐摊点", "陈丽", "13800138000", today)
    )
    vending.append(("ZD0003", "解放路5号", grids[1], "小商品", "赵敏", "13900139000", today))
    header = ["点位编号", "地址", "网格编码", "经营类型", "经营者", "联系电话", "巡查日期"]
    codes = credit_codes(rng, 12)
    homes = [
        (
            f"{['康乐', '福寿', '颐和', '夕阳红', '安康', '松鹤'][i % 6]}养老院{i + 1}",
            codes[i],
            f"幸福路{10 + i}号",
            grids[int(rng.integers(0, len(grids)))],
            int(rng.integers(20, 200)),
            f"028-8{int(rng.integers(1000000, 9999999))}",
            f"20{10 + i}-0{1 + i % 9}-15",
        )
        for i in range(11)
    ]
    homes.append(
        (
            "晚晴养老中心",
            codes[11][:-1] + ("0" if codes[11][-1] != "0" else "1"),
            "中山路3号",
            grids[2],
            60,
            "028-85550001",
            "2019-05-01",
        )
    )
    return {
        "street-vending": write_csv(folder / "城管_占道经营点位.csv", header, vending),
        "care-homes": write_csv(
            folder / "民政_养老服务机构.csv",
            ["机构名称", "统一社会信用代码", "地址", "网格编码", "床位数", "咨询电话", "开业日期"],
            homes,
        ),
    }


def _police_rows(folder: Path | None) -> list[list[str]]:
    """The first few people of public security's demo file (name, identity number, sex,
    birth date, phone, address, …): the first of the records the units read."""
    path = folder / "公安_实有人口.csv" if folder is not None else None
    if path is None or not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    return rows[1:4]


def _police_people(folder: Path | None) -> list[tuple[str, str]]:
    """(identity number, address) of a few people in public security's demo file."""
    return [(row[1], row[5]) for row in _police_rows(folder)]


@permission(ADMIN_ROLES, "Publish the demo city's datasets and play its share requests")
def install_demo_exchange(
    uow: UnitOfWork,
    actor: Actor,
    ports: ExchangePorts,
    *,
    folder: Path | None = None,
    seed: int = 11,
) -> DemoExchange:
    """The catalogue, the units' files, an account for each unit that shares ("x.<unit
    code>", one password), and a few weeks of requests and grants played with the clock
    set back: narrowed, approved by the owner and by the data administrator, refused,
    expired, revoked, and two waiting (one late). FOLDER holds the registry's demo files,
    whose people the demo's yes/no questions ask after."""
    rng = np.random.default_rng(seed)
    areas = AreaRepository(uow.session)
    city = areas.list(level=Level.CITY)[0].code
    district = min(a.code for a in areas.list(level=Level.DISTRICT))
    grids = sorted(a.code for a in areas.list(level=Level.GRID))
    units = {d.code for d in DepartmentRepository(uow.session).list()}
    staff = [f"{city}-{suffix}" for suffix in ("GAJ", "ZJJ", "SJJ", "MZJ", "CGJ", "WJW", "JTJ")] + [
        f"{district}-{suffix}" for suffix in ("CGJ", "SJJ", "MZJ")
    ]
    staff = [u for u in staff if u in units]
    password = generate_password()
    hashed = hash_password(password)
    people: dict[str, Actor] = {}
    for unit in staff:
        username = f"x.{unit}".lower()
        add_user(
            uow,
            actor,
            NewUser(username, Role.HANDLER.value, password, department_code=unit),
            password_hash=hashed,
        )
        people[unit] = Actor(username, Role.HANDLER, department_code=unit)
    data_unit = next((u for u in units if u.endswith("-SJGLJ")), None)
    data_admin = Actor("data_admin", Role.DATA_ADMIN, department_code=data_unit)

    now = ports.clock()
    today = city_day(now, ports.timezone)

    def at(days: float) -> datetime:
        return now - timedelta(days=days)

    def day(offset: int) -> datetime:
        return now + timedelta(days=offset)

    made = {}
    for definition in catalogue(city, district):
        dataset = exchange.register_dataset(uow, actor, definition, now=at(70))
        made[dataset.code] = dataset.id or 0
    where = folder or Path(tempfile.mkdtemp(prefix="civicgrid-demo-exchange-"))
    for code, path in _files(where, grids, rng, today.isoformat()).items():
        owner = people.get(next(d.owner_unit for d in catalogue(city, district) if d.code == code))
        exchange.upload_rows(uow, owner or actor, ports, made[code], path, path.name)
    exchange.refresh_quality(uow, actor, ports, everything=True)

    def ask(
        unit: str,
        code: str,
        fields: list[tuple[str, str | None]],
        purpose: str,
        days_ago: float,
        *,
        area: str = "",
        starts: int = 0,
        ends: int = 180,
    ) -> int:
        when = at(days_ago)
        terms = TermsIn(
            fields,
            city_day(when + timedelta(days=starts), ports.timezone),
            city_day(when + timedelta(days=ends), ports.timezone),
            area_code=area,
        )
        request = exchange.ask(uow, people[unit], ports, made[code], terms, purpose, now=when)
        return request.id or 0

    def decide(
        unit: str | Actor,
        request_id: int,
        action: RequestAction,
        days_ago: float,
        reason: str = "",
        narrowed: TermsIn | None = None,
    ) -> None:
        who = unit if isinstance(unit, Actor) else people[unit]
        exchange.decide(uow, who, ports, request_id, action, reason, narrowed, now=at(days_ago))

    gaj, mzj, wjw, jtj = (f"{city}-{s}" for s in ("GAJ", "MZJ", "WJW", "JTJ"))
    zjj, sjj, cgj = (f"{city}-{s}" for s in ("ZJJ", "SJJ", "CGJ"))
    d_cgj, d_sjj, d_mzj = (f"{district}-{s}" for s in ("CGJ", "SJJ", "MZJ"))

    # 民政 asks for people to check subsistence allowances; public security narrows it.
    subsidy = ask(
        mzj,
        "people",
        [
            ("name", "name"),
            ("phone", "phone"),
            ("birth_date", "age_band"),
            ("address_text", "community"),
            ("residence", "full"),
            ("care_tags", "hash"),
        ],
        "最低生活保障和特困人员救助对象年度核查",
        9,
    )
    decide(
        gaj,
        subsidy,
        RequestAction.NARROW,
        6,
        "关怀类型属敏感个人信息，本次核查用不到；电话只需尾号核对",
        TermsIn(
            [
                ("name", "name"),
                ("phone", "last:4"),
                ("birth_date", "age_band"),
                ("address_text", "community"),
                ("residence", "full"),
            ],
            city_day(at(9), ports.timezone),
            city_day(at(9) + timedelta(days=180), ports.timezone),
        ),
    )
    # The district's urban management asks market regulation for the organisations of its
    # district (to tell shops of their 门前三包 duties): approved as asked.
    shops = ask(
        d_cgj,
        "organisations",
        [
            ("name", "full"),
            ("credit_code", "full"),
            ("kind", "full"),
            ("address_text", "full"),
            ("contact_name", None),
            ("contact_phone", None),
            ("grid_code", "full"),
        ],
        "门前三包责任告知与占道经营联合执法",
        4,
        area=district,
    )
    decide(sjj, shops, RequestAction.APPROVE, 3)
    # Health asks for the care groups: sensitive, so the data administrator approves too.
    doctors = ask(
        wjw,
        "people",
        [("id_hash", "full"), ("birth_date", "year"), ("care_tags", "full"), ("grid_code", "full")],
        "家庭医生签约服务：独居老人、残疾人等重点人群上门对接",
        8,
    )
    decide(gaj, doctors, RequestAction.APPROVE, 6)
    decide(data_admin, doctors, RequestAction.APPROVE, 5)
    # Transport asks for names and phones to send messages: refused.
    messages = ask(
        jtj,
        "people",
        [("name", "full"), ("phone", "full")],
        "向市民群发出行提示短信",
        3,
    )
    decide(
        gaj,
        messages,
        RequestAction.REFUSE,
        2,
        "用途不需要完整姓名和手机号；请通过12345短信平台按区域群发",
    )
    # Housing read the cases for last month's rental checks; the grant has since expired.
    rentals = ask(
        zjj,
        "cases",
        [
            ("category_code", "full"),
            ("status", "full"),
            ("grid_code", "full"),
            ("created_at", "full"),
        ],
        "群租房专项整治：核对相关投诉事件",
        62,
        starts=0,
        ends=58,
    )
    decide(cgj, rentals, RequestAction.APPROVE, 61)
    # The city's urban management had the care homes; civil affairs revoked it.
    homes = ask(
        cgj,
        "care-homes",
        [("name", "full"), ("address", "full"), ("grid_code", "full"), ("beds", "full")],
        "养老机构周边环境整治",
        20,
    )
    decide(mzj, homes, RequestAction.APPROVE, 19)
    # The district's civil affairs may ask two yes/no questions at its counter (免证明).
    for question in ("q-age-at-least", "q-lives-at"):
        asked = ask(d_mzj, question, [("answer", "full")], "高龄津贴与居住证明免证明办理", 12)
        decide(gaj, asked, RequestAction.APPROVE, 11)
    # Waiting: market regulation asks the district's urban management for its vending
    # points (asked two working days ago), and the district's urban management asks public
    # security for people in its district (asked eight days ago: late).
    ask(
        d_sjj,
        "street-vending",
        [
            ("point", "full"),
            ("address", "full"),
            ("kind", "full"),
            ("vendor", None),
            ("phone", None),
        ],
        "无证无照经营联合整治",
        2,
    )
    ask(
        d_cgj,
        "people",
        [("name", "name"), ("address_text", "full"), ("grid_code", "full")],
        "违法建设当事人身份核实",
        8,
        area=district,
    )
    homes_grant = exchange.get_request(uow, data_admin, homes).grant_id
    if homes_grant is not None:
        exchange.revoke(
            uow, people[mzj], ports, homes_grant, "名录按季度更新，请重新申请新一季数据", now=at(1)
        )
    # The clock: housing's grant of the cases has ended, the district's request is late.
    exchange.tick(uow, actor, ports, now=now)
    # What was read: a page under each of two grants, and questions at the counter.
    exchange.read(uow, people[mzj], ports, made["people"], RowRequest(limit=50))
    exchange.read(uow, people[d_cgj], ports, made["organisations"], RowRequest(limit=50))
    for number, address in _police_people(folder):
        asker = people[d_mzj]
        try:
            exchange.verify(
                uow, asker, ports, "age_at_least", {"identity_number": number, "age": "60"}
            )
            exchange.verify(
                uow, asker, ports, "lives_at", {"identity_number": number, "address": address}
            )
        except CivicGridError:
            continue  # a number the registry refused on import: nothing to ask after
    # The first of those people has an account: on the page of who read her data she
    # finds civil affairs' read under its grant and the counter's questions about her.
    resident = None
    for row in _police_rows(folder)[:1]:
        name, number, phone = row[0], row[1], row[4]
        add_user(
            uow,
            actor,
            NewUser(phone, Role.RESIDENT.value, password, display_name=name, phone=phone),
            password_hash=hashed,
        )
        resident = (phone, number)
    requests = Counter(r.state for r in exchange.list_requests(uow, data_admin))
    grants = Counter(g.state for g in exchange.list_grants(uow, data_admin))
    uow.commit()  # ends the reads' transaction: what the caller holds stays loaded
    return DemoExchange(
        len(made),
        dict(requests),
        dict(grants),
        password,
        [f"x.{u}".lower() for u in staff],
        resident,
    )
