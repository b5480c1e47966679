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
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

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


@dataclass(frozen=True)
class Address:
    road: int
    number: int
    building: int
    unit: int
    room: int

    def written(self, form: int) -> str:
        """The same door written the ways departments write it (all read by parse_address)."""
        return written_address((self.road, self.number, self.building, self.unit, self.room), form)


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
