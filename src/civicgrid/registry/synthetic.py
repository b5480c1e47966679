"""Three departments' files of the same synthetic people, with the noise real exports have.

`generate_people(n, seed)` makes N people living in households and writes what each
department would hold about them:

- public security (公安, 户籍): nearly everyone it holds has an identity number; names and
  birth dates are the registered ones, but the phone may be an old one and the address the
  registered one rather than where the person lives now;
- the health commission (卫健): identity numbers often missing or mistyped (the check digit
  then fails — the value is kept as written), homophone and look-alike characters in names,
  day and month swapped, old phones, addresses written in another form;
- the grid workers' own collection (网格): the current address and phone, ids often missing.

Each person appears in one to three files. Households share an address and mostly a surname
(hard negatives: a father and son differ only in given name and birth date), and some
children are twins (same birth date and address, different names and ids). The column
`person_id` is the truth. The same seed gives the same files.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from civicgrid.registry.identifiers import CREDIT_ALPHABET, credit_check_character

SOURCES = ("public_security", "health", "grid")

# The most common surnames with their share of the population in percent (2020 census order).
_SURNAMES = (  # noqa: SIM905
    "王7.1 李7.0 张6.7 刘5.4 陈4.5 杨3.1 黄2.2 赵2.0 吴1.9 周1.9 "
    "徐1.5 孙1.5 马1.4 朱1.3 胡1.3 郭1.2 何1.2 高1.1 林1.1 罗1.0 "
    "郑0.9 梁0.9 谢0.8 宋0.8 唐0.8 许0.7 韩0.7 冯0.7 邓0.7 曹0.6 "
    "彭0.6 曾0.6 肖0.6 田0.5 董0.5 袁0.5 潘0.5 于0.5 蒋0.5 蔡0.5 "
    "余0.5 杜0.4 叶0.4 程0.4 苏0.4 魏0.4 吕0.4 丁0.4 任0.4 沈0.4 "
    "姚0.3 卢0.3 姜0.3 崔0.3 钟0.3 谭0.3 陆0.3 汪0.3 范0.3 金0.3 "
    "石0.3 廖0.3 贾0.3 夏0.3 韦0.2 付0.2 方0.2 白0.2 邹0.2 孟0.2 "
    "熊0.2 秦0.2 邱0.2 江0.2 尹0.2 薛0.2 闫0.2 段0.2 雷0.2 侯0.2 "
    "龙0.2 史0.2 陶0.2 黎0.2 贺0.2 顾0.2 毛0.2 郝0.2 龚0.2 邵0.2 "
    "万0.2 钱0.2 严0.2 覃0.1 武0.1 戴0.1 莫0.1 孔0.1 向0.1 汤0.1 "
    "欧阳0.05 司马0.02 诸葛0.01"
).split()
SURNAMES = tuple(s.rstrip("0123456789.") for s in _SURNAMES)
SURNAME_WEIGHTS = np.array(
    [float(raw[len(name) :]) for raw, name in zip(_SURNAMES, SURNAMES, strict=True)]
)
# Characters common in given names; several share a reading (明/铭/鸣), which is where
# departments' spellings of the same name part.
MALE_CHARS = (
    "伟玮炜明铭鸣军君钧华骅建剑健国志智刚钢斌彬辉晖鹏朋飞宇浩皓昊凯晨峰锋波博成诚龙隆林"
    "超亮帅春东冬轩睿瑞涛韬强磊洋阳勇泳杰俊海平文武兵新力永光德胜庆荣毅松柏江一嘉"
)
FEMALE_CHARS = (
    "丽莉俐静婧靖敏洁婕艳燕雁娟鹃霞芳方娜纳秀英瑛玲琳灵婷亭雪慧惠蕙红虹平萍欣馨怡仪佳嘉"
    "文雯雅梅玫兰岚云芸晓筱涵晗子梓紫萱思诗梦琪琦颖莹倩茜月悦璐露冰彤桐淑珊妍岩蓉容"
)
# Characters that are misread for one another in handwriting or by OCR.
LOOKALIKES = {
    "王": "玉", "玉": "王", "晴": "睛", "清": "青", "青": "清", "天": "夫", "未": "末",
    "己": "已", "土": "士", "杨": "扬", "扬": "杨", "琪": "棋", "斌": "赋", "娟": "绢",
    "静": "净", "明": "朋", "鹏": "朋", "凯": "恺", "浩": "洁", "辉": "挥", "峰": "锋",
    "锋": "峰", "婷": "停", "玲": "怜", "海": "每", "林": "淋", "军": "车", "波": "坡",
}  # fmt: skip

# The city: roads with the district and street (街道) they lie in.
ROADS = (
    ("东城区", "东华门街道", "南池子大街"), ("东城区", "东华门街道", "南河沿大街"),
    ("东城区", "景山街道", "景山前街"), ("东城区", "交道口街道", "南锣鼓巷"),
    ("东城区", "和平里街道", "和平里东街"), ("西城区", "西长安街街道", "府右街"),
    ("西城区", "新街口街道", "新街口外大街"), ("西城区", "金融街街道", "丰盛胡同"),
    ("西城区", "月坛街道", "三里河路"), ("西城区", "德胜街道", "德胜门外大街"),
    ("朝阳区", "建外街道", "建国路"), ("朝阳区", "呼家楼街道", "东三环中路"),
    ("朝阳区", "望京街道", "阜通东大街"), ("朝阳区", "劲松街道", "劲松路"),
    ("朝阳区", "团结湖街道", "团结湖路"), ("海淀区", "海淀街道", "海淀大街"),
    ("海淀区", "中关村街道", "中关村南大街"), ("海淀区", "学院路街道", "学院路"),
    ("海淀区", "北太平庄街道", "北三环中路"), ("海淀区", "万寿路街道", "复兴路"),
    ("丰台区", "方庄街道", "方庄路"), ("丰台区", "丰台街道", "丰台北路"),
    ("丰台区", "卢沟桥街道", "莲花池西路"), ("石景山区", "八宝山街道", "石景山路"),
    ("石景山区", "古城街道", "古城大街"), ("通州区", "新华街道", "新华大街"),
    ("通州区", "玉桥街道", "玉桥中路"), ("大兴区", "兴丰街道", "兴丰大街"),
    ("昌平区", "城北街道", "鼓楼北街"), ("顺义区", "胜利街道", "府前中街"),
)  # fmt: skip
REGIONS = np.array([110101, 110102, 110105, 110106, 110108, 110112, 130102, 370102, 410105])


def chinese_numeral(n: int) -> str:
    """12 → 十二, 105 → 一百零五, 230 → 二百三十 (as people write door numbers)."""
    digits = "零一二三四五六七八九"
    if n < 10:
        return digits[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else digits[tens]) + "十" + (digits[ones] if ones else "")
    hundreds, rest = divmod(n, 100)
    head = digits[hundreds] + "百"
    if rest == 0:
        return head
    if rest < 10:
        return head + "零" + digits[rest]
    tens, ones = divmod(rest, 10)
    return head + digits[tens] + "十" + (digits[ones] if ones else "")


_FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def written_address(home: Sequence[int], form: int) -> str:
    """HOME (road index, door number, building, unit, room) written in FORM 0–4."""
    road_index, n, b, u, r = home
    district, street, road = ROADS[road_index]
    if form == 0:
        return f"{district}{street}{road}{n}号{b}号楼{u}单元{r}室"
    if form == 1:
        return f"{road}{chinese_numeral(n)}号{b}栋{u}单元{r}"
    if form == 2:
        return f"{road}{n}号{b}-{u}-{r}"
    if form == 3:
        return f"北京市{district}{road}{n}号{b}幢{u}单元{r}室"
    return f"{road}{str(n).translate(_FULL_WIDTH)}号{b}栋 {u}单元 {r}室"


ADDRESS_FORMS = 5


def identity_numbers(region: np.ndarray, born: np.ndarray, sequence: np.ndarray) -> list[str]:
    """18-character identity numbers with their GB 11643 check character, vectorised."""
    ymd = born.astype("datetime64[D]").astype(str).astype(object)
    birth = np.array([d.replace("-", "") for d in ymd], dtype=np.int64)
    first17 = region.astype(np.int64) * 10**11 + birth * 1000 + sequence.astype(np.int64)
    powers = 10 ** np.arange(16, -1, -1, dtype=np.int64)
    digits = (first17[:, None] // powers) % 10
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    checks = np.array(list("10X98765432"))[(digits * weights).sum(axis=1) % 11]
    return [f"{v:017d}{c}" for v, c in zip(first17.tolist(), checks.tolist(), strict=True)]


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime64("1970-01-01", "D") + days.astype("timedelta64[D]")


def _iso(dates: np.ndarray) -> list[str]:
    return [str(d) for d in dates.astype("datetime64[D]")]


def generate_people(n: int, seed: int = 0) -> dict[str, pa.Table]:
    """The three departments' files for N people: SOURCE → a table of records with the
    columns source, record_id, name, identity, birth_date (YYYY-MM-DD), sex (M/F), phone,
    address and person_id (the truth)."""
    rng = np.random.default_rng(seed)
    people = _population(n, rng)
    return {source: _department(source, people, rng) for source in SOURCES}


def _population(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    # Households of 1–5: head, spouse, then children; household ids run 0, 1, 2…
    sizes = rng.choice([1, 2, 3, 4, 5], size=n, p=[0.22, 0.3, 0.26, 0.16, 0.06])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n) + 1]
    household = np.repeat(np.arange(len(sizes)), sizes)[:n]
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    role = np.arange(n) - starts[household]  # 0 head, 1 spouse, 2+ children
    h = len(sizes)

    head_sex = rng.random(h) < 0.5
    head_surname = rng.choice(len(SURNAMES), size=h, p=SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum())
    today = int((np.datetime64("2026-11-01") - np.datetime64("1970-01-01")).astype(int))
    head_born = today - rng.integers(22 * 365, 85 * 365, size=h)
    is_male = np.where(role == 0, head_sex[household], ~head_sex[household])
    children = role >= 2
    is_male[children] = rng.random(children.sum()) < 0.52
    surname = head_surname[household].copy()
    spouse = role == 1
    surname[spouse] = rng.choice(
        len(SURNAMES), size=spouse.sum(), p=SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum()
    )
    born = head_born[household].copy()
    born[spouse] += rng.integers(-6 * 365, 6 * 365, size=spouse.sum())
    born[children] += rng.integers(22 * 365, 40 * 365, size=children.sum())
    # Children of young parents are not born yet at 22–40: they are 0–18 instead.
    unborn = born > today - 30
    born[unborn] = today - rng.integers(30, 18 * 365, size=unborn.sum())
    # Twins: the second and third child of some families share a birth date.
    twin = (role == 3) & (rng.random(n) < 0.12)
    born[twin] = born[np.flatnonzero(twin) - 1]

    given_len = np.where(rng.random(n) < 0.25, 1, 2)
    male_pick = rng.integers(0, len(MALE_CHARS), size=(n, 2))
    female_pick = rng.integers(0, len(FEMALE_CHARS), size=(n, 2))
    # Twins often share the first character of the given name (the generation name).
    male_pick[twin, 0] = male_pick[np.flatnonzero(twin) - 1, 0]
    female_pick[twin, 0] = female_pick[np.flatnonzero(twin) - 1, 0]
    given_len[twin] = 2
    given_len[np.flatnonzero(twin) - 1] = 2
    names = []
    for i in range(n):
        pool, pick = (MALE_CHARS, male_pick[i]) if is_male[i] else (FEMALE_CHARS, female_pick[i])
        given = pool[pick[0]] + (pool[pick[1]] if given_len[i] == 2 else "")
        names.append(SURNAMES[surname[i]] + given)
    if twin.any():  # twins never carry the same name
        for t in np.flatnonzero(twin):
            while names[t] == names[t - 1]:
                pool = MALE_CHARS if is_male[t] else FEMALE_CHARS
                names[t] = names[t][:-1] + pool[rng.integers(len(pool))]

    # Identity numbers: region, birth date, sequence (odd for men), check character.
    region = REGIONS[rng.integers(0, len(REGIONS), size=h)][household]
    base = rng.integers(0, 500, size=n)
    base[twin] = (base[np.flatnonzero(twin) - 1] + rng.integers(1, 20, size=twin.sum())) % 500
    sequence = base * 2 + is_male  # odd for men; twins never share a number
    identity = identity_numbers(region, _dates(born), sequence)

    phone = 13_000_000_000 + rng.choice(7_000_000_000, size=n, replace=False)
    old_phone = np.where(
        rng.random(n) < 0.3, 13_000_000_000 + rng.integers(0, 7_000_000_000, size=n), phone
    )
    home = np.stack(
        [
            rng.integers(0, len(ROADS), size=h),
            rng.integers(1, 300, size=h),
            rng.integers(1, 40, size=h),
            rng.integers(1, 7, size=h),
            rng.integers(1, 30, size=h) * 100 + rng.integers(1, 5, size=h),
        ],
        axis=1,
    )
    # Some households moved: the registered (old) address differs from where they live.
    moved = rng.random(h) < 0.08
    old_home = home.copy()
    old_home[moved] = np.stack(
        [
            rng.integers(0, len(ROADS), size=moved.sum()),
            rng.integers(1, 300, size=moved.sum()),
            rng.integers(1, 40, size=moved.sum()),
            rng.integers(1, 7, size=moved.sum()),
            rng.integers(1, 30, size=moved.sum()) * 100 + rng.integers(1, 5, size=moved.sum()),
        ],
        axis=1,
    )
    # Which files hold each person: 1, 2 or 3 of them.
    held = rng.random((n, 3)) < np.array([0.8, 0.55, 0.6])
    nowhere = ~held.any(axis=1)
    held[nowhere, rng.integers(0, 3, size=nowhere.sum())] = True
    return {
        "person_id": np.arange(n),
        "household": household,
        "name": np.array(names, dtype=object),
        "male": is_male,
        "born": born,
        "identity": np.array(identity, dtype=object),
        "phone": phone,
        "old_phone": old_phone,
        "home": home[household],
        "old_home": old_home[household],
        "held": held,
    }


# Per department: chance of a missing id, a mistyped id digit, two digits transposed,
# a homophone name, a look-alike character, day and month swapped, one date part wrong,
# the old phone, a missing phone, the old address.
_NOISE = {
    "public_security": (0.0, 0.004, 0.002, 0.0, 0.004, 0.0, 0.0, 1.0, 0.02, 1.0),
    "health": (0.25, 0.02, 0.008, 0.04, 0.01, 0.02, 0.01, 0.3, 0.1, 0.3),
    "grid": (0.3, 0.015, 0.005, 0.05, 0.01, 0.015, 0.01, 0.0, 0.05, 0.0),
}
_PREFIX = {"public_security": "GA", "health": "WJ", "grid": "WG"}


def _homophone(name: str, rng: np.random.Generator, by_reading: dict[str, list[str]]) -> str:
    from civicgrid.registry.linkage import char_pinyin

    chars = list(name)
    positions = [
        i for i in range(1, len(chars)) if len(by_reading.get(char_pinyin(chars[i]), [])) > 1
    ]
    if not positions:
        return name
    i = positions[rng.integers(len(positions))]
    others = [c for c in by_reading[char_pinyin(chars[i])] if c != chars[i]]
    chars[i] = others[rng.integers(len(others))]
    return "".join(chars)


def _lookalike(name: str, rng: np.random.Generator) -> str:
    positions = [i for i, c in enumerate(name) if c in LOOKALIKES]
    if not positions:
        return name
    i = positions[rng.integers(len(positions))]
    return name[:i] + LOOKALIKES[name[i]] + name[i + 1 :]


def _readings() -> dict[str, list[str]]:
    from civicgrid.registry.linkage import char_pinyin

    by_reading: dict[str, list[str]] = {}
    for c in dict.fromkeys(MALE_CHARS + FEMALE_CHARS):
        by_reading.setdefault(char_pinyin(c), []).append(c)
    return by_reading


def _department(source: str, people: dict[str, np.ndarray], rng: np.random.Generator) -> pa.Table:
    index = np.flatnonzero(people["held"][:, SOURCES.index(source)])
    m = len(index)
    p_missing, p_typo, p_swap_digits, p_homophone, p_lookalike = _NOISE[source][:5]
    p_day_month, p_date_part, p_old_phone, p_no_phone, p_old_home = _NOISE[source][5:]
    draw = rng.random((m, 10))
    by_reading = _readings()

    names = people["name"][index].copy()
    for j in np.flatnonzero(draw[:, 0] < p_homophone):
        names[j] = _homophone(names[j], rng, by_reading)
    for j in np.flatnonzero(draw[:, 1] < p_lookalike):
        names[j] = _lookalike(names[j], rng)

    identity = people["identity"][index].copy()
    for j in np.flatnonzero(draw[:, 2] < p_typo):  # one digit mistyped, check digit kept
        k = int(rng.integers(0, 17))
        digit = str((int(identity[j][k]) + int(rng.integers(1, 10))) % 10)
        identity[j] = identity[j][:k] + digit + identity[j][k + 1 :]
    for j in np.flatnonzero(draw[:, 3] < p_swap_digits):  # two neighbours transposed
        k = int(rng.integers(6, 16))
        v = identity[j]
        identity[j] = v[:k] + v[k + 1] + v[k] + v[k + 2 :]
    identity[draw[:, 4] < p_missing] = ""

    born = _dates(people["born"][index])
    birth = np.array(_iso(born), dtype=object)
    for j in np.flatnonzero(draw[:, 5] < p_day_month):
        y, mo, d = birth[j].split("-")
        if int(d) <= 12 and d != mo:
            birth[j] = f"{y}-{d}-{mo}"
    for j in np.flatnonzero(draw[:, 6] < p_date_part):
        y, mo, d = birth[j].split("-")
        part = int(rng.integers(0, 3))
        if part == 0:
            y = str(int(y) + int(rng.choice([-1, 1])))
        elif part == 1:
            mo = f"{(int(mo) % 12) + 1:02d}" if int(d) <= 28 else mo
        else:
            d = f"{max(1, (int(d) + int(rng.choice([-1, 1]))) % 29):02d}"
        birth[j] = f"{y}-{mo}-{d}"

    phone = np.where(
        draw[:, 7] < p_old_phone, people["old_phone"][index], people["phone"][index]
    ).astype(str)
    phone = phone.astype(object)
    phone[draw[:, 8] < p_no_phone] = ""

    homes = np.where(
        (draw[:, 9] < p_old_home)[:, None], people["old_home"][index], people["home"][index]
    )
    forms = rng.integers(0, ADDRESS_FORMS, size=m)
    addresses = [
        written_address(home, form)
        for home, form in zip(homes.tolist(), forms.tolist(), strict=True)
    ]

    prefix = _PREFIX[source]
    order = rng.permutation(m)  # a department's file is not in our order
    return pa.table(
        {
            "source": pa.array([source] * m),
            "record_id": pa.array([f"{prefix}{i:08d}" for i in range(m)]),
            "name": pa.array(names[order].tolist()),
            "identity": pa.array(identity[order].tolist()),
            "birth_date": pa.array(birth[order].tolist()),
            "sex": pa.array(np.where(people["male"][index], "M", "F")[order].tolist()),
            "phone": pa.array(phone[order].tolist()),
            "address": pa.array([addresses[j] for j in order]),
            "person_id": pa.array(people["person_id"][index][order]),
        }
    )


# ------------------------------------------------------------------ houses

HOUSE_SOURCES = ("real_estate", "housing", "grid")
_HOUSE_PREFIX = {"real_estate": "BDC", "housing": "FG", "grid": "WGF"}


def _person_names(n: int, rng: np.random.Generator) -> list[str]:
    surname = rng.choice(len(SURNAMES), size=n, p=SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum())
    male = rng.random(n) < 0.5
    given_len = np.where(rng.random(n) < 0.25, 1, 2)
    picks = rng.integers(0, 10_000, size=(n, 2))
    names = []
    for i in range(n):
        pool = MALE_CHARS if male[i] else FEMALE_CHARS
        given = "".join(pool[picks[i, k] % len(pool)] for k in range(given_len[i]))
        names.append(SURNAMES[surname[i]] + given)
    return names


def _name_noise(
    names: np.ndarray, p_homophone: float, p_lookalike: float, rng: np.random.Generator
) -> np.ndarray:
    by_reading = _readings()
    names = names.copy()
    draw = rng.random((len(names), 2))
    for j in np.flatnonzero(draw[:, 0] < p_homophone):
        names[j] = _homophone(names[j], rng, by_reading)
    for j in np.flatnonzero(draw[:, 1] < p_lookalike):
        names[j] = _lookalike(names[j], rng)
    return names


def _mistype_room(room: int, rng: np.random.Generator) -> int:
    """One digit of ROOM typed wrong, or its last two swapped (1203 → 1230)."""
    digits = list(str(room))
    if rng.random() < 0.5 and len(digits) >= 2 and digits[-1] != digits[-2]:
        digits[-1], digits[-2] = digits[-2], digits[-1]
    else:
        k = int(rng.integers(1, len(digits)))  # the floor's first digit is rarely wrong
        digits[k] = str((int(digits[k]) + int(rng.integers(1, 10))) % 10)
    return int("".join(digits))


def generate_houses(n: int, seed: int = 0) -> dict[str, pa.Table]:
    """Three departments' files of N houses (flats): SOURCE → a table with the columns
    source, record_id, address, owner_name, owner_phone, area_m2 and house_id (the truth).

    Flats fill buildings of one to six units and 6–30 floors with two to four flats a
    floor; flats above one another have the same floor plan, so the same area (hard
    negatives: 501 and 601 differ only in owner). Some owners hold two flats.
    - the real-estate register (不动产登记): the legal owner, the surveyed floor area to
      0.01 m², the address in the full form, an old phone;
    - the housing bureau (房管): the owner before a recent sale, the area rounded, some
      rooms mistyped;
    - the grid workers (网格): the address in shorthand, the owner's name by ear
      (homophones), the usable area (套内面积, about a fifth less) or a guess, the phone the
      owner answers now, owners unknown.
    The same seed gives the same files."""
    rng = np.random.default_rng(seed)
    # Buildings: road, door number, building, units, floors, flats a floor, floor plans.
    flats: list[
        tuple[int, int, int, int, int, int]
    ] = []  # road, number, building, unit, room, plan
    plan_area: list[float] = []
    taken: set[tuple[int, int, int]] = set()
    while len(flats) < n:
        road, number = int(rng.integers(0, len(ROADS))), int(rng.integers(1, 300))
        building = int(rng.integers(1, 40))
        if (road, number, building) in taken:  # one building at one door
            continue
        taken.add((road, number, building))
        units, floors, per_floor = (
            int(rng.integers(1, 7)),
            int(rng.integers(6, 31)),
            int(rng.integers(2, 5)),
        )
        plans = len(plan_area)
        plan_area.extend(np.round(rng.uniform(35, 180, size=per_floor), 2).tolist())
        for unit in range(1, units + 1):
            for floor in range(1, floors + 1):
                for k in range(1, per_floor + 1):
                    flats.append((road, number, building, unit, floor * 100 + k, plans + k - 1))
    # A random sample of the city's flats, in no order; doors repeat nowhere.
    chosen = rng.choice(len(flats), size=n, replace=False)
    homes = np.array([flats[i][:5] for i in chosen])
    area = np.array([plan_area[flats[i][5]] for i in chosen])
    # Owners: some hold two flats (same name and phone, another door).
    owners = n - n // 20
    owner_names = np.array(_person_names(owners, rng), dtype=object)
    owner_phone = 13_000_000_000 + rng.choice(7_000_000_000, size=owners, replace=False)
    owner = np.concatenate([np.arange(owners), rng.integers(0, owners, size=n - owners)])
    rng.shuffle(owner)
    old_phone = np.where(
        rng.random(n) < 0.3, 13_000_000_000 + rng.integers(0, 7_000_000_000, size=n), -1
    )
    sold = rng.random(n) < 0.05  # the housing bureau still has the previous owner
    previous_owner = np.array(_person_names(n, rng), dtype=object)
    held = rng.random((n, 3)) < np.array([0.85, 0.6, 0.55])
    nowhere = ~held.any(axis=1)
    held[nowhere, rng.integers(0, 3, size=nowhere.sum())] = True

    files = {}
    for column, source in enumerate(HOUSE_SOURCES):
        index = np.flatnonzero(held[:, column])
        m = len(index)
        draw = rng.random((m, 8))
        names = owner_names[owner[index]]
        phones = owner_phone[owner[index]].astype(object)
        areas: list[str] = []
        if source == "real_estate":
            names = _name_noise(names, 0.0, 0.003, rng)
            stale = (draw[:, 0] < 0.3) & (old_phone[index] > 0)
            phones[stale] = old_phone[index][stale]
            forms = np.where(draw[:, 1] < 0.7, 0, 3)
            areas = [f"{a:.2f}" for a in area[index]]
            rooms = homes[index, 4]
        elif source == "housing":
            names = np.where(sold[index], previous_owner[index], names)
            names = _name_noise(names, 0.01, 0.01, rng)
            phones[draw[:, 0] < 0.1] = ""
            forms = rng.integers(0, ADDRESS_FORMS, size=m)
            areas = [
                f"{a:.0f}" if d < 0.5 else f"{a:.1f}"
                for a, d in zip(area[index], draw[:, 2], strict=True)
            ]
            rooms = np.array(
                [
                    _mistype_room(int(r), rng) if d < 0.02 else int(r)
                    for r, d in zip(homes[index, 4], draw[:, 3], strict=True)
                ]
            )
        else:
            names = _name_noise(names, 0.06, 0.01, rng)
            names[draw[:, 0] < 0.15] = ""
            phones[draw[:, 1] < 0.2] = ""
            forms = rng.integers(1, ADDRESS_FORMS, size=m)
            usable = area[index] * rng.uniform(0.75, 0.85, size=m)
            guessed = np.round(area[index] * rng.uniform(0.85, 1.15, size=m) / 5) * 5
            areas = [
                "" if d < 0.2 else f"{u:.0f}" if d < 0.6 else f"{g:.0f}"
                for u, g, d in zip(usable, guessed, draw[:, 2], strict=True)
            ]
            rooms = np.array(
                [
                    _mistype_room(int(r), rng) if d < 0.03 else int(r)
                    for r, d in zip(homes[index, 4], draw[:, 3], strict=True)
                ]
            )
        written = [
            written_address((int(h[0]), int(h[1]), int(h[2]), int(h[3]), int(room)), int(form))
            for h, room, form in zip(homes[index], rooms, forms, strict=True)
        ]
        order = rng.permutation(m)
        prefix = _HOUSE_PREFIX[source]
        files[source] = pa.table(
            {
                "source": pa.array([source] * m),
                "record_id": pa.array([f"{prefix}{i:08d}" for i in range(m)]),
                "address": pa.array([written[j] for j in order]),
                "owner_name": pa.array(names[order].tolist(), pa.string()),
                "owner_phone": pa.array([str(p) for p in phones[order].tolist()]),
                "area_m2": pa.array([areas[j] for j in order]),
                "house_id": pa.array(index[order]),
            }
        )
    return files


# ------------------------------------------------------------------ organisations

ORGANISATION_SOURCES = ("market", "tax", "grid")
_ORGANISATION_PREFIX = {"market": "SC", "tax": "SW", "grid": "WGD"}
# Characters firms build their trade names (字号) from, and what they do.
TRADE_CHARS = (
    "华鑫瑞泰恒达盛源通宇兴利嘉禾博汇金诚信德康美安顺昌隆丰和祥福鼎新晨光明辉远航智创"
    "锦程天地海鸿志伟东方中正佳艺优品尚卓越星辰云峰林森润泽宏图"
)
INDUSTRIES = (
    "科技", "信息技术", "餐饮管理", "商贸", "建筑工程", "物业管理", "文化传媒", "医疗器械",
    "教育咨询", "家政服务", "汽车维修", "电子商务", "房地产经纪", "广告", "物流", "服装",
    "食品", "装饰工程", "健身服务", "美容美发",
)  # fmt: skip
DISTRICTS = ("东城", "西城", "朝阳", "海淀", "丰台", "石景山", "通州", "大兴", "昌平", "顺义")


def credit_code(region: int, organisation_code: str) -> str:
    """An enterprise's (登记管理部门 9, 类别 1) unified social credit code with its check
    character (GB 32100)."""
    first17 = f"91{region:06d}{organisation_code}"
    return first17 + credit_check_character(first17)


def _mistype_code(code: str, rng: np.random.Generator) -> str:
    k = int(rng.integers(8, 17))
    if rng.random() < 0.5 and code[k] != code[k + 1]:
        return code[:k] + code[k + 1] + code[k] + code[k + 2 :]
    other = CREDIT_ALPHABET[(CREDIT_ALPHABET.index(code[k]) + int(rng.integers(1, 31))) % 31]
    return code[:k] + other + code[k + 1 :]


def generate_organisations(n: int, seed: int = 0) -> dict[str, pa.Table]:
    """Three departments' files of N organisations: SOURCE → a table with the columns
    source, record_id, name, credit_code, address, contact_name, contact_phone and
    organisation_id (the truth).

    One in ten is a branch (分公司) of another: the same trade name and industry with the
    district and 分公司 after it, its own credit code, address and phone (hard negatives).
    Trade names are drawn from a small set of characters, so names one character apart
    are common.
    - market regulation (市场监管): the registered name with the city in front, the code,
      the registered address, the legal representative;
    - tax (税务): the code (a few mistyped), the legal form written another way (有限公司 /
      有限责任公司, the city in brackets), the finance contact in a third of records;
    - the grid workers (网格): the shop sign's name (often without the legal form, some
      written by ear), codes often missing, the address where it trades, in shorthand,
      the manager and the phone they answer.
    The same seed gives the same files."""
    rng = np.random.default_rng(seed)
    heads = n - n // 10
    cores: list[str] = []
    seen: set[str] = set()
    while len(cores) < heads:
        length = 2 if rng.random() < 0.8 else 3
        trade = "".join(TRADE_CHARS[i] for i in rng.integers(0, len(TRADE_CHARS), size=length))
        candidate = trade + INDUSTRIES[int(rng.integers(0, len(INDUSTRIES)))]
        if candidate not in seen:  # a name is registered once in a city
            seen.add(candidate)
            cores.append(candidate)
    form = rng.choice(["有限公司", "有限责任公司", "股份有限公司"], size=n, p=[0.7, 0.25, 0.05])
    parent = np.concatenate([np.arange(heads), rng.integers(0, heads, size=n - heads)])
    core = np.array([cores[p] for p in parent], dtype=object)
    branch = np.array(
        [""] * heads
        + [f"{DISTRICTS[int(i)]}分公司" for i in rng.integers(0, len(DISTRICTS), size=n - heads)],
        dtype=object,
    )
    legal = np.array([f"{c}{form[p]}" for c, p in zip(core, parent, strict=True)], dtype=object)
    region = REGIONS[rng.integers(0, 6, size=n)]  # Beijing's districts
    alphabet = np.array(list(CREDIT_ALPHABET))
    org_codes = ["".join(row) for row in alphabet[rng.integers(0, 31, size=(n, 9))]]
    codes = np.array(
        [credit_code(int(r), c) for r, c in zip(region, org_codes, strict=True)], dtype=object
    )
    representative = np.array(_person_names(n, rng), dtype=object)
    representative[heads:] = _person_names(n - heads, rng)  # a branch has its own head
    finance = np.array(_person_names(n, rng), dtype=object)
    phone = 13_000_000_000 + rng.choice(7_000_000_000, size=n, replace=False)
    fixed = rng.random(n) < 0.3
    phone_text = np.array(
        [
            f"010-{6000_0000 + int(p) % 3000_0000}" if f else str(p)
            for p, f in zip(phone, fixed, strict=True)
        ],
        dtype=object,
    )
    # The finance officer's or the shop manager's own mobile.
    other_phone = (13_000_000_000 + rng.integers(0, 7_000_000_000, size=n)).astype(str)
    homes = np.stack(
        [
            rng.integers(0, len(ROADS), size=n),
            rng.integers(1, 300, size=n),
            rng.integers(1, 40, size=n),
            rng.integers(1, 7, size=n),
            rng.integers(1, 30, size=n) * 100 + rng.integers(1, 5, size=n),
        ],
        axis=1,
    )
    moved = rng.random(n) < 0.15  # trades away from its registered address
    trading = homes.copy()
    trading[moved, 0] = rng.integers(0, len(ROADS), size=moved.sum())
    trading[moved, 1] = rng.integers(1, 300, size=moved.sum())
    held = rng.random((n, 3)) < np.array([0.85, 0.65, 0.55])
    nowhere = ~held.any(axis=1)
    held[nowhere, rng.integers(0, 3, size=nowhere.sum())] = True

    files = {}
    for column, source in enumerate(ORGANISATION_SOURCES):
        index = np.flatnonzero(held[:, column])
        m = len(index)
        draw = rng.random((m, 8))
        names, code, contact = [], codes[index].copy(), representative[index].copy()
        phones = phone_text[index].copy()
        if source == "market":
            names = [
                f"北京{legal[i]}{branch[i]}" if d < 0.7 else f"{legal[i]}{branch[i]}"
                for i, d in zip(index, draw[:, 0], strict=True)
            ]
            places = homes[index]
            forms = np.zeros(m, dtype=int)
        elif source == "tax":
            for j, i in enumerate(index):
                written = legal[i]
                if draw[j, 0] < 0.2:  # the other way of writing the legal form
                    written = (
                        written.replace("有限责任公司", "有限公司")
                        if "有限责任" in written
                        else written.replace("有限公司", "有限责任公司")
                    )
                if draw[j, 1] < 0.15:
                    written = written.replace(core[i], f"{core[i]}(北京)", 1)
                names.append(written + branch[i])
            for wrong in np.flatnonzero(draw[:, 2] < 0.01):
                code[wrong] = _mistype_code(code[wrong], rng)
            finance_contact = draw[:, 3] < 0.33
            contact = np.where(finance_contact, finance[index], contact)
            phones = np.where(finance_contact & (draw[:, 4] < 0.3), other_phone[index], phones)
            places = homes[index]
            forms = rng.integers(0, ADDRESS_FORMS, size=m)
        else:
            signs = _name_noise(core[index], 0.03, 0.01, rng)
            names = [
                f"{s}{branch[i]}" if d < 0.4 else f"{s}{form[parent[i]]}{branch[i]}"
                for s, i, d in zip(signs, index, draw[:, 0], strict=True)
            ]
            code[draw[:, 1] < 0.45] = ""
            contact = _name_noise(contact, 0.05, 0.01, rng)
            contact = np.where(draw[:, 2] < 0.3, finance[index], contact)
            phones = np.where(draw[:, 4] < 0.2, other_phone[index], phones)
            phones[draw[:, 3] < 0.1] = ""
            places = trading[index]
            forms = rng.integers(1, ADDRESS_FORMS, size=m)
        written_places = [
            written_address(tuple(int(v) for v in place), int(f))
            for place, f in zip(places, forms, strict=True)
        ]
        order = rng.permutation(m)
        prefix = _ORGANISATION_PREFIX[source]
        files[source] = pa.table(
            {
                "source": pa.array([source] * m),
                "record_id": pa.array([f"{prefix}{i:08d}" for i in range(m)]),
                "name": pa.array([names[j] for j in order]),
                "credit_code": pa.array(code[order].tolist(), pa.string()),
                "address": pa.array([written_places[j] for j in order]),
                "contact_name": pa.array(contact[order].tolist(), pa.string()),
                "contact_phone": pa.array(phones[order].tolist(), pa.string()),
                "organisation_id": pa.array(index[order]),
            }
        )
    return files
