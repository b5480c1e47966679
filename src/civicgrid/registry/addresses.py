"""Chinese addresses: free text → structured parts → the standard address (标准地址) it names.

Department exports write the same door many ways: "东城区东华门街道南池子大街12号3号楼2单元501室",
"南池子大街十二号3栋2单元501", "南池子大街12号3-2-501". `parse_address` reads the parts a
standard address has — district (区/县), street (街道/镇/乡), community (社区/村), road
(路/街/大道/巷/胡同…), door number (号), estate (小区/花园/苑…), building (栋/幢/号楼/座),
unit (单元) and room (室/户) — with full-width characters and Chinese numerals normalised
and the "3-2-501" shorthand (building-unit-room) understood.

`AddressBook` matches parsed addresses to the standard ones: first on every part, then on
the parts a department usually writes (road, door, building, unit, room) when the district
or street is left out but only one standard address fits. Anything else is unmatched and
goes to review with the reason; a guess is never made.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, fields, replace

_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}
_CHINESE_NUMBER = re.compile(r"[零〇一二两三四五六七八九十百千]+")


def chinese_number(text: str) -> int:
    """十二 → 12, 一百零五 → 105, 三零一 → 301 (read digit by digit when there is no unit)."""
    if not any(c in _UNITS for c in text):
        return int("".join(str(_DIGITS[c]) for c in text))
    total, digit = 0, 0
    for c in text:
        if c in _DIGITS:
            digit = _DIGITS[c]
        else:
            total += (digit or 1) * _UNITS[c]
            digit = 0
    return total + digit


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), no spaces or punctuation, Chinese numerals before a
    numbered part (号, 栋, 幢, 号楼, 单元, 室, 层, 楼) as digits."""
    text = unicodedata.normalize("NFKC", text)
    text = re.sub(r"[\s,，。、;；:：\"'“”‘’()（）\[\]【】]", "", text)
    text = text.replace("－", "-").replace("—", "-").replace("~", "-")
    return re.sub(
        r"([零〇一二两三四五六七八九十百千]+)(?=号|栋|幢|座|单元|室|层|楼|户)",
        lambda m: str(chinese_number(m.group(1))),
        text,
    )


@dataclass(frozen=True)
class ParsedAddress:
    district: str = ""
    street: str = ""
    community: str = ""
    road: str = ""
    number: str = ""  # door number on the road: "12", "12-1", "甲12"
    estate: str = ""
    building: str = ""
    unit: str = ""
    room: str = ""
    rest: str = ""  # what was not understood (a shop name, a landmark…)

    def key(self) -> tuple[str, ...]:
        """Every part, for an exact match."""
        return tuple(getattr(self, f.name) for f in fields(self) if f.name != "rest")

    def door_key(self) -> tuple[str, ...]:
        """The parts a department nearly always writes: where on which road, which room."""
        return (self.road or self.estate, self.number, self.building, self.unit, self.room)

    def text(self) -> str:
        """The standard written form: 东城区东华门街道南池子大街12号3栋2单元501室."""
        parts = [self.district, self.street, self.community, self.road]
        parts.append(f"{self.number}号" if self.number else "")
        parts.append(self.estate)
        parts.append(f"{self.building}栋" if self.building else "")
        parts.append(f"{self.unit}单元" if self.unit else "")
        parts.append(f"{self.room}室" if self.room else "")
        return "".join(parts)


