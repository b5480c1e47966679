"""Record linkage (打破信息孤岛): the same people, houses and organisations in several
departments' files, found and grouped into one entity each, with Splink (DuckDB by default,
Spark for a bigger city).

Input is plain records — a pyarrow table or dicts with `source`, `record_id` and the kind's
fields; output is scored pairs and clusters (an `entity_id` per record). What is compared,
how candidates are found (blocking) and which value the registry believes are a
`LinkageSpec`: `SPECS` holds `PEOPLE`, `HOUSES` and `ORGANISATIONS`, and
`link_records(records, "houses")` links any of them.

Whatever the backend, two small steps run in DuckDB in this process: u (how often two
different entities agree) is estimated on all pairs of a random sample of about 2,000
records, and clusters are formed from the pairs above the threshold. Spark does the work
that grows with the city — counting and scoring the blocked pairs, and expectation
maximisation over them.

People are compared on:
- name: the same characters → the same toneless pinyin (homophones 杨明伟 / 杨铭玮) →
  pinyin Jaro-Winkler ≥ 0.9 → else. Names go through pinyin because DuckDB's string
  distances count UTF-8 bytes (three per character) while Spark's count characters;
  pinyin is ASCII, so both backends score it the same;
- identity number: exact → one substitution or transposition away (a mistyped digit
  fails the check character, but the value is kept and still links) → else;
- birth date: exact → one of year, month, day differs or day and month swapped → else;
- phone: exact → the same last eight digits → else;
- address: the same door (road or estate, number, building, unit, room, read by
  `parse_address`) → the same building → else; and sex: exact → else.

Houses (flats) are compared on the address's door (a door names one flat, so its u is
fixed small) → the same unit with the room one digit off or two swapped → the same
building → else; the owner's name as for people; the owner's phone; and the floor area:
within 0.5 m² → within 5 % → within 30 % (usable area 套内面积 against floor area 建筑面积)
→ else.

Organisations are compared on the unified social credit code: exact → one character
mistyped or two swapped → else; the name (the city in front, a region in brackets and the
legal form 有限公司/有限责任公司/股份有限公司 left out, wherever it stands; the branch words
分公司… kept): the same → the same pinyin → pinyin Jaro-Winkler ≥ 0.92 when both or
neither are a branch (a head office and its branch are two organisations) → else; the
address's door → building → else; the contact's name as for people; and the contact phone.

Reviewer decisions (`ReviewDecisions`) are applied every time clusters are formed, so they
survive the next run: a confirmed pair (must-link) is an edge even when the model scores it
low, a split pair (cannot-link) is never an edge, and two records split apart are never put
in one entity through a third record. Where a split pair would still end up together,
their cluster is rebuilt from its strongest edges down (confirmed pairs first), leaving out
every edge that would join two groups holding a split pair. A split beats a confirmation
that contradicts it (a wrong merge of two people does more harm than a missed link); such
confirmations are reported in `LinkageResult.conflicts`.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from civicgrid.registry.addresses import normalise, parse_address
from civicgrid.registry.identifiers import clean, identity_check_character

if TYPE_CHECKING:
    from splink.internals.database_api import DatabaseAPI

Backend = Literal["duckdb", "spark"]
RecordKey = tuple[str, str]  # (source, record_id)
# progress(stage, done, total): called as each stage starts — prepare, load (start the
# backend, hand it the records), train, predict, cluster — with done = stages finished so
# far, and once more at the end as ("done", total, total).
Progress = Callable[[str, int, int], None]

UID_SEPARATOR = "|"
DEFAULT_THRESHOLD = 0.9
SPARK_SESSION_NAME = "civicgrid-linkage"

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ preparing values


@cache
def char_pinyin(char: str) -> str:
    """The toneless pinyin of one character (the character itself when it has none)."""
    from pypinyin import Style, lazy_pinyin

    return "".join(lazy_pinyin(char, style=Style.NORMAL, errors="default")).lower()


def name_pinyin(name: str) -> str:
    """杨铭玮 → yangmingwei: character by character, so homophones always agree."""
    return "".join(char_pinyin(c) for c in name if not c.isspace())


def clean_name(text: str) -> str:
    return re.sub(r"[\s·•.]", "", unicodedata.normalize("NFKC", text))


_DATE = re.compile(r"^(\d{4})[-/.年]?(\d{1,2})[-/.月]?(\d{1,2})日?$")


def clean_birth_date(text: str) -> str | None:
    """1990-1-2, 1990/01/02, 19900102, 1990年1月2日 → 1990-01-02; None when it is no date."""
    match = _DATE.match(unicodedata.normalize("NFKC", text).strip())
    if not match:
        return None
    year, month, day = (int(part) for part in match.groups())
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def clean_identity(text: str) -> str | None:
    """Spaces and full-width digits out, an upper-case X, and an old 15-digit number
    written the 18-digit way (as GB 11643 upgrades it), so the two forms match exactly.
    A wrong check character is kept: the number may still link by its other digits."""
    value = clean(text)
    if len(value) == 15 and value.isdigit():
        first17 = value[:6] + "19" + value[6:]
        value = first17 + identity_check_character(first17)
    return value or None


def clean_sex(text: str) -> str | None:
    value = text.strip().upper()
    return {"M": "M", "男": "M", "1": "M", "F": "F", "女": "F", "2": "F"}.get(value)


def clean_phone(text: str) -> str | None:
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", text))
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def address_keys(text: str) -> tuple[str, str] | None:
    """(the door, the building) of a free-text address, however it was written."""
    if not text.strip():
        return None
    parsed = parse_address(text)
    road, number, building, unit, room = parsed.door_key()
    if not (road or number):
        whole = normalise(text)
        return whole, whole
    return (
        UID_SEPARATOR.join((road, number, building, unit, room)),
        UID_SEPARATOR.join((road, number, building)),
    )


def _map_strings(column: pa.Array | pa.ChunkedArray, function: Callable[[str], Any]) -> pa.Array:
    """FUNCTION over each distinct value once (department files repeat values a lot)."""
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    encoded = pc.dictionary_encode(pc.fill_null(column.cast(pa.string()), ""))
    mapped = pa.array([function(v) for v in encoded.dictionary.to_pylist()])
    return mapped.take(encoded.indices)


def _as_table(records: pa.Table | Iterable[Mapping[str, Any]], fields: Sequence[str]) -> pa.Table:
    if isinstance(records, pa.Table):
        table = records
    else:
        rows = list(records)
        columns = {name: [row.get(name) for row in rows] for name in rows[0]} if rows else {}
        table = (
            pa.table(columns)
            if columns
            else pa.table({f: pa.array([], pa.string()) for f in ("source", "record_id", *fields)})
        )
    missing = [f for f in ("source", "record_id") if f not in table.column_names]
    if missing:
        raise ValueError(f"records need the columns {', '.join(missing)}")
    for name in fields:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(len(table), pa.string()))
    return table


def _prepare_people(table: pa.Table) -> pa.Table:
    """The columns Splink compares, derived from a people table."""
    return pa.table(
        {
            "uid": _uids(table),
            **_name_columns(table["name"], "name"),
            "identity": _map_strings(table["identity"], clean_identity),
            "birth_date": _map_strings(table["birth_date"], clean_birth_date),
            "sex": _map_strings(table["sex"], clean_sex),
            **_phone_columns(table["phone"], "phone"),
            **_address_columns(table["address"]),
        }
    )


def _uids(table: pa.Table) -> pa.Array:
    return pc.binary_join_element_wise(
        table["source"].cast(pa.string()), table["record_id"].cast(pa.string()), UID_SEPARATOR
    )


def split_uid(uid: str) -> RecordKey:
    source, _, record_id = uid.partition(UID_SEPARATOR)
    return source, record_id


def uid_of(key: RecordKey) -> str:
    return f"{key[0]}{UID_SEPARATOR}{key[1]}"


# ------------------------------------------------------------------ the kinds of entity


@dataclass(frozen=True)
class SurvivorshipRule:
    """Which value of FIELD the registry believes: the first of SOURCES (in that order) that
    has one, else the most frequent, else the most recent. SAME says when two written values
    are one value (two spellings of one address are no disagreement)."""

    field: str
    sources: tuple[str, ...] = ()
    same: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class LinkageSpec:
    """Everything kind-specific about linking one kind of entity (people, houses, …)."""

    kind: str
    fields: tuple[str, ...]
    prepare: Callable[[pa.Table], pa.Table]  # → uid plus the columns compared
    # (how many records are linked) → the comparisons; a level whose u is fixed may need
    # the number, as one in N records is a chance agreement.
    comparisons: Callable[[int], list[Any]]
    blocking_rules: Callable[[], list[Any]]
    # Each trains the m values of the comparisons it does not block on.
    training_rules: Callable[[], list[Any]]
    # Pairs that agree on this are counted to estimate how many pairs match at all.
    deterministic_rules: Callable[[], list[Any]]
    deterministic_recall: float
    survivorship: tuple[SurvivorshipRule, ...]
    threshold: float = DEFAULT_THRESHOLD


def _people_comparisons(records: int) -> list[Any]:
    del records  # every u is estimated
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def same_parts(a: tuple[int, int], b: tuple[int, int]) -> str:
        return f"substr(birth_date_l, {a[0]}, {a[1]}) = substr(birth_date_r, {b[0]}, {b[1]})"

    year, month, day = (1, 4), (6, 2), (9, 2)
    y, m, d = same_parts(year, year), same_parts(month, month), same_parts(day, day)
    swapped = f"{y} AND {same_parts(month, day)} AND {same_parts(day, month)}"
    return [
        _name_comparison("name", "name"),
        _code_comparison("identity"),
        cl.CustomComparison(
            output_column_name="birth_date",
            comparison_levels=[
                cll.NullLevel("birth_date"),
                cll.ExactMatchLevel("birth_date"),
                cll.CustomLevel(
                    f"({y} AND {m}) OR ({y} AND {d}) OR ({m} AND {d}) OR ({swapped})",
                    label_for_charts="one part differs or day and month swapped",
                ),
                cll.ElseLevel(),
            ],
        ),
        _phone_comparison("phone"),
        cl.CustomComparison(
            output_column_name="address",
            comparison_levels=[
                cll.NullLevel("address_door"),
                cll.ExactMatchLevel("address_door").configure(label_for_charts="same door"),
                cll.ExactMatchLevel("address_building").configure(
                    label_for_charts="same building", m_probability=0.02, u_probability=2e-4
                ),
                cll.ElseLevel(),
            ],
        ),
        # Priors for levels a clean sample may never show; training refines them.
        cl.ExactMatch("sex").configure(m_probabilities=[0.99, 0.01], u_probabilities=[0.5, 0.5]),
    ]


def _one_edit_apart_level(column: str) -> Any:
    """A comparison level: COLUMN's two values are one substitution or one swap of
    neighbours apart. DuckDB's Damerau-Levenshtein is slow (35 s for 2 million pairs of
    identity numbers), so it is only asked about the few pairs a cheap distance leaves in
    doubt: Hamming distance 2 on DuckDB, Levenshtein distance 2 on Spark."""
    from splink.internals.comparison_level_creator import ComparisonLevelCreator
    from splink.internals.dialects import SplinkDialect

    class OneEditApart(ComparisonLevelCreator):
        def create_sql(self, sql_dialect: SplinkDialect) -> str:
            left, right = f"{column}_l", f"{column}_r"
            damerau = f"{sql_dialect.damerau_levenshtein_function_name}({left}, {right}) <= 1"
            if sql_dialect.sql_dialect_str == "duckdb":
                return (
                    f"CASE WHEN length({left}) <> length({right}) THEN false "
                    f"WHEN hamming({left}, {right}) <= 1 THEN true "
                    f"WHEN hamming({left}, {right}) = 2 THEN {damerau} ELSE false END"
                )
            if sql_dialect.sql_dialect_str == "spark":
                return (
                    f"CASE WHEN levenshtein({left}, {right}) <= 1 THEN true "
                    f"WHEN levenshtein({left}, {right}) = 2 THEN {damerau} ELSE false END"
                )
            return damerau

        def create_label_for_charts(self) -> str:
            return "one character mistyped or two swapped"

    return OneEditApart()


def _people_blocking_rules() -> list[Any]:
    from splink import block_on

    # Tight enough for millions of records: every rule's blocks are a handful of records,
    # and together they still catch a person whose id is missing and whose phone changed.
    return [
        block_on("identity"),
        block_on("phone"),
        block_on("name_py", "birth_date"),
        block_on("birth_date", "address_door"),
        block_on("name_py", "address_building"),
        block_on("name", "phone8"),
    ]


def _people_training_rules() -> list[Any]:
    from splink import block_on

    return [block_on("identity"), block_on("name_py", "birth_date")]


def _people_deterministic_rules() -> list[Any]:
    from splink import block_on

    return [block_on("identity"), block_on("name", "birth_date", "phone")]


def _door(text: str) -> str:
    keys = address_keys(text)
    return keys[0] if keys else ""


PEOPLE = LinkageSpec(
    kind="people",
    fields=("name", "identity", "birth_date", "sex", "phone", "address"),
    prepare=_prepare_people,
    comparisons=_people_comparisons,
    blocking_rules=_people_blocking_rules,
    training_rules=_people_training_rules,
    deterministic_rules=_people_deterministic_rules,
    deterministic_recall=0.7,
    survivorship=(
        # Public security holds the registered identity; the grid workers see where people
        # live now and which phone they answer.
        SurvivorshipRule("name", ("public_security",), clean_name),
        SurvivorshipRule("identity", ("public_security",), clean_identity),
        SurvivorshipRule("birth_date", ("public_security",), clean_birth_date),
        SurvivorshipRule("sex", ("public_security",), clean_sex),
        SurvivorshipRule("address", ("grid", "housing"), _door),
        SurvivorshipRule("phone", ("grid",), clean_phone),
    ),
)
# ------------------------------------------------------------------ houses


def clean_area(text: str) -> float | None:
    """89.5, ８９.５㎡, 89.5平方米, 89.5 m2 → 89.5; None when it is no positive number."""
    value = unicodedata.normalize("NFKC", text).strip()
    match = re.match(r"^(\d+(?:\.\d+)?)\s*(?:㎡|m2|m²|平方米|平米|平)?$", value, re.IGNORECASE)
    if not match:
        return None
    area = float(match.group(1))
    return area if area > 0 else None


def unit_keys(text: str) -> tuple[str, str] | None:
    """(the unit: road or estate, number, building, unit; the room) of a free-text address,
    so a room number mistyped by one digit can still be compared with its neighbours."""
    if not text.strip():
        return None
    parsed = parse_address(text)
    road, number, building, unit, room = parsed.door_key()
    if not (road or number) or not room:
        return None
    return UID_SEPARATOR.join((road, number, building, unit)), room


def _parts(mapped: pa.Array, count: int) -> list[pa.Array]:
    """The COUNT parts of each tuple a `_map_strings` returned (nulls where it gave None)."""
    if mapped.type == pa.null():  # no value at all, or no records
        return [pa.nulls(len(mapped), pa.string()) for _ in range(count)]
    return [pc.list_element(mapped, i) for i in range(count)]


def _name_columns(column: pa.Array | pa.ChunkedArray, prefix: str) -> dict[str, pa.Array]:
    names = _map_strings(column, clean_name)
    return {
        prefix: pc.if_else(pc.equal(names, ""), None, names),
        f"{prefix}_py": _map_strings(names, lambda v: name_pinyin(v) or None),
    }


def _phone_columns(column: pa.Array | pa.ChunkedArray, prefix: str) -> dict[str, pa.Array]:
    """PREFIX and PREFIX8 (its last eight digits), as _phone_comparison compares them."""
    phones = _map_strings(column, clean_phone)
    return {prefix: phones, f"{prefix}8": pc.utf8_slice_codeunits(phones, -8)}


def _address_columns(column: pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
    door, building = _parts(_map_strings(column, address_keys), 2)
    return {"address_door": door, "address_building": building}


def _prepare_houses(table: pa.Table) -> pa.Table:
    """The columns Splink compares, derived from a houses table."""
    unit, room = _parts(_map_strings(table["address"], unit_keys), 2)
    areas = _map_strings(table["area_m2"], clean_area)
    return pa.table(
        {
            "uid": _uids(table),
            **_address_columns(table["address"]),
            "address_unit": unit,
            "room": room,
            **_name_columns(table["owner_name"], "owner"),
            **_phone_columns(table["owner_phone"], "owner_phone"),
            "area_m2": areas.cast(pa.float64()),
        }
    )


def _name_comparison(column: str, label: str) -> Any:
    """COLUMN (characters) and COLUMN_py (its pinyin): the same characters → the same
    pinyin → pinyin Jaro-Winkler ≥ 0.9 → else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=label,
        comparison_levels=[
            cll.NullLevel(f"{column}_py"),
            cll.ExactMatchLevel(column).configure(label_for_charts="same characters"),
            cll.ExactMatchLevel(f"{column}_py").configure(label_for_charts="same pinyin"),
            cll.JaroWinklerLevel(f"{column}_py", 0.9),
            cll.ElseLevel(),
        ],
    )


