"""Areas and grids (网格化): the hierarchy city → district → street → community → grid, and
the handling units (departments and non-government units) that sit at each level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from shapely.geometry.base import BaseGeometry

from civicgrid.core.db import utcnow
from civicgrid.core.errors import InvalidInput


class Level(StrEnum):
    CITY = "city"
    DISTRICT = "district"
    STREET = "street"
    COMMUNITY = "community"
    GRID = "grid"

    @property
    def rank(self) -> int:
        return LEVELS.index(self)

    @property
    def parent_level(self) -> Level | None:
        return None if self is Level.CITY else LEVELS[self.rank - 1]

    @classmethod
    def parse(cls, value: str) -> Level:
        try:
            return cls(value.strip().lower())
        except ValueError as exc:
            raise InvalidInput(
                "unknown_level", level=value, allowed=", ".join(lv.value for lv in cls)
            ) from exc


LEVELS: tuple[Level, ...] = tuple(Level)

LEVEL_LABELS: dict[Level, dict[str, str]] = {
    Level.CITY: {"zh": "市", "en": "City"},
    Level.DISTRICT: {"zh": "区", "en": "District"},
    Level.STREET: {"zh": "街道", "en": "Street"},
    Level.COMMUNITY: {"zh": "社区", "en": "Community"},
    Level.GRID: {"zh": "网格", "en": "Grid"},
}


@dataclass(eq=False)
class Area:
    code: str
    name: str
    level: Level
    parent_code: str | None
    geometry: BaseGeometry
    path: str = ""
    area_km2: float = 0.0
    min_lon: float = 0.0
    min_lat: float = 0.0
    max_lon: float = 0.0
    max_lat: float = 0.0
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)

    def place_under(self, parent: Area | None) -> None:
        """Set the path from the parent (or as a root), checking the level rule."""
        if parent is None:
            self.parent_code = None
            self.path = f"/{self.code}/"
            return
        if parent.level is not self.level.parent_level:
            raise InvalidInput(
                "wrong_parent_level",
                code=parent.code,
                found=parent.level.value,
                level=self.level.value,
                expected=self.level.parent_level.value if self.level.parent_level else "-",
            )
        self.parent_code = parent.code
        self.path = f"{parent.path}{self.code}/"

    def set_geometry(self, geometry: BaseGeometry, area_km2: float) -> None:
        self.geometry = geometry
        self.area_km2 = area_km2
        self.min_lon, self.min_lat, self.max_lon, self.max_lat = geometry.bounds
        self.updated_at = utcnow()

    @property
    def ancestor_codes(self) -> list[str]:
        """Codes from the city down to the parent, read off the path."""
        return self.path.strip("/").split("/")[:-1]


class UnitKind(StrEnum):
    """Handling units: government departments and the papers' "多元主体" beside them."""

    GOVERNMENT = "government"
    PROPERTY_MANAGEMENT = "property_management"
    SOCIAL_ORGANISATION = "social_organisation"
    VOLUNTEER_TEAM = "volunteer_team"
    ENTERPRISE = "enterprise"


UNIT_KIND_LABELS: dict[UnitKind, dict[str, str]] = {
    UnitKind.GOVERNMENT: {"zh": "政府部门", "en": "Government department"},
    UnitKind.PROPERTY_MANAGEMENT: {"zh": "物业服务企业", "en": "Property management"},
    UnitKind.SOCIAL_ORGANISATION: {"zh": "社会组织", "en": "Social organisation"},
    UnitKind.VOLUNTEER_TEAM: {"zh": "志愿服务队", "en": "Volunteer team"},
    UnitKind.ENTERPRISE: {"zh": "企业", "en": "Enterprise"},
}


class Function(StrEnum):
    """What a handling unit is responsible for. The authority list (事权清单) routes a case
    to "the unit with this function at this level in the case's area", so one rule serves
    every street or district."""

    URBAN_MANAGEMENT = "urban_management"
    HOUSING = "housing"
    ENVIRONMENT = "environment"
    MARKET_SUPERVISION = "market_supervision"
    PUBLIC_SECURITY = "public_security"
    HEALTH = "health"
    CIVIL_AFFAIRS = "civil_affairs"
    LABOUR = "labour"
    EDUCATION = "education"
    TRANSPORT = "transport"
    WATER = "water"
    EMERGENCY = "emergency"
    DATA = "data"
    STREET_OFFICE = "street_office"
    COMMUNITY_AFFAIRS = "community_affairs"
    PROPERTY_MANAGEMENT = "property_management"
    VOLUNTEERING = "volunteering"
    GENERAL = "general"


FUNCTION_LABELS: dict[Function, dict[str, str]] = {
    Function.URBAN_MANAGEMENT: {"zh": "城市管理", "en": "Urban management"},
    Function.HOUSING: {"zh": "住房建设", "en": "Housing and construction"},
    Function.ENVIRONMENT: {"zh": "生态环境", "en": "Environment"},
    Function.MARKET_SUPERVISION: {"zh": "市场监管", "en": "Market supervision"},
    Function.PUBLIC_SECURITY: {"zh": "公安", "en": "Public security"},
    Function.HEALTH: {"zh": "卫生健康", "en": "Health"},
    Function.CIVIL_AFFAIRS: {"zh": "民政", "en": "Civil affairs"},
    Function.LABOUR: {"zh": "人力社保", "en": "Labour and social security"},
    Function.EDUCATION: {"zh": "教育", "en": "Education"},
    Function.TRANSPORT: {"zh": "交通运输", "en": "Transport"},
    Function.WATER: {"zh": "水务", "en": "Water"},
    Function.EMERGENCY: {"zh": "应急管理", "en": "Emergency management"},
    Function.DATA: {"zh": "数据管理", "en": "Data management"},
    Function.STREET_OFFICE: {"zh": "街道办事处", "en": "Street office"},
    Function.COMMUNITY_AFFAIRS: {"zh": "社区事务", "en": "Community affairs"},
    Function.PROPERTY_MANAGEMENT: {"zh": "物业服务", "en": "Property management"},
    Function.VOLUNTEERING: {"zh": "志愿服务", "en": "Volunteering"},
    Function.GENERAL: {"zh": "综合", "en": "General"},
}


@dataclass(eq=False)
class Department:
    """A handling unit (职能部门 or other) at one level, responsible for one area."""

    code: str
    name: str
    level: Level
    area_code: str
    kind: UnitKind = UnitKind.GOVERNMENT
    function: Function = Function.GENERAL
    phone: str = ""
    active: bool = True
    created_at: datetime = field(default_factory=utcnow)
    # The unit's own system, told of new work by an HTTP POST (empty: none).
    webhook_url: str = ""
    id: int | None = None

    def facts(self) -> dict[str, object]:
        """What its history records of a unit (events.data), field by field."""
        return {
            "code": self.code,
            "name": self.name,
            "level": self.level.value,
            "area_code": self.area_code,
            "kind": self.kind.value,
            "function": self.function.value,
            "phone": self.phone,
            "active": self.active,
            "webhook_url": self.webhook_url,
        }