_PREFIX = re.compile(r"^(?:[\u4e00-\u9fa5]{2,8}?(?:省|自治区))?(?:[\u4e00-\u9fa5]{2,8}?市)?")
_PART = {
    "district": re.compile(r"^([\u4e00-\u9fa5]{1,8}?(?:区|县|旗))"),
    "street": re.compile(r"^([\u4e00-\u9fa5]{1,10}?(?:街道|镇|乡))"),
    # "中关村大街" is a road, not a village.
    "community": re.compile(
        r"^([\u4e00-\u9fa5]{1,10}?(?:社区|村委会|居委会|村))(?!大街|大道|路|街|巷|胡同)"
    ),
    "road": re.compile(
        r"^([\u4e00-\u9fa5A-Za-z0-9]{1,12}?(?:大道|大街|路|街|巷|胡同|里|弄|道))(?=\d|[甲乙丙丁]\d|$)"
    ),
}
_NUMBER = re.compile(r"^([甲乙丙丁]?\d+(?:-\d+)?)号(?!楼)")
_ESTATE = re.compile(
    r"^([\u4e00-\u9fa5A-Za-z0-9]{1,14}?(?:小区|花园|家园|公寓|新村|苑|园|庭|府|城|广场|大厦|中心)"
    r"(?:[一二三四五六七八九十\d]{1,3}[区期]|[A-Za-z东西南北中][区院])?)"
)
_SHORTHAND = re.compile(r"^(\d+)-(\d+)-(\d+)(?:室|号|户)?$")
_BUILDING = re.compile(r"^([A-Za-z]?\d+[A-Za-z]?|[A-Za-z])(?:号楼|栋|幢|座|楼(?!层))")
_UNIT = re.compile(r"^(\d+)单元")
_ROOM = re.compile(r"^(\d+)(?:室|户|号|房)?$")


def parse_address(text: str) -> ParsedAddress:
    """The parts of a free-text address; what is not understood is kept in `rest`."""
    rest = _PREFIX.sub("", normalise(text), count=1)
    found: dict[str, str] = {}
    for name, pattern in _PART.items():
        if match := pattern.match(rest):
            found[name] = match.group(1)
            rest = rest[match.end() :]
    if match := _NUMBER.match(rest):
        found["number"] = match.group(1)
        rest = rest[match.end() :]
    if match := _ESTATE.match(rest):
        found["estate"] = match.group(1)
        rest = rest[match.end() :]
    if match := _SHORTHAND.match(rest):
        found["building"], found["unit"], found["room"] = match.groups()
        return ParsedAddress(**found)
    if match := _BUILDING.match(rest):
        found["building"] = match.group(1).upper()
        rest = rest[match.end() :]
    if match := _UNIT.match(rest):
        found["unit"] = match.group(1)
        rest = rest[match.end() :]
    if match := _ROOM.match(rest):
        found["room"] = match.group(1)
        rest = ""
    return ParsedAddress(**found, rest=rest)


@dataclass(frozen=True)
class AddressMatch:
    address_id: int | None
    # "exact", "door" (road, number, building, unit and room), or why not: "none", "ambiguous"
    how: str
    parsed: ParsedAddress


class AddressBook:
    """The city's standard addresses, to match free text against."""

    def __init__(self, addresses: Iterable[tuple[int, ParsedAddress]]) -> None:
        self._exact: dict[tuple[str, ...], int] = {}
        self._door: dict[tuple[str, ...], set[int]] = defaultdict(set)
        for address_id, parsed in addresses:
            self._exact.setdefault(parsed.key(), address_id)
            self._door[parsed.door_key()].add(address_id)

    def __len__(self) -> int:
        return len(self._exact)

    def match(self, text: str) -> AddressMatch:
        parsed = parse_address(text)
        if (found := self._exact.get(parsed.key())) is not None:
            return AddressMatch(found, "exact", parsed)
        if not any(parsed.door_key()[:2]):
            return AddressMatch(None, "none", parsed)
        candidates = self._door.get(parsed.door_key(), set())
        if len(candidates) == 1:
            return AddressMatch(next(iter(candidates)), "door", parsed)
        if not candidates and parsed.estate and parsed.road:
            # "南池子大街12号锦绣苑3栋…" where the standard address has only the estate.
            candidates = self._door.get(replace(parsed, road="").door_key(), set())
            if len(candidates) == 1:
                return AddressMatch(next(iter(candidates)), "door", parsed)
        return AddressMatch(None, "ambiguous" if candidates else "none", parsed)