def _code_comparison(column: str) -> Any:
    """An identity number or credit code: exact → one character mistyped or two neighbours
    swapped (kept although the check character fails) → else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            _one_edit_apart_level(column),
            cll.ElseLevel(),
        ],
    )


def _phone_comparison(column: str) -> Any:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return cl.CustomComparison(
        output_column_name=column,
        comparison_levels=[
            cll.NullLevel(column),
            cll.ExactMatchLevel(column),
            cll.ExactMatchLevel(f"{column}8").configure(
                label_for_charts="same last 8 digits", m_probability=0.02, u_probability=1e-6
            ),
            cll.ElseLevel(),
        ],
    )


def _houses_comparisons(records: int) -> list[Any]:
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    room_l, room_r = "room_l", "room_r"
    return [
        cl.CustomComparison(
            output_column_name="address",
            comparison_levels=[
                cll.NullLevel("address_door"),
                # A door names one flat: two flats' records share one only when a room
                # number was mistyped onto a neighbour's. u from a random sample of pairs
                # would instead count the matches themselves, and a record that has
                # nothing but the door (the grid's, the owner unknown) would never link.
                cll.ExactMatchLevel("address_door").configure(
                    label_for_charts="same door",
                    u_probability=_chance_same_door(records),
                    fix_u_probability=True,
                ),
                # 501 for 510 or 502: a mistyped room, or the neighbour (the owner decides).
                cll.CustomLevel(
                    f"address_unit_l = address_unit_r AND length({room_l}) = length({room_r}) "
                    f"AND levenshtein({room_l}, {room_r}) <= 2",
                    label_for_charts="same unit, room one digit off or two swapped",
                ),
                cll.ExactMatchLevel("address_building").configure(label_for_charts="same building"),
                cll.ElseLevel(),
            ],
        ),
        _name_comparison("owner", "owner"),
        _phone_comparison("owner_phone"),
        cl.CustomComparison(
            output_column_name="area_m2",
            comparison_levels=[
                cll.NullLevel("area_m2"),
                cll.AbsoluteDifferenceLevel("area_m2", 0.5).configure(
                    label_for_charts="within half a square metre"
                ),
                cll.PercentageDifferenceLevel("area_m2", 0.05),
                # Floor area (建筑面积) against usable area (套内面积) is about a fifth less.
                cll.PercentageDifferenceLevel("area_m2", 0.3),
                cll.ElseLevel(),
            ],
        ),
    ]


# The share of flat records whose room is mistyped onto another flat's door.
MISTYPED_DOOR_SHARE = 0.01


def _chance_same_door(records: int) -> float:
    """u of the same door among RECORDS: each mistyped record shares its door with about
    one other flat's record, out of all RECORDS·(RECORDS−1)/2 pairs."""
    pairs = max(records * (records - 1) / 2, 1.0)
    return min(max(MISTYPED_DOOR_SHARE * records / pairs, 1e-12), 0.5)


