"""The demo city: a plausible Chinese city with a full area hierarchy, handling units and one
grid worker per grid, generated from a seed (the same seed gives the same city).

Built as plain objects here; demo.services writes them through the areas and accounts
services, so the demo exercises the same rules as real data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import shapely
from faker import Faker
from shapely.geometry.base import BaseGeometry

from civicgrid.areas.domain import Area, Department, Function, Level, UnitKind
from civicgrid.areas.tiling import blob, polygonal, tile

# Units per level: (code suffix, name, kind, function). District and street names prefix them.
G = UnitKind.GOVERNMENT
CITY_UNITS = [
    ("CGJ", "城市管理局", G, Function.URBAN_MANAGEMENT),
    ("ZJJ", "住房和城乡建设局", G, Function.HOUSING),
    ("STJ", "生态环境局", G, Function.ENVIRONMENT),
    ("SJJ", "市场监督管理局", G, Function.MARKET_SUPERVISION),
    ("GAJ", "公安局", G, Function.PUBLIC_SECURITY),
    ("WJW", "卫生健康委员会", G, Function.HEALTH),
    ("MZJ", "民政局", G, Function.CIVIL_AFFAIRS),
    ("RSJ", "人力资源和社会保障局", G, Function.LABOUR),
    ("JYJ", "教育局", G, Function.EDUCATION),
    ("JTJ", "交通运输局", G, Function.TRANSPORT),
    ("SWJ", "水务局", G, Function.WATER),
    ("YJJ", "应急管理局", G, Function.EMERGENCY),
    ("SJGLJ", "政务服务和数据管理局", G, Function.DATA),
]
DISTRICT_UNITS = [
    ("CGJ", "城市管理局", G, Function.URBAN_MANAGEMENT),
    ("ZJJ", "住房和城乡建设局", G, Function.HOUSING),
    ("STJ", "生态环境局", G, Function.ENVIRONMENT),
    ("SJJ", "市场监督管理局", G, Function.MARKET_SUPERVISION),
    ("GAFJ", "公安分局", G, Function.PUBLIC_SECURITY),
    ("WJJ", "卫生健康局", G, Function.HEALTH),
    ("MZJ", "民政局", G, Function.CIVIL_AFFAIRS),
    ("RSJ", "人力资源和社会保障局", G, Function.LABOUR),
    ("JYJ", "教育局", G, Function.EDUCATION),
    ("JTJ", "交通运输局", G, Function.TRANSPORT),
    ("SWJ", "水务局", G, Function.WATER),
    ("YJJ", "应急管理局", G, Function.EMERGENCY),
]
STREET_UNITS = [
    ("BSC", "办事处", G, Function.STREET_OFFICE),
    ("ZFD", "综合行政执法队", G, Function.URBAN_MANAGEMENT),
    ("PCS", "派出所", G, Function.PUBLIC_SECURITY),
    ("WSZX", "社区卫生服务中心", G, Function.HEALTH),
]
COMMUNITY_UNITS = [("JWH", "居民委员会", G, Function.COMMUNITY_AFFAIRS)]

CITY_SYLLABLES_1 = list("青云明安清宁临兴长平丰华泰嘉永瑞")
CITY_SYLLABLES_2 = list("州川阳江山城原溪浦津")
STREET_NAMES = [
    "东湖",
    "西城",
    "南关",
    "北苑",
    "和平",
    "建设",
    "人民",
    "解放",
    "新华",
    "文化",
    "光明",
    "幸福",
    "长安",
    "中山",
    "胜利",
    "朝阳",
    "民主",
    "青年",
    "团结",
    "振兴",
    "锦江",
    "滨河",
    "花园",
    "春熙",
    "玉林",
    "龙泉",
    "桂溪",
    "金沙",
    "草堂",
    "望江",
    "紫荆",
    "翠湖",
    "双桥",
    "石门",
    "白云",
    "红星",
    "杏坛",
    "梧桐",
    "松林",
    "银杏",
]
COMMUNITY_NAMES = [
    "枫林",
    "桃源",
    "怡景",
    "锦绣",
    "金桥",
    "银河",
    "丽都",
    "碧水",
    "景苑",
    "兰亭",
    "书香",
    "康乐",
    "福康",
    "润泽",
    "安居",
    "永安",
    "华府",
    "阳光",
    "晨曦",
    "星湖",
    "月湾",
    "海棠",
    "芙蓉",
    "蔷薇",
    "丁香",
    "菊园",
    "竹苑",
    "梅岭",
    "荷塘",
    "柳岸",
    "杨柳",
    "樱花",
    "清源",
    "翠竹",
    "新村",
    "东苑",
    "西苑",
    "南苑",
    "北园",
    "中心",
    "育才",
    "学府",
    "广场",
    "水岸",
    "绿洲",
    "长青",
    "常青",
    "映月",
    "观澜",
    "聚贤",
    "和谐",
    "盛世",
    "明珠",
    "宝华",
    "凤凰",
    "麒麟",
    "龙湾",
    "天鹅",
    "白鹭",
    "雁塔",
    "金穗",
    "丰收",
    "田园",
    "花溪",
    "春晓",
    "秋实",
    "冬青",
    "夏荷",
]


@dataclass
class DemoWorker:
    grid_code: str
    username: str
    display_name: str
    phone: str


@dataclass
class DemoCity:
    name: str
    areas: list[Area] = field(default_factory=list)
    departments: list[Department] = field(default_factory=list)
    workers: list[DemoWorker] = field(default_factory=list)

    def of_level(self, level: Level) -> list[Area]:
        return [a for a in self.areas if a.level is level]


@dataclass(frozen=True)
class Shape:
    """How many children each area gets when generated."""

    districts: int = 3
    streets_per_district: int = 4
    communities_per_street: int = 5
    grids_per_community: int = 10


class DemoCityBuilder:
    def __init__(self, seed: int = 2024, city_code: str = "990100") -> None:
        self.rng = np.random.default_rng(seed)
        self.faker = Faker("zh_CN")
        self.faker.seed_instance(seed)
        self.city_code = city_code
        self.city = DemoCity(name="")

    # -- whole cities

    def synthetic(
        self, shape: Shape = Shape(), center: tuple[float, float] = (104.06, 30.66)
    ) -> DemoCity:
        """A city of about 1,200 km² around CENTER (lon, lat), tiled from scratch."""
        outline = blob(center, 0.17, self.rng)
        city = self._add_city(outline)
        names = self._distinct(lambda: str(self.faker.district()) + "区", shape.districts)
        for i, (piece, name) in enumerate(
            zip(tile(outline, shape.districts, self.rng), names, strict=False), 1
        ):
            district = self._add(f"{self.city_code[:4]}{i:02d}", name, Level.DISTRICT, city, piece)
            self._fill_district(district, shape)
        return self.city

    def from_boundaries(
        self, districts: list[tuple[str, str, BaseGeometry]], shape: Shape, city_name: str | None
    ) -> DemoCity:
        """A city whose districts are real boundaries (code, name, geometry in WGS84), with
        streets, communities and grids generated inside each."""
        geometries = [polygonal(shapely.make_valid(g)) for _, _, g in districts]
        outline = shapely.union_all(geometries)
        city = self._add_city(outline, city_name)
        for (code, name, _), geometry in zip(districts, geometries, strict=True):
            district = self._add(code, name, Level.DISTRICT, city, geometry)
            self._fill_district(district, shape)
        return self.city

    # -- pieces

    def _add_city(self, outline: BaseGeometry, name: str | None = None) -> Area:
        self.city.name = name or (
            str(self.rng.choice(CITY_SYLLABLES_1)) + str(self.rng.choice(CITY_SYLLABLES_2)) + "市"
        )
        city = self._add(self.city_code, self.city.name, Level.CITY, None, outline)
        self._units(city, CITY_UNITS, prefix="市")
        return city

    def _fill_district(self, district: Area, shape: Shape) -> None:
        self._units(district, DISTRICT_UNITS, prefix=district.name)
        streets = tile(district.geometry, shape.streets_per_district, self.rng)
        street_names = self._distinct(
            lambda: str(self.rng.choice(STREET_NAMES)) + "街道", len(streets)
        )
        for s, (piece, s_name) in enumerate(zip(streets, street_names, strict=True), 1):
            street = self._add(f"{district.code}{s:03d}", s_name, Level.STREET, district, piece)
            self._units(street, STREET_UNITS, prefix=s_name)
            communities = tile(piece, shape.communities_per_street, self.rng)
            c_names = self._distinct(
                lambda: str(self.rng.choice(COMMUNITY_NAMES)) + "社区", len(communities)
            )
            for c, (c_piece, c_name) in enumerate(zip(communities, c_names, strict=True), 1):
                community = self._add(
                    f"{street.code}{c:03d}", c_name, Level.COMMUNITY, street, c_piece
                )
                self._community_units(community, c)
                for g, g_piece in enumerate(tile(c_piece, shape.grids_per_community, self.rng), 1):
                    grid = self._add(
                        f"{community.code}{g:03d}",
                        f"{c_name}第{g}网格",
                        Level.GRID,
                        community,
                        g_piece,
                    )
                    self.city.workers.append(
                        DemoWorker(
                            grid_code=grid.code,
                            username=f"gw{grid.code}",
                            display_name=self.faker.name(),
                            phone=self.faker.phone_number(),
                        )
                    )

    def _community_units(self, community: Area, position: int) -> None:
        self._units(community, COMMUNITY_UNITS, prefix=community.name)
        # The papers' "多元主体": property companies and volunteers handle cases too.
        if position % 2 == 1:
            company = self.faker.company_prefix() + "物业服务有限公司"
            self._unit(
                community,
                "WY",
                company,
                UnitKind.PROPERTY_MANAGEMENT,
                Function.PROPERTY_MANAGEMENT,
            )
        if position % 4 == 1:
            self._unit(
                community,
                "ZYD",
                community.name + "志愿服务队",
                UnitKind.VOLUNTEER_TEAM,
                Function.VOLUNTEERING,
            )

    def _units(
        self, area: Area, templates: list[tuple[str, str, UnitKind, Function]], prefix: str
    ) -> None:
        for suffix, name, kind, function in templates:
            self._unit(area, suffix, prefix + name, kind, function)

    def _unit(self, area: Area, suffix: str, name: str, kind: UnitKind, function: Function) -> None:
        self.city.departments.append(
            Department(
                code=f"{area.code}-{suffix}",
                name=name,
                level=area.level,
                area_code=area.code,
                kind=kind,
                function=function,
                phone=self.faker.phone_number(),
            )
        )

    def _add(
        self, code: str, name: str, level: Level, parent: Area | None, geometry: BaseGeometry
    ) -> Area:
        area = Area(
            code=code,
            name=name,
            level=level,
            parent_code=parent.code if parent else None,
            geometry=shapely.normalize(geometry),
        )
        self.city.areas.append(area)
        return area

    def _distinct(self, make: Callable[[], str], n: int) -> list[str]:
        """N different names (siblings never share a name; cousins may, as in real cities).
        Numbers are added when the name pool runs dry, so any size of city can be made."""
        names: list[str] = []
        for _ in range(n * 30):
            if len(names) == n:
                break
            name = make()
            if name not in names:
                names.append(name)
        while len(names) < n:
            base = make()
            names.append(f"{base[:-2]}{len(names) + 1}{base[-2:]}")
        return names
