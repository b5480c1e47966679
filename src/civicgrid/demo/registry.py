"""Department files for the demo registry (一标三实), made with numpy so a million rows take
seconds: the standard addresses of a city's grids, and what three departments hold about the
same people and houses, with the disagreements real exports have.

- public security (公安, 户籍): every person with a checked identity number, the registered
  name and birth date, the household address, registered or floating with dates;
- the housing office (住建): houses at the standard addresses (kind, floor area, occupancy
  limit, owner), written in the office's own way ("南池子大街12号3-2-501");
- the grid workers' collection (网格采集): the people they met, with the current phone and
  care tags, some names written with a homophone, some birth dates left out, a few
  identity numbers mistyped (rejected on import: the check digit fails).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from civicgrid.registry.identifiers import CREDIT_ALPHABET, credit_check_character

SURNAMES = list(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛"
)
GIVEN = list(
    "伟明华建国志刚斌辉鹏飞宇浩凯晨峰波成龙林超亮春东轩睿涛强磊洋勇杰俊海平文丽静敏洁艳娟霞芳娜秀英玲婷雪慧红萍欣怡佳雅梅兰云晓涵梓萱思琪颖倩月彤淑"
)
# Homophones a grid worker may write instead (the linkage later has to see through them).
HOMOPHONES = dict(zip("明华建伟丽静敏芳婷杰", "铭骅健玮莉婧珉方亭洁", strict=True))
ROADS = [
    *("人民", "解放", "建设", "中山", "和平", "文化", "新华", "胜利", "光明", "长江"),
    *("黄河", "青年", "东风", "朝阳", "红星", "幸福", "团结", "友谊", "北京", "南京"),
]
ROAD_KINDS = ["路", "大街", "街", "巷"]
ESTATES = [
    *("锦绣苑", "阳光花园", "金色家园", "翠湖小区"),
    *("幸福里小区", "滨江花园", "枫林苑", "书香园"),
]
REGIONS = np.array(["110105", "110108", "310104", "440106", "510107", "330106", "420111"])
CARE_TAGS = np.array(["独居老人", "空巢老人", "残疾人", "留守儿童", "低保户"])
PHONE_PREFIXES = np.array(["138", "139", "158", "186", "137", "150", "189", "133"])
_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_CHECK = np.array(list("10X98765432"))


@dataclass(frozen=True)
class DemoAddress:
    door: str  # 人民路1号
    estate: str
    building: int
    unit: int
    room: int
    grid_code: str
    lat: float
    lon: float

    @property
    def text(self) -> str:
        return f"{self.door}{self.estate}{self.building}栋{self.unit}单元{self.room}室"

    @property
    def shorthand(self) -> str:
        """How the housing office writes it: 人民路1号3-2-501."""
        return f"{self.door}{self.building}-{self.unit}-{self.room}"


ROOMS_PER_BUILDING = 24


def grid_door(index: int) -> tuple[str, int, str]:
    """The road, door number and estate of the INDEXth grid's addresses."""
    road = ROADS[index % len(ROADS)] + ROAD_KINDS[(index // len(ROADS)) % len(ROAD_KINDS)]
    door = 1 + index // (len(ROADS) * len(ROAD_KINDS))
    return road, door, ESTATES[index % len(ESTATES)]


def standard_addresses(
    grids: Sequence[tuple[str, float, float]],
    per_grid: int,
    seed: int = 11,
    places: Mapping[tuple[str, int], tuple[float, float]] | None = None,
) -> list[DemoAddress]:
    """PER_GRID rooms in each grid (code, lon, lat of a point inside it): a road and door
    per grid, buildings, units and rooms at it. PLACES: where each building stands (grid
    code, building number → lon, lat; demo.streets), else near the grid's point."""
    rng = np.random.default_rng(seed)
    found: list[DemoAddress] = []
    for index, (code, lon, lat) in enumerate(grids):
        road, door, estate = grid_door(index)
        for n in range(per_grid):
            building, rest = divmod(n, ROOMS_PER_BUILDING)
            unit, room = divmod(rest, 8)
            floor, flat = divmod(room, 2)
            placed = (places or {}).get((code, building + 1))
            if placed is None:
                jitter = rng.normal(0, 0.0003, 2)
                where = (float(lon + jitter[0]), float(lat + jitter[1]))
            else:
                jitter = rng.normal(0, 0.00002, 2)  # a couple of metres: the same block
                where = (float(placed[0] + jitter[0]), float(placed[1] + jitter[1]))
            found.append(
                DemoAddress(
                    f"{road}{door}号",
                    estate,
                    building + 1,
                    unit + 1,
                    (floor + 1) * 100 + flat + 1,
                    code,
                    where[1],
                    where[0],
                )
            )
    return found


def identity_numbers(rng: np.random.Generator, born: NDArray[np.str_], n: int) -> NDArray[np.str_]:
    """N valid 18-digit numbers for the birth dates BORN (YYYYMMDD)."""
    regions = REGIONS[rng.integers(0, len(REGIONS), n)]
    sequence = np.char.zfill(rng.integers(0, 1000, n).astype(str), 3)
    first17 = np.char.add(np.char.add(regions, born), sequence)
    digits = np.frombuffer(first17.astype("S17").tobytes(), dtype=np.uint8).reshape(n, 17) - 48
    return np.char.add(first17, _CHECK[(digits.astype(np.int64) @ _WEIGHTS) % 11])


@dataclass
class People:
    """N people as columns of strings."""

    name: NDArray[np.str_]
    id_number: NDArray[np.str_]
    sex: NDArray[np.str_]
    birth: NDArray[np.str_]  # YYYY-MM-DD
    phone: NDArray[np.str_]
    address: NDArray[np.str_]
    floating: NDArray[np.bool_]
    registered_on: NDArray[np.str_]
    expires_on: NDArray[np.str_]
    care: NDArray[np.str_]

    def __len__(self) -> int:
        return len(self.name)


def make_people(n: int, addresses: Sequence[str], today: date, seed: int = 5) -> People:
    rng = np.random.default_rng(seed)
    surnames = np.array(SURNAMES)[rng.integers(0, len(SURNAMES), n)]
    given = np.array(GIVEN)
    first = given[rng.integers(0, len(given), n)]
    second = np.where(rng.random(n) < 0.7, given[rng.integers(0, len(given), n)], "")
    names = np.char.add(np.char.add(surnames, first), second)
    start = np.datetime64("1935-01-01")
    days = rng.integers(0, (np.datetime64(today.isoformat()) - start).astype(int) - 1, n)
    born = np.datetime_as_string(start + days.astype("timedelta64[D]"), unit="D")
    ids = identity_numbers(rng, np.char.replace(born, "-", ""), n)
    sex = np.where((np.char.str_len(ids) > 0) & (_digit(ids, 16) % 2 == 1), "男", "女")
    phones = np.char.add(
        PHONE_PREFIXES[rng.integers(0, len(PHONE_PREFIXES), n)],
        np.char.zfill(rng.integers(0, 100_000_000, n).astype(str), 8),
    )
    where = np.array(addresses)[rng.integers(0, len(addresses), n)]
    floating = rng.random(n) < 0.3
    registered = np.datetime64(today.isoformat()) - rng.integers(1, 1000, n).astype(
        "timedelta64[D]"
    )
    registered_on = np.where(floating, np.datetime_as_string(registered, unit="D"), "")
    expires_on = np.where(
        floating, np.datetime_as_string(registered + np.timedelta64(365, "D"), unit="D"), ""
    )
    age = (np.datetime64(today.isoformat()) - (start + days.astype("timedelta64[D]"))).astype(
        int
    ) / 365.25
    care = np.where(rng.random(n) < 0.06, CARE_TAGS[rng.integers(1, len(CARE_TAGS), n)], "")
    care = np.where((age > 72) & (rng.random(n) < 0.25), CARE_TAGS[0], care)
    care = np.where((age < 14) & (care == CARE_TAGS[0]), "", care)
    return People(names, ids, sex, born, phones, where, floating, registered_on, expires_on, care)


def _digit(values: NDArray[np.str_], position: int) -> NDArray[np.int64]:
    raw = np.frombuffer(values.astype("S18").tobytes(), dtype=np.uint8).reshape(len(values), 18)
    return raw[:, position].astype(np.int64) - 48


PEOPLE_HEADER = [
    "姓名",
    "公民身份号码",
    "性别",
    "出生日期",
    "联系电话",
    "现住址",
    "人员类型",
    "登记日期",
    "有效期至",
    "关怀类型",
]


def people_lines(people: People, rows: slice) -> list[str]:
    """CSV lines (no header) of the people in ROWS, as public security exports them."""
    p = people
    kind = np.where(p.floating[rows], "流动人口", "户籍人口")
    columns = [
        p.name[rows],
        p.id_number[rows],
        p.sex[rows],
        p.birth[rows],
        p.phone[rows],
        p.address[rows],
        kind,
        p.registered_on[rows],
        p.expires_on[rows],
        p.care[rows],
    ]
    line = columns[0]
    for column in columns[1:]:
        line = np.char.add(np.char.add(line, ","), column)
    return list(line.tolist())


def spoil(people: People, share: float, seed: int = 9) -> dict[str, NDArray[np.int64]]:
    """Make SHARE of the rows wrong in the ways department files are: a mistyped check
    digit, an impossible registration date, a bad phone, a person entered twice. Returns
    the rows changed for each way."""
    rng = np.random.default_rng(seed)
    n = len(people)
    picked = rng.choice(n, size=int(n * share), replace=False)
    ways = np.array_split(picked, 4)
    check, dates, phones, twice = ways
    ids = people.id_number
    last = np.array([s[-1] for s in ids[check]])
    wrong = np.where(last == "1", "2", "1")
    ids[check] = np.char.add(np.array([s[:-1] for s in ids[check]]), wrong)
    people.registered_on[dates] = "2023-02-30"
    people.floating[dates] = True
    people.expires_on[dates] = ""
    people.phone[phones] = np.array([s[:7] for s in people.phone[phones]])
    earlier = np.maximum(twice - 1 - rng.integers(0, 1000, len(twice)), 0)
    ids[twice] = ids[earlier]
    people.birth[twice] = people.birth[earlier]
    people.sex[twice] = people.sex[earlier]
    return {"check_digit": check, "impossible_date": dates, "bad_phone": phones, "twice": twice}


def write_csv(path: Path, header: list[str], rows: Sequence[Sequence[object]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


HOUSE_KINDS = np.array(["自住", "出租", "群租", "商用"])
ORGANISATION_KINDS = np.array(["企业", "个体工商户", "社会组织", "事业单位"])
SHOPS = [
    *("便利店", "超市", "餐馆", "理发店", "药店"),
    *("水果店", "维修部", "培训中心", "物业服务中心", "家政服务部"),
]


def credit_codes(rng: np.random.Generator, n: int) -> list[str]:
    """N valid unified social credit codes (registered by 工商, region 990100's province)."""
    codes = []
    for _ in range(n):
        body = "".join(CREDIT_ALPHABET[i] for i in rng.integers(0, 31, 9))
        first17 = "91" + "510107" + body
        codes.append(first17 + credit_check_character(first17))
    return codes


def department_files(
    folder: Path, addresses: Sequence[DemoAddress], count: int, today: date, seed: int = 7
) -> list[tuple[str, Path, str]]:
    """(kind, file, source) of each department's file about COUNT people living at the
    ADDRESSES, in the order to import them."""
    rng = np.random.default_rng(seed)
    files: list[tuple[str, Path, str]] = []
    files.append(
        (
            "addresses",
            write_csv(
                folder / "标准地址.csv",
                ["标准地址", "网格编码", "纬度", "经度"],
                [(a.text, a.grid_code, f"{a.lat:.6f}", f"{a.lon:.6f}") for a in addresses],
            ),
            "地名办",
        )
    )
    # The housing office: most addresses are houses; written in its shorthand.
    houses = []
    housed: list[DemoAddress] = []
    for a in addresses:
        if rng.random() < 0.2:
            continue
        housed.append(a)
        kind = str(HOUSE_KINDS[rng.choice(4, p=[0.6, 0.28, 0.04, 0.08])])
        area = round(float(rng.uniform(35, 140)), 1)
        limit = max(1, int(area // 15)) if kind != "商用" else ""
        owner = _someone(rng)
        houses.append((a.shorthand, kind, area, limit, owner, _phone(rng)))
    files.append(
        (
            "houses",
            write_csv(
                folder / "住建_房屋.csv",
                ["房屋地址", "房屋类型", "建筑面积", "核定居住人数", "产权人", "产权人电话"],
                houses,
            ),
            "住建",
        )
    )
    # Public security: everyone, with the registered facts.
    texts = [a.text for a in addresses]
    people = make_people(count, texts, today, seed=seed)
    police = [
        (
            people.name[i],
            people.id_number[i],
            people.sex[i],
            people.birth[i],
            people.phone[i],
            people.address[i],
            "流动人口" if people.floating[i] else "户籍人口",
            people.registered_on[i],
            people.expires_on[i],
        )
        for i in range(count)
    ]
    files.append(
        (
            "people",
            write_csv(folder / "公安_实有人口.csv", PEOPLE_HEADER[:9], police),
            "公安",
        )
    )
    # The grid workers' collection: the people they met, with what they saw.
    met = np.flatnonzero(rng.random(count) < 0.45)
    shorthand = {a.text: a.shorthand for a in addresses}
    collected = []
    for i in met:
        name = _by_ear(rng, str(people.name[i]), 0.06)
        number = str(people.id_number[i])
        if rng.random() < 0.01:  # one digit mistyped: the check digit fails
            spot = int(rng.integers(6, 17))
            number = number[:spot] + str((int(number[spot]) + 1) % 10) + number[spot + 1 :]
        phone = _phone(rng) if rng.random() < 0.25 else str(people.phone[i])
        where = str(people.address[i])
        if rng.random() < 0.3:
            where = shorthand[where]
        birth = "" if rng.random() < 0.3 else str(people.birth[i])
        collected.append((name, number, people.sex[i], birth, phone, where, people.care[i]))
    files.append(
        (
            "people",
            write_csv(
                folder / "网格采集_人口.csv",
                ["姓名", "身份证号", "性别", "出生日期", "手机号码", "居住地址", "关怀类型"],
                collected,
            ),
            "网格采集",
        )
    )
    # Shops and organisations the grid workers registered.
    n_orgs = max(count // 25, 5)
    codes = credit_codes(rng, n_orgs)
    picked = rng.integers(0, len(addresses), n_orgs)
    organisations = []
    for k in range(n_orgs):
        a = addresses[int(picked[k])]
        surname = SURNAMES[int(rng.integers(0, len(SURNAMES)))]
        name = f"{a.door.rstrip('号').rstrip('0123456789')}{surname}记{SHOPS[k % len(SHOPS)]}"
        organisations.append(
            (
                name,
                codes[k],
                str(ORGANISATION_KINDS[rng.choice(4, p=[0.45, 0.45, 0.05, 0.05])]),
                a.text if k % 10 else a.door,  # a door alone fits many rooms: for review
                surname + GIVEN[int(rng.integers(0, 60))],
                _phone(rng),
            )
        )
    files.append(
        (
            "organisations",
            write_csv(
                folder / "网格采集_单位.csv",
                ["单位名称", "统一社会信用代码", "单位类型", "单位地址", "联系人", "联系电话"],
                organisations,
            ),
            "网格采集",
        )
    )
    # A second generator, so the files above stay what they were for a seed.
    more = np.random.default_rng(seed + 1)
    files.append(("houses", _grid_houses(folder, more, housed, houses), "网格采集"))
    files.append(("organisations", _registered(folder, more, organisations), "市场监管"))
    return files


def _someone(rng: np.random.Generator) -> str:
    return SURNAMES[int(rng.integers(0, len(SURNAMES)))] + GIVEN[int(rng.integers(0, 60))]


def _by_ear(rng: np.random.Generator, name: str, share: float) -> str:
    """NAME written by ear (with homophones) for a SHARE of the people."""
    return "".join(HOMOPHONES.get(c, c) for c in name) if rng.random() < share else name


def _grid_houses(
    folder: Path,
    rng: np.random.Generator,
    housed: Sequence[DemoAddress],
    houses: Sequence[tuple[object, ...]],
) -> Path:
    """The houses grid workers visited (about half of the housing office's), as they saw
    them: the address written out or in shorthand, the owner's name by ear, the phone the
    family answers now, the usable rather than the floor area."""
    rows = []
    for a, (_door, kind, area, _limit, owner, phone) in zip(housed, houses, strict=True):
        if rng.random() < 0.5:
            continue
        where = a.text if rng.random() < 0.7 else a.shorthand
        seen = round(float(area) * 0.8) if rng.random() < 0.3 else area  # type: ignore[arg-type]
        answers = _phone(rng) if rng.random() < 0.25 else phone
        rows.append((where, kind, seen, _by_ear(rng, str(owner), 0.08), answers))
    return write_csv(
        folder / "网格采集_房屋.csv",
        ["房屋地址", "房屋类型", "建筑面积", "产权人", "产权人电话"],
        rows,
    )


def _registered(
    folder: Path, rng: np.random.Generator, organisations: Sequence[tuple[object, ...]]
) -> Path:
    """Market regulation's register of the organisations the grid workers found: the
    registered name (a company's with its legal form), the legal representative, the
    standard address, often another phone."""
    rows = []
    for name, code, kind, address, contact, phone in organisations:
        registered = f"{name}有限公司" if kind == "企业" else str(name)
        representative = contact if rng.random() < 0.6 else _someone(rng)
        office = _phone(rng) if rng.random() < 0.5 else phone
        rows.append((registered, code, kind, address, representative, office))
    return write_csv(
        folder / "市场监管_单位.csv",
        ["单位名称", "统一社会信用代码", "单位类型", "单位地址", "法定代表人", "联系电话"],
        rows,
    )


def _phone(rng: np.random.Generator) -> str:
    return str(PHONE_PREFIXES[int(rng.integers(0, len(PHONE_PREFIXES)))]) + (
        f"{int(rng.integers(0, 100_000_000)):08d}"
    )