def _houses_blocking_rules() -> list[Any]:
    from splink import block_on

    return [
        block_on("address_door"),
        block_on("address_unit", "owner_py"),
        block_on("owner_py", "owner_phone"),
        block_on("address_building", "owner_phone"),
    ]


def _houses_training_rules() -> list[Any]:
    from splink import block_on

    return [block_on("address_door"), block_on("owner_py", "owner_phone")]


def _houses_deterministic_rules() -> list[Any]:
    from splink import block_on

    return [block_on("address_door", "owner_py"), block_on("address_door", "owner_phone")]


HOUSES = LinkageSpec(
    kind="houses",
    fields=("address", "owner_name", "owner_phone", "area_m2"),
    prepare=_prepare_houses,
    comparisons=_houses_comparisons,
    blocking_rules=_houses_blocking_rules,
    training_rules=_houses_training_rules,
    deterministic_rules=_houses_deterministic_rules,
    deterministic_recall=0.8,
    survivorship=(
        # The real-estate register (不动产登记) holds the legal owner and the surveyed area;
        # the grid workers see which phone the owner answers now.
        SurvivorshipRule("address", ("real_estate", "housing"), _door),
        SurvivorshipRule("owner_name", ("real_estate", "housing"), clean_name),
        SurvivorshipRule("area_m2", ("real_estate", "housing"), clean_area),
        SurvivorshipRule("owner_phone", ("grid",), clean_phone),
    ),
)


# ------------------------------------------------------------------ organisations

# A company's legal form, written or left out as a department pleases: 有限公司 and
# 有限责任公司 are one form, and the shop sign the grid worker copies has none.
LEGAL_FORMS = (
    "股份有限公司",
    "有限责任公司",
    "有限公司",
    "集团公司",
    "个体工商户",
    "合伙企业",
    "公司",
)
# What makes a record a branch (分支机构) of another: a branch is an organisation of its
# own, with its own credit code, never the head office written differently.
BRANCH_WORDS = ("分公司", "分店", "分行", "分院", "营业部", "办事处", "分部")
_REGION_PREFIX = re.compile(
    r"^(?:[\u4e00-\u9fa5]{2,3}省)?(?:北京市?|天津市?|上海市?|重庆市?|[\u4e00-\u9fa5]{2,3}市)"
    r"(?:[\u4e00-\u9fa5]{1,3}区)?"
)
_BRACKETED = re.compile(r"[(（][^)）]*[)）]")


def organisation_name(text: str) -> tuple[str, bool]:
    """(the name as compared, whether it names a branch): the city in front, a region in
    brackets and the legal form are left out, wherever the legal form stands —
    北京市老王餐饮管理有限公司朝阳分公司 and 老王餐饮管理朝阳分公司 are both
    (老王餐饮管理朝阳分公司, True); 老王餐饮管理(北京)有限责任公司 is (老王餐饮管理, False).
    The branch words stay in the name, so a head office and its branch never read as one."""
    name = _BRACKETED.sub("", clean_name(text))
    # The head office's part ends where a branch word starts (分公司 holds 公司).
    head_end = min((at for w in BRANCH_WORDS if (at := name.find(w)) > 0), default=len(name))
    branch = head_end < len(name)
    for form in LEGAL_FORMS:
        at = name.rfind(form, 0, head_end)
        if at >= 0:
            if at > 0:  # a name that is nothing but a legal form keeps it
                name = name[:at] + name[at + len(form) :]
            break
    return _REGION_PREFIX.sub("", name, count=1) or name, branch


def clean_credit_code(text: str) -> str | None:
    """Spaces and full-width characters out, upper case; a wrong check character is kept
    (the code may still link by its other characters)."""
    return clean(text) or None


def _prepare_organisations(table: pa.Table) -> pa.Table:
    """The columns Splink compares, derived from an organisations table."""
    name = _map_strings(table["name"], lambda v: organisation_name(v)[0])
    branch = _map_strings(table["name"], lambda v: organisation_name(v)[1])
    return pa.table(
        {
            "uid": _uids(table),
            "credit_code": _map_strings(table["credit_code"], clean_credit_code),
            "org_name": pc.if_else(pc.equal(name, ""), None, name),
            "org_name_py": _map_strings(name, lambda v: name_pinyin(v) or None),
            "branch": branch,
            **_address_columns(table["address"]),
            **_name_columns(table["contact_name"], "contact"),
            **_phone_columns(table["contact_phone"], "contact_phone"),
        }
    )


def _organisations_comparisons(records: int) -> list[Any]:
    del records  # every u is estimated
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    return [
        _code_comparison("credit_code"),
        cl.CustomComparison(
            output_column_name="name",
            comparison_levels=[
                cll.NullLevel("org_name_py"),
                cll.ExactMatchLevel("org_name").configure(
                    label_for_charts="same name (city and legal form aside)"
                ),
                cll.ExactMatchLevel("org_name_py").configure(label_for_charts="same pinyin"),
                # A branch's name holds its head office's: never a near match of it.
                cll.And(
                    cll.JaroWinklerLevel("org_name_py", 0.92),
                    cll.CustomLevel("branch_l = branch_r"),
                ).configure(
                    label_for_charts="pinyin Jaro-Winkler >= 0.92, both or neither a branch"
                ),
                cll.ElseLevel(),
            ],
        ),
        cl.CustomComparison(
            output_column_name="address",
            comparison_levels=[
                cll.NullLevel("address_door"),
                cll.ExactMatchLevel("address_door").configure(label_for_charts="same door"),
                cll.ExactMatchLevel("address_building").configure(label_for_charts="same building"),
                cll.ElseLevel(),
            ],
        ),
        _name_comparison("contact", "contact"),
        _phone_comparison("contact_phone"),
    ]


def _organisations_blocking_rules() -> list[Any]:
    from splink import block_on

    return [
        block_on("credit_code"),
        block_on("org_name_py"),
        block_on("contact_phone"),
        block_on("address_door", "contact_py"),
        block_on("address_building", "contact_phone8"),
    ]


def _organisations_training_rules() -> list[Any]:
    from splink import block_on

    return [block_on("credit_code"), block_on("org_name_py")]


def _organisations_deterministic_rules() -> list[Any]:
    from splink import block_on

    return [block_on("credit_code"), block_on("org_name", "contact_phone")]


ORGANISATIONS = LinkageSpec(
    kind="organisations",
    fields=("name", "credit_code", "address", "contact_name", "contact_phone"),
    prepare=_prepare_organisations,
    comparisons=_organisations_comparisons,
    blocking_rules=_organisations_blocking_rules,
    training_rules=_organisations_training_rules,
    deterministic_rules=_organisations_deterministic_rules,
    deterministic_recall=0.8,
    survivorship=(
        # Market regulation (市场监管) registers the legal name and the code; the grid
        # workers know where the business is and whom to call.
        SurvivorshipRule("name", ("market",), clean_name),
        SurvivorshipRule("credit_code", ("market", "tax"), clean_credit_code),
        SurvivorshipRule("address", ("grid",), _door),
        SurvivorshipRule("contact_name", ("grid",), clean_name),
        SurvivorshipRule("contact_phone", ("grid",), clean_phone),
    ),
)
SPECS = {spec.kind: spec for spec in (PEOPLE, HOUSES, ORGANISATIONS)}


# ------------------------------------------------------------------ reviewer decisions


@dataclass(frozen=True)
class ReviewDecisions:
    """What reviewers decided about pairs of records: confirmed (must_link) and split
    (cannot_link). Kept by the caller and passed to every run."""

    must_link: Sequence[tuple[RecordKey, RecordKey]] = ()
    cannot_link: Sequence[tuple[RecordKey, RecordKey]] = ()

    def __bool__(self) -> bool:
        return bool(self.must_link or self.cannot_link)


class _Groups:
    """Union-find over record ids, refusing merges that would join a split pair or two
    records of a source that holds each entity once."""

    def __init__(self, forbidden: Mapping[str, set[str]], one_per_source: Collection[str]) -> None:
        self.parent: dict[str, str] = {}
        self.members: dict[str, set[str]] = {}
        self.sources: dict[str, set[str]] = {}
        self.forbidden = forbidden
        self.one_per_source = frozenset(one_per_source)

    def find(self, node: str) -> str:
        if node not in self.parent:
            self.parent[node] = node
            self.members[node] = {node}
            source = split_uid(node)[0]
            self.sources[node] = {source} if source in self.one_per_source else set()
        root = node
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[node] != root:
            self.parent[node], node = root, self.parent[node]
        return root

    def union(self, a: str, b: str, *, confirmed: bool = False) -> bool:
        """Join A's and B's groups unless one holds a record split from the other's, or
        (for a pair no reviewer CONFIRMED) both hold a record of a one-per-source source."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        small, big = sorted((ra, rb), key=lambda r: len(self.members[r]))
        if not confirmed and self.sources[small] & self.sources[big]:
            return False
        if any(self.forbidden.get(n, set()) & self.members[big] for n in self.members[small]):
            return False
        self.parent[small] = big
        self.members[big] |= self.members.pop(small)
        self.sources[big] |= self.sources.pop(small)
        return True


def constrained_clusters(
    nodes: Iterable[str],
    edges: Iterable[tuple[str, str, float]],
    decisions: ReviewDecisions,
    one_per_source: Collection[str] = (),
) -> tuple[dict[str, str], list[tuple[RecordKey, RecordKey]]]:
    """Clusters of NODES from scored EDGES (uid_l, uid_r, probability) and reviewer
    DECISIONS: confirmed pairs first, then edges from the strongest down, each refused
    when it would put a split pair in one cluster, or two records of a source in
    ONE_PER_SOURCE (a confirmed pair may: the reviewer found a duplicate in that source).
    Returns uid → cluster id (the smallest uid in the cluster) and the confirmations
    refused because a split contradicts them."""
    forbidden: dict[str, set[str]] = defaultdict(set)
    for a, b in decisions.cannot_link:
        forbidden[uid_of(a)].add(uid_of(b))
        forbidden[uid_of(b)].add(uid_of(a))
    groups = _Groups(forbidden, one_per_source)
    for node in nodes:
        groups.find(node)
    conflicts = [
        (a, b)
        for a, b in decisions.must_link
        if not groups.union(uid_of(a), uid_of(b), confirmed=True)
    ]
    split = {frozenset((uid_of(a), uid_of(b))) for a, b in decisions.cannot_link}
    for left, right, _ in sorted(edges, key=lambda e: -e[2]):
        if frozenset((left, right)) not in split:
            groups.union(left, right)
    cluster_of: dict[str, str] = {}
    for root, members in groups.members.items():
        del root
        label = min(members)
        for member in members:
            cluster_of[member] = label
    return cluster_of, conflicts


# ------------------------------------------------------------------ accuracy


@dataclass(frozen=True)
class Accuracy:
    """Pairwise: a pair of records is a true link when both are the same real entity."""

    true_pairs: int
    predicted_pairs: int
    correct_pairs: int

    @property
    def precision(self) -> float:
        return self.correct_pairs / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.correct_pairs / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs_in_groups(codes: np.ndarray) -> int:
    counts = np.unique(codes, return_counts=True)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_accuracy(
    truth: Sequence[Any] | np.ndarray, predicted: Sequence[Any] | np.ndarray
) -> Accuracy:
    """Precision and recall over all pairs of records, TRUTH and PREDICTED being each
    record's true and predicted entity. Pairs are counted from group sizes (n·(n−1)/2 per
    group, and per true-and-predicted group for the correct ones), never enumerated."""
    truth_codes = np.unique(np.asarray(truth, dtype=object).astype(str), return_inverse=True)[1]
    predicted_codes = np.unique(
        np.asarray(predicted, dtype=object).astype(str), return_inverse=True
    )[1]
    if len(truth_codes) != len(predicted_codes):
        raise ValueError("truth and predicted need one entry per record")
    both = (
        truth_codes.astype(np.int64) * (int(predicted_codes.max(initial=0)) + 1) + predicted_codes
    )
    return Accuracy(
        true_pairs=_pairs_in_groups(truth_codes),
        predicted_pairs=_pairs_in_groups(predicted_codes),
        correct_pairs=_pairs_in_groups(both),
    )


# ------------------------------------------------------------------ survivorship


@dataclass(frozen=True)
class Belief:
    """The value the registry believes for one field, where it came from and why."""

    value: str | None
    source: str | None
    record_id: str | None
    reason: str  # "source priority", "all agree", "most frequent", "most recent", "no value"


@dataclass(frozen=True)
class Disagreement:
    """One of the different values the records of an entity hold for a field."""

    value: str
    records: tuple[RecordKey, ...]


@dataclass(frozen=True)
class ResolvedEntity:
    records: tuple[RecordKey, ...]
    values: dict[str, Belief]
    disagreements: dict[str, list[Disagreement]]  # only the fields with two values or more


def resolve_entity(
    records: Sequence[Mapping[str, Any]],
    rules: Sequence[SurvivorshipRule] = PEOPLE.survivorship,
    *,
    recency: str | None = None,
) -> ResolvedEntity:
    """Which value the registry believes per field for one entity's RECORDS (dicts with
    source, record_id and the fields), and where the records disagree. Values that mean
    the same (by the rule's SAME) are one value. Ties in frequency go to the most recent
    record: by the RECENCY field when given (an ISO date or a number), else the later
    one in RECORDS."""
    values: dict[str, Belief] = {}
    disagreements: dict[str, list[Disagreement]] = {}
    for rule in rules:
        same = rule.same or (lambda v: v)
        held: list[tuple[int, Mapping[str, Any], str, Any]] = []
        for position, record in enumerate(records):
            raw = record.get(rule.field)
            text = "" if raw is None else str(raw).strip()
            key = same(text) if text else None
            if key not in (None, ""):
                held.append((position, record, text, key))
        if not held:
            values[rule.field] = Belief(None, None, None, "no value")
            continue

        def newness(item: tuple[int, Mapping[str, Any], str, Any]) -> tuple[str, int]:
            stamp = "" if recency is None else str(item[1].get(recency) or "")
            return stamp, item[0]

        groups: dict[Any, list[tuple[int, Mapping[str, Any], str, Any]]] = defaultdict(list)
        for item in held:
            groups[item[3]].append(item)
        if len(groups) > 1:
            disagreements[rule.field] = [
                Disagreement(
                    max(items, key=newness)[2],
                    tuple((str(i[1]["source"]), str(i[1]["record_id"])) for i in items),
                )
                for items in sorted(groups.values(), key=len, reverse=True)
            ]
        chosen: tuple[int, Mapping[str, Any], str, Any] | None = None
        reason = ""
        for source in rule.sources:
            from_source = [item for item in held if item[1]["source"] == source]
            if from_source:
                chosen, reason = max(from_source, key=newness), "source priority"
                break
        if chosen is None:
            counts = Counter(item[3] for item in held)
            top = max(counts.values())
            candidates = [item for item in held if counts[item[3]] == top]
            chosen = max(candidates, key=newness)
            reason = (
                "most frequent"
                if len(counts) > 1 and len(candidates) < len(held)
                else "most recent"
            )
            if len(counts) == 1:
                reason = "all agree"
        values[rule.field] = Belief(
            chosen[2], str(chosen[1]["source"]), str(chosen[1]["record_id"]), reason
        )
    keys = tuple((str(r["source"]), str(r["record_id"])) for r in records)
    return ResolvedEntity(keys, values, disagreements)


# ------------------------------------------------------------------ running a linkage


@dataclass
class LinkageResult:
    """Pairs scored above the threshold and each record's entity."""

    kind: str
    threshold: float
    # uid_l, uid_r (source|record_id), match_probability, match_weight
    pairs: pa.Table
    # source, record_id, entity_id (+ the truth column when one was given)
    clusters: pa.Table
    timings: dict[str, float] = field(default_factory=dict)
    accuracy: Accuracy | None = None
    conflicts: list[tuple[RecordKey, RecordKey]] = field(default_factory=list)
    model: dict[str, Any] = field(default_factory=dict)

    def entity_of(self) -> dict[RecordKey, str]:
        columns = self.clusters.select(["entity_id", "source", "record_id"]).to_pydict()
        return {
            (s, r): e
            for e, s, r in zip(
                columns["entity_id"], columns["source"], columns["record_id"], strict=True
            )
        }


def spark_session(cores: int = 2, memory: str = "6g") -> Any:
    """A local Spark session with Splink's string-similarity functions on its class path."""
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    # Spark's Python workers run this interpreter (with its packages), not the first python3.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    session = (
        SparkSession.builder.master(f"local[{cores}]")
        .appName(SPARK_SESSION_NAME)
        .config("spark.driver.memory", memory)
        .config("spark.jars", similarity_jar_location())
        .config("spark.sql.shuffle.partitions", str(cores * 2))
        .config("spark.default.parallelism", str(cores * 2))
        .config("spark.ui.enabled", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )
    # Splink may checkpoint to cut long query lineages, and Spark needs a folder for that.
    checkpoints = tempfile.mkdtemp(prefix="civicgrid-spark-")
    atexit.register(shutil.rmtree, checkpoints, ignore_errors=True)
    session.sparkContext.setCheckpointDir(checkpoints)
    session.sparkContext.setLogLevel("ERROR")
    return session


def database_api(backend: Backend) -> DatabaseAPI[Any]:
    if backend == "duckdb":
        from splink import DuckDBAPI

        return DuckDBAPI()
    if backend == "spark":
        from splink import SparkAPI

        return SparkAPI(
            spark_session=spark_session(),
            break_lineage_method="persist",
            num_partitions_on_repartition=4,
        )
    raise ValueError(f"unknown backend {backend!r}: duckdb or spark")


def link_records(
    records: pa.Table | Iterable[Mapping[str, Any]],
    spec: LinkageSpec | str = PEOPLE,
    *,
    backend: Backend | DatabaseAPI[Any] = "duckdb",
    decisions: ReviewDecisions | None = None,
    one_per_source: Collection[str] = (),
    threshold: float | None = None,
    seed: int = 42,
    truth_column: str | None = None,
    progress: Progress | None = None,
    u_pairs: float = 2e6,
    em_pairs: float = 2e6,
) -> LinkageResult:
    """Link RECORDS (source, record_id and SPEC's fields; several sources in one table)
    into entities. SPEC is a `LinkageSpec` or the name of one in `SPECS` ("people",
    "houses", "organisations"). The model is trained on the records themselves — u from a random
    sample (SEED makes it repeatable), m by expectation maximisation — so nothing has to be
    downloaded or labelled. Pairs scoring at least THRESHOLD are links; DECISIONS are
    applied when forming clusters (decisions about records not in RECORDS are ignored).
    ONE_PER_SOURCE names the sources that hold each entity once (public security's 户籍
    does): two of their records never end up in one entity unless a reviewer confirmed
    the pair; the weaker links are the ones left out.
    With TRUTH_COLUMN the pairwise precision and recall against it are computed.
    BACKEND is "duckdb", "spark" or a Splink database API of one's own. U_PAIRS is the
    size of the random sample of pairs u is estimated on; EM_PAIRS caps the pairs each
    expectation-maximisation pass reads. PROGRESS is told as each stage starts."""
    from splink import Linker, SettingsCreator

    if isinstance(spec, str):
        if spec not in SPECS:
            raise ValueError(f"no linkage for {spec!r}: one of {', '.join(SPECS)}")
        spec = SPECS[spec]
    threshold = spec.threshold if threshold is None else threshold
    decisions = decisions or ReviewDecisions()
    stages = ["prepare", "load", "train", "predict", "cluster"]
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def stage(index: int) -> None:
        nonlocal started
        now = time.perf_counter()
        if index > 0:
            timings[stages[index - 1]] = now - started
        started = now
        if progress is not None:
            progress(stages[index] if index < len(stages) else "done", index, len(stages))

    stage(0)
    table = _as_table(records, spec.fields)
    prepared = spec.prepare(table)
    if truth_column is not None and truth_column not in table.column_names:
        raise ValueError(f"no truth column {truth_column!r} in the records")
    duplicated = len(prepared) - len(pc.unique(prepared["uid"]))
    if duplicated:
        raise ValueError(f"{duplicated} records share a source and record_id with another")

    stage(1)  # starting the backend (Spark's JVM) and handing it the records
    db_api = database_api(backend) if isinstance(backend, str) else backend
    source_table = db_api.register(prepared)
    stage(2)
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=_comparisons_with_u(spec, prepared, u_pairs, seed),
        blocking_rules_to_generate_predictions=spec.blocking_rules(),
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )
    linker = Linker(source_table, settings, log_level=logging.WARNING)
    linker.training.estimate_probability_two_random_records_match(
        spec.deterministic_rules(), recall=spec.deterministic_recall
    )
    # Blocking on an identifier gives about one pair per record: sample only big inputs.
    em_sample = em_pairs if len(prepared) > em_pairs else None
    for rule in spec.training_rules():
        linker.training.estimate_parameters_using_expectation_maximisation(
            rule, estimate_without_term_frequencies=True, max_pairs=em_sample
        )

    stage(3)
    predictions = linker.inference.predict(
        threshold_match_probability=threshold, warning_mode="never"
    )
    pairs = predictions.as_pyarrow_table().select(
        ["uid_l", "uid_r", "match_probability", "match_weight"]
    )

    stage(4)
    if decisions:
        decisions = _known(decisions, set(prepared["uid"].to_pylist()))
    edges = _apply_decisions(pairs, decisions) if decisions else pairs
    clusters = connected_components(prepared["uid"], edges, threshold, db_api)
    conflicts: list[tuple[RecordKey, RecordKey]] = []
    if decisions.cannot_link or one_per_source:
        clusters, conflicts = _split_bridged(clusters, pairs, decisions, one_per_source)
    clusters = _with_keys(clusters, table, prepared, truth_column)
    model = linker.misc.save_model_to_json()
    stage(5)

    accuracy = None
    if truth_column is not None:
        accuracy = pairwise_accuracy(
            clusters[truth_column].to_numpy(zero_copy_only=False),
            clusters["entity_id"].to_numpy(zero_copy_only=False),
        )
    return LinkageResult(
        kind=spec.kind,
        threshold=threshold,
        pairs=pairs,
        clusters=clusters,
        timings=timings,
        accuracy=accuracy,
        conflicts=conflicts,
        model=model,
    )


def _comparisons_with_u(
    spec: LinkageSpec, prepared: pa.Table, u_pairs: float, seed: int
) -> list[Any]:
    """SPEC's comparisons with their u values (how often two different entities agree at
    each level) estimated on every pair of a random sample of records big enough for
    U_PAIRS pairs. The sample is small (2,000 records for 2 million pairs), so it is
    scored in DuckDB whatever the backend: Splink scores the sample's pairs once per
    comparison, and on Spark those six cross joins took 97 s of a 20,000-people run."""
    from splink import DuckDBAPI, Linker, SettingsCreator

    size = min(len(prepared), math.ceil(math.sqrt(2 * u_pairs)) + 1)
    rows = np.sort(np.random.default_rng(seed).choice(len(prepared), size=size, replace=False))
    db_api = DuckDBAPI()
    sample = db_api.register(prepared.take(rows))
    settings = SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="uid",
        comparisons=spec.comparisons(len(prepared)),
        blocking_rules_to_generate_predictions=[],
    )
    linker = Linker(sample, settings, log_level=logging.WARNING)
    # One pass over all the sample's pairs: rare levels never reach a minimum count anyway.
    linker.training.estimate_u_using_random_sampling(
        max_pairs=u_pairs, seed=seed, num_chunks=1, min_count_per_level=None
    )
    trained = linker.misc.save_model_to_json()["comparisons"]
    comparisons = spec.comparisons(len(prepared))
    for comparison, levels in zip(comparisons, trained, strict=True):
        comparison.configure(
            u_probabilities=[
                level.get("u_probability")
                for level in levels["comparison_levels"]
                if not level.get("is_null_level")
            ]
        )
    return comparisons


def connected_components(
    uids: pa.Array | pa.ChunkedArray,
    edges: pa.Table,
    threshold: float,
    db_api: DatabaseAPI[Any] | None = None,
) -> pa.Table:
    """uid → cluster_id: the records joined by EDGES (uid_l, uid_r, match_probability)
    scoring at least THRESHOLD. Always solved in DuckDB (DB_API's own connection when it is
    one): the edges above the threshold are few, about one per record, and Splink's
    connected components on Spark run a Spark job for each step of each iteration, which
    took longer than all the rest of a linkage of 20,000 people."""
    from splink import DuckDBAPI
    from splink.clustering import cluster_pairwise_predictions_at_threshold

    duckdb_api = db_api if isinstance(db_api, DuckDBAPI) else DuckDBAPI()
    clustered = cluster_pairwise_predictions_at_threshold(
        pa.table({"uid": uids}),
        edges.select(["uid_l", "uid_r", "match_probability"]),
        db_api=duckdb_api,
        node_id_column_name="uid",
        threshold_match_probability=threshold,
    )
    clusters = clustered.as_pyarrow_table().select(["uid", "cluster_id"])
    clustered.drop_table_from_database_and_remove_from_cache()
    return clusters


def link_people(records: pa.Table | Iterable[Mapping[str, Any]], **options: Any) -> LinkageResult:
    """`link_records` with the people spec."""
    return link_records(records, PEOPLE, **options)


def _known(decisions: ReviewDecisions, uids: set[str]) -> ReviewDecisions:
    def both_known(pair: tuple[RecordKey, RecordKey]) -> bool:
        return uid_of(pair[0]) in uids and uid_of(pair[1]) in uids

    return ReviewDecisions(
        must_link=[p for p in decisions.must_link if both_known(p)],
        cannot_link=[p for p in decisions.cannot_link if both_known(p)],
    )


def resolve_entities(
    records: pa.Table,
    clusters: pa.Table,
    rules: Sequence[SurvivorshipRule] = PEOPLE.survivorship,
    *,
    recency: str | None = None,
) -> Iterator[tuple[str, ResolvedEntity]]:
    """(entity_id, what the registry believes of it) for each entity in CLUSTERS (a
    `LinkageResult.clusters`) over the RECORDS that were linked, record by record."""
    position = pc.index_in(
        _uids(clusters), value_set=_uids(records)
    )  # each clustered record's row in RECORDS
    rows = records.take(position).to_pylist()
    entity_ids = clusters["entity_id"].to_pylist()
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for entity, row in zip(entity_ids, rows, strict=True):
        grouped[entity].append(row)
    for entity, members in grouped.items():
        yield entity, resolve_entity(members, rules, recency=recency)


def _apply_decisions(pairs: pa.Table, decisions: ReviewDecisions) -> pa.Table:
    """The scored edges without split pairs and with confirmed pairs (probability 1)."""
    split = {frozenset((uid_of(a), uid_of(b))) for a, b in decisions.cannot_link}
    left, right = pairs["uid_l"].to_pylist(), pairs["uid_r"].to_pylist()
    keep = [frozenset(p) not in split for p in zip(left, right, strict=True)]
    kept = pairs.filter(pa.array(keep, pa.bool_())) if split else pairs
    confirmed = [
        (uid_of(a), uid_of(b))
        for a, b in decisions.must_link
        if frozenset((uid_of(a), uid_of(b))) not in split
    ]
    extra = pa.table(
        {
            "uid_l": pa.array([a for a, _ in confirmed], pa.string()),
            "uid_r": pa.array([b for _, b in confirmed], pa.string()),
            "match_probability": pa.array([1.0] * len(confirmed), pa.float64()),
            "match_weight": pa.array([math.inf] * len(confirmed), pa.float64()),
        }
    )
    return pa.concat_tables([kept.cast(extra.schema), extra])


def _clusters_with_two_of_a_source(clusters: pa.Table, one_per_source: Collection[str]) -> set[str]:
    # "source|record_id" → "source"
    sources = pc.list_element(pc.split_pattern(clusters["uid"], UID_SEPARATOR, max_splits=1), 0)
    table = pa.table({"cluster_id": clusters["cluster_id"], "source": sources})
    table = table.filter(pc.is_in(table["source"], value_set=pa.array(sorted(one_per_source))))
    counts = table.group_by(["cluster_id", "source"]).aggregate([("source", "count")])
    return set(counts.filter(pc.greater(counts["source_count"], 1))["cluster_id"].to_pylist())


def _split_bridged(
    clusters: pa.Table,
    pairs: pa.Table,
    decisions: ReviewDecisions,
    one_per_source: Collection[str] = (),
) -> tuple[pa.Table, list[tuple[RecordKey, RecordKey]]]:
    """Rebuild the clusters that still hold a split pair through a third record, or two
    records of a source in ONE_PER_SOURCE. Only those clusters leave Arrow for Python."""
    decided = pa.array(
        sorted({uid_of(k) for pair in decisions.cannot_link for k in pair}), pa.string()
    )
    in_decisions = clusters.filter(pc.is_in(clusters["uid"], value_set=decided))
    cluster_of = dict(
        zip(in_decisions["uid"].to_pylist(), in_decisions["cluster_id"].to_pylist(), strict=True)
    )
    bad = {
        cluster_of[uid_of(a)]
        for a, b in decisions.cannot_link
        if uid_of(a) in cluster_of and cluster_of.get(uid_of(a)) == cluster_of.get(uid_of(b))
    }
    if one_per_source:
        bad |= _clusters_with_two_of_a_source(clusters, one_per_source)
    conflicts = [
        (a, b)
        for a, b in decisions.must_link
        if any({uid_of(a), uid_of(b)} == {uid_of(c), uid_of(d)} for c, d in decisions.cannot_link)
    ]
    if not bad:
        return clusters, conflicts
    affected = clusters.filter(
        pc.is_in(clusters["cluster_id"], value_set=pa.array(sorted(bad), pa.string()))
    )
    nodes = affected["uid"].to_pylist()
    inside = set(nodes)
    near = pairs.filter(pc.is_in(pairs["uid_l"], value_set=affected["uid"]))
    edges = list(
        zip(
            near["uid_l"].to_pylist(),
            near["uid_r"].to_pylist(),
            near["match_probability"].to_pylist(),
            strict=True,
        )
    )
    local = ReviewDecisions(
        must_link=[(a, b) for a, b in decisions.must_link if uid_of(a) in inside],
        cannot_link=[(a, b) for a, b in decisions.cannot_link if uid_of(a) in inside],
    )
    rebuilt, refused = constrained_clusters(nodes, edges, local, one_per_source)
    for conflict in refused:
        if conflict not in conflicts:
            conflicts.append(conflict)
    # The rebuilt clusters' ids replace the old ones; every other record keeps its own.
    rebuilt_uids = pa.array(list(rebuilt), pa.string())
    rebuilt_ids = pa.array(list(rebuilt.values()), pa.string())
    position = pc.index_in(clusters["uid"], value_set=rebuilt_uids)
    new_ids = pc.if_else(pc.is_null(position), clusters["cluster_id"], rebuilt_ids.take(position))
    return pa.table({"uid": clusters["uid"], "cluster_id": new_ids}), conflicts


def _with_keys(
    clusters: pa.Table, table: pa.Table, prepared: pa.Table, truth_column: str | None
) -> pa.Table:
    """source, record_id and entity_id in the input's order (+ the truth column)."""
    position = pc.index_in(prepared["uid"], value_set=clusters["uid"])
    entity = clusters["cluster_id"].take(position)
    columns: dict[str, Any] = {
        "source": table["source"].cast(pa.string()),
        "record_id": table["record_id"].cast(pa.string()),
        "entity_id": entity,
    }
    if truth_column is not None:
        columns[truth_column] = table[truth_column]
    return pa.table(columns)
