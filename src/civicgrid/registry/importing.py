"""Reading department files for the registry: CSV (UTF-8 or GBK, detected) and Excel (xlsx,
merged and two-row headers understood), the column mapping (TOML) that says which column
is which field, and the per-row checks of each kind. Pure: the service supplies what the
database knows (grids, standard addresses, houses) and writes the results.

A row is checked field by field; every problem names its row (as a spreadsheet counts it),
its field and its reason. A row with a wrong identifier, an impossible date or a key seen
earlier in the file is rejected; a row whose address matches no standard address, or whose
grid is unknown, is kept with its raw address text and listed for review.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import N_, Locale, translate
from civicgrid.core.rows import RowProblem, decoded_lines, file_encoding
from civicgrid.registry.addresses import ParsedAddress, normalise, parse_address
from civicgrid.registry.domain import (
    CARE_TAG_WORDS,
    HOUSE_KIND_WORDS,
    ORGANISATION_KIND_WORDS,
    RESIDENCE_WORDS,
    SEX_WORDS,
    CareTag,
    HouseKind,
    OrganisationKind,
    RecordKind,
    RejectedRow,
    Residence,
)
from civicgrid.registry.identifiers import (
    EARLIEST_BIRTH,
    PROVINCES,
    IdentifierError,
    IdentityHasher,
    identity_check_character,
    mask_identity,
    parse_credit_code,
    parse_identity,
    parse_phone,
)

# ------------------------------------------------------------------ the columns of each kind

# field → the column names departments use for it (the field's own name always counts).
DEFAULT_COLUMNS: dict[RecordKind, dict[str, tuple[str, ...]]] = {
    RecordKind.ADDRESS: {
        "key": ("地址编码", "标准地址编码", "编码"),
        "address": ("标准地址", "地址", "详细地址"),
        "district": ("区", "区县", "所属区"),
        "street": ("街道", "街道(乡镇)", "所属街道"),
        "community": ("社区", "社区(村)", "所属社区"),
        "road": ("道路", "街路巷", "路"),
        "number": ("门牌号", "门牌"),
        "estate": ("小区", "小区名称"),
        "building": ("楼栋", "楼栋号", "栋"),
        "unit": ("单元", "单元号"),
        "room": ("房间号", "室", "户室号"),
        "lat": ("纬度",),
        "lon": ("经度",),
        "grid": ("网格编码", "所属网格", "网格"),
    },
    RecordKind.HOUSE: {
        "key": ("房屋编号", "房屋编码"),
        "address": ("房屋地址", "地址", "详细地址", "现住址"),
        "kind": ("房屋类型", "房屋用途", "使用类型"),
        "area_m2": ("建筑面积", "面积", "建筑面积(m²)", "面积(平方米)"),
        "occupancy_limit": ("核定居住人数", "限住人数", "最多居住人数"),
        "owner_name": ("产权人", "房主", "业主"),
        "owner_phone": ("产权人电话", "房主电话", "联系电话"),
        "manager_name": ("管理人", "承租人", "实际管理人"),
        "grid": ("网格编码", "所属网格", "网格"),
    },
    RecordKind.PERSON: {
        "key": ("人员编号", "记录编号"),
        "name": ("姓名", "名字"),
        "id_number": ("公民身份号码", "身份证号", "身份证号码", "证件号码"),
        "sex": ("性别",),
        "birth_date": ("出生日期", "出生年月日"),
        "phone": ("联系电话", "手机号码", "手机号", "电话"),
        "household_address": ("户籍地址", "户籍地", "户籍地详址"),
        "address": ("现住址", "居住地址", "现居住地址", "实际居住地址"),
        "residence": ("人员类型", "人口类型", "户籍类型"),
        "registered_on": ("登记日期", "居住登记日期"),
        "expires_on": ("有效期至", "居住证有效期至", "有效期"),
        "care_tags": ("关怀类型", "特殊人群", "关爱对象类型"),
        "grid": ("网格编码", "所属网格", "网格"),
    },
    RecordKind.ORGANISATION: {
        "key": ("单位编号",),
        "name": ("单位名称", "名称", "企业名称"),
        "credit_code": ("统一社会信用代码", "信用代码", "社会信用代码"),
        "kind": ("单位类型", "类型", "组织类型"),
        "address": ("单位地址", "地址", "经营地址", "注册地址"),
        "contact_name": ("联系人", "负责人", "法定代表人"),
        "contact_phone": ("联系电话", "电话", "联系方式"),
        "grid": ("网格编码", "所属网格", "网格"),
    },
}
REQUIRED: dict[RecordKind, tuple[str, ...]] = {
    RecordKind.ADDRESS: ("address",),
    RecordKind.HOUSE: ("address",),
    RecordKind.PERSON: ("name", "id_number"),
    RecordKind.ORGANISATION: ("name", "credit_code"),
}
MAPPING_KEYS = {"source", "columns"}


@dataclass(frozen=True)
class Mapping:
    source: str | None
    columns: dict[str, tuple[str, ...]]


def default_mapping(kind: RecordKind) -> Mapping:
    return Mapping(None, {name: (name, *names) for name, names in DEFAULT_COLUMNS[kind].items()})


def read_mapping(path: Path, kind: RecordKind) -> Mapping:
    """A mapping file (TOML): `source = "NAME"` and a `[columns]` table of field = "column"
    (or a list of columns, the first present wins). Fields it leaves out keep their
    built-in column names."""
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("registry_mapping_unreadable", path=str(path), reason=str(exc)) from exc
    for key in data:
        if key not in MAPPING_KEYS:
            raise InvalidInput("registry_mapping_unknown", path=str(path), field=key)
    base = default_mapping(kind)
    columns = dict(base.columns)
    for name, value in dict(data.get("columns", {})).items():
        if name not in DEFAULT_COLUMNS[kind]:
            raise InvalidInput(
                "registry_mapping_unknown_field",
                path=str(path),
                field=name,
                allowed=", ".join(DEFAULT_COLUMNS[kind]),
            )
        names = (value,) if isinstance(value, str) else tuple(str(v) for v in value)
        columns[name] = names
    source = data.get("source")
    return Mapping(str(source) if source else None, columns)


# ------------------------------------------------------------------ reading files


@dataclass
class SourceTable:
    """A file's header and its rows, read lazily: (row number as a spreadsheet counts it,
    cells as text)."""

    path: Path
    header: list[str]
    # Per column, other names it goes by: the merged group header above it ("身份信息").
    alternatives: list[list[str]]
    encoding: str  # "utf-8", "gb18030" or "xlsx"
    rows: Iterator[tuple[int, list[str]]]
    estimated_rows: int
    header_rows: int = 1
    # Rows read with U+FFFD where their bytes were not in the file's encoding: row → the
    # byte offset in the file of the first such byte (filled as the rows are read).
    undecodable: dict[int, int] = field(default_factory=dict)

    def raw(self, cells: list[str]) -> dict[str, str]:
        named = {}
        for i, cell in enumerate(cells):
            named[self.header[i] if i < len(self.header) else f"column{i + 1}"] = cell
        return named


def open_table(path: Path) -> SourceTable:
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    if path.stat().st_size == 0:
        raise InvalidInput("registry_file_empty", path=str(path))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _open_xlsx(path)
    return _open_csv(path)


def _open_csv(path: Path) -> SourceTable:
    encoding = file_encoding(path)
    lines = encoding.lines
    # Each line on its own only when some are not in the file's encoding: those rows are
    # named (row and byte) instead of the whole file being refused or read as mojibake.
    bad_lines: dict[int, int] = {}
    handle: IO[str] | IO[bytes]
    if encoding.whole:
        codec = "utf-8-sig" if encoding.name == "utf-8" else encoding.name
        handle = path.open(encoding=codec, newline="")
        reader = csv.reader(handle)
    else:
        handle = path.open("rb")
        reader = csv.reader(decoded_lines(handle, encoding.name, bad_lines))
    header: list[str] | None = None
    number = 0
    for cells in reader:
        number += 1
        if any(c.strip() for c in cells):
            header = [c.strip() for c in cells]
            break
    if header is None:
        handle.close()
        raise InvalidInput("registry_file_empty", path=str(path))
    start = number
    undecodable: dict[int, int] = {}

    def rows() -> Iterator[tuple[int, list[str]]]:
        last_line = reader.line_num
        with handle:
            for n, cells in enumerate(reader, start=start + 1):
                if bad_lines:
                    span = range(last_line + 1, reader.line_num + 1)
                    offsets = [bad_lines[line] for line in span if line in bad_lines]
                    if offsets:
                        undecodable[n] = offsets[0]
                last_line = reader.line_num
                if cells and any(cells):
                    yield n, cells

    table = SourceTable(
        path, header, [[] for _ in header], encoding.name, rows(), max(lines - start, 0)
    )
    table.undecodable = undecodable
    return table


def _cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _open_xlsx(path: Path) -> SourceTable:
    from openpyxl import load_workbook  # only xlsx imports pay for it

    try:
        book = load_workbook(path, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise InvalidInput("registry_xlsx_unreadable", path=str(path), reason=str(exc)) from exc
    sheet = book.worksheets[0]
    width = sheet.max_column or 0
    top = min(sheet.max_row or 0, 6)
    if not width or not top:
        raise InvalidInput("registry_file_empty", path=str(path))
    grid = [
        [_cell_text(sheet.cell(r, c).value) for c in range(1, width + 1)] for r in range(1, top + 1)
    ]
    merged = [m for m in sheet.merged_cells.ranges if m.min_row <= top]
    covered: set[tuple[int, int]] = set()
    for m in merged:
        value = _cell_text(sheet.cell(m.min_row, m.min_col).value)
        for r in range(m.min_row, min(m.max_row, top) + 1):
            for c in range(m.min_col, min(m.max_col, width) + 1):
                grid[r - 1][c - 1] = value
                covered.add((r, c))
    # Title rows (one merged value across the sheet, "XX街道实有人口登记表") come first.
    first = 1
    while first < top and len({v for v in grid[first - 1] if v}) <= 1:
        first += 1
    if not any(grid[first - 1]):
        raise InvalidInput("registry_file_empty", path=str(path))
    at_header = [m for m in merged if m.min_row == first]
    vertical = any(m.max_row > first for m in at_header)
    gaps_below = first < top and any(
        grid[first - 1][c] and not grid[first][c] and (first, c + 1) not in covered
        for c in range(width)
    )
    two_rows = bool(at_header) and first < top and (vertical or gaps_below)
    header: list[str] = []
    alternatives: list[list[str]] = []
    for c in range(width):
        upper = grid[first - 1][c]
        lower = grid[first][c] if two_rows else ""
        header.append(lower or upper)
        alternatives.append([upper, upper + lower] if lower and lower != upper else [])
    header_rows = 2 if two_rows else 1
    data_start = first + header_rows
    estimated = max((sheet.max_row or 0) - data_start + 1, 0)

    def rows() -> Iterator[tuple[int, list[str]]]:
        for n, values in enumerate(
            sheet.iter_rows(min_row=data_start, max_col=width, values_only=True), start=data_start
        ):
            cells = [_cell_text(v) for v in values]
            if any(cells):
                yield n, cells
        book.close()

    return SourceTable(path, header, alternatives, "xlsx", rows(), estimated, header_rows)


def resolve_columns(table: SourceTable, mapping: Mapping, kind: RecordKind) -> dict[str, int]:
    """field → column index, from the mapping's names; a missing required column is an
    error naming it and the columns the file has."""
    exact: dict[str, int] = {}
    for i, name in enumerate(table.header):
        exact.setdefault(_column_key(name), i)
    for i, names in enumerate(table.alternatives):
        for name in names:
            exact.setdefault(_column_key(name), i)
    found: dict[str, int] = {}
    for name, aliases in mapping.columns.items():
        for candidate in aliases:
            index = exact.get(_column_key(candidate))
            if index is not None:
                found[name] = index
                break
    missing = [name for name in REQUIRED[kind] if name not in found]
    if missing:
        name = missing[0]
        raise InvalidInput(
            "registry_missing_column",
            path=str(table.path),
            column=" / ".join(mapping.columns[name][1:] or mapping.columns[name]),
            field=name,
            found=", ".join(h for h in table.header if h) or "-",
        )
    return found


def _column_key(name: str) -> str:
    return re.sub(r"[\s:：*]", "", name).lower()


# ------------------------------------------------------------------ checking rows

# The widths of the address columns (registry.repository): a longer value is refused by its
# row and field, never cut.
ADDRESS_CHARS = 300
ADDRESS_PART_CHARS = {
    "district": 40,
    "street": 40,
    "community": 40,
    "road": 60,
    "number": 20,
    "estate": 60,
    "building": 20,
    "unit": 20,
    "room": 20,
}


@dataclass(frozen=True)
class AddressFound:
    address_id: int | None
    how: str  # "exact", "door", "none", "ambiguous"
    grid_code: str | None


@dataclass
class CheckContext:
    """What the database knows, handed in by the service."""

    source: str
    batch_id: int
    secret: str
    grid_codes: set[str]
    match_address: Callable[[str], AddressFound]
    houses_by_address: dict[int, int]
    locate: Callable[[float, float], str | None]
    today: date = field(default_factory=date.today)


@dataclass
class Checked:
    """A good row: its values by column, and what a person should look at (kept anyway)."""

    values: dict[str, Any]
    key: str
    review: list[RowProblem]
    natural: str = ""  # what the record is identified by without a record number


class RowChecker:
    """Checks rows of one kind; `check` returns the row's values or its problems."""

    def __init__(self, kind: RecordKind, columns: dict[str, int], context: CheckContext) -> None:
        self.kind = kind
        self.columns = columns
        self.context = context
        self._hash_identity = IdentityHasher(context.secret)
        self._check = {
            RecordKind.ADDRESS: self._address,
            RecordKind.HOUSE: self._house,
            RecordKind.PERSON: self._person,
            RecordKind.ORGANISATION: self._organisation,
        }[kind]

    def check(self, row: int, cells: list[str]) -> Checked | list[RowProblem]:
        width = len(cells)
        values = {name: (cells[i].strip() if i < width else "") for name, i in self.columns.items()}
        review: list[RowProblem] = []
        if self.kind is RecordKind.PERSON:
            plain = self._plain_person(row, values, review)
            if plain is not None:
                return self._checked(values, *plain, review)
        problems: list[RowProblem] = []
        out = self._check(row, values, problems, review)
        if problems or out is None:
            return problems
        return self._checked(values, *out, review)

    def _checked(
        self,
        values: dict[str, str],
        record: dict[str, Any],
        natural_key: str,
        review: list[RowProblem],
    ) -> Checked:
        key = values.get("key") or natural_key
        if len(key) > 128:
            key = hashlib.blake2b(key.encode(), digest_size=32).hexdigest()
        record["content_hash"] = content_hash(values, record)
        record["source"] = self.context.source
        record["source_key"] = key
        record["batch_id"] = self.context.batch_id
        record["entity_id"] = None
        return Checked(record, key, review, natural_key)

    # ---------------------------------------------------------- common parts

    def _grid(self, row: int, value: str, review: list[RowProblem]) -> str | None:
        if not value:
            return None
        if value in self.context.grid_codes:
            return value
        review.append(RowProblem(row, "grid", "registry_unknown_grid", {"value": value}))
        return None

    def _where(self, row: int, values: dict[str, str], review: list[RowProblem]) -> dict[str, Any]:
        """The address text matched to a standard address, and the grid it lies in."""
        text = values.get("address", "")
        grid = self._grid(row, values.get("grid", ""), review)
        found = AddressFound(None, "", None)
        if text:
            found = self.context.match_address(text)
            if found.address_id is None:
                review.append(
                    RowProblem(
                        row,
                        "address",
                        N_("registry_address_unmatched")
                        if found.how == "none"
                        else N_("registry_address_ambiguous"),
                        {"value": text},
                    )
                )
        return {
            "address_text": text,
            "address_id": found.address_id,
            "address_match": found.how,
            "grid_code": found.grid_code or grid,
        }

    def _phone(self, row: int, name: str, value: str, problems: list[RowProblem]) -> str:
        if not value:
            return ""
        try:
            return parse_phone(value)
        except IdentifierError as exc:
            problems.append(RowProblem(row, name, exc.reason, dict(exc.params)))
            return ""

    def _text(
        self,
        row: int,
        name: str,
        value: str,
        limit: int,
        problems: list[RowProblem],
        *,
        required: bool = False,
    ) -> str:
        if required and not value:
            problems.append(RowProblem(row, name, "registry_required", {}))
        if len(value) > limit:
            problems.append(
                RowProblem(row, name, "registry_too_long", {"limit": limit, "length": len(value)})
            )
        return value[:limit]

    def _date(self, row: int, name: str, value: str, problems: list[RowProblem]) -> date | None:
        if not value:
            return None
        parsed = parse_date(value)
        if parsed is None:
            problems.append(RowProblem(row, name, "registry_bad_date", {"value": value}))
        return parsed

    def _number(
        self,
        row: int,
        name: str,
        value: str,
        problems: list[RowProblem],
        *,
        whole: bool = False,
        most: float = 1e6,
    ) -> float | None:
        if not value:
            return None
        try:
            number = float(value.replace(",", "").replace("㎡", "").replace("m²", ""))
        except ValueError:
            number = float("nan")
        if not 0 <= number <= most or (whole and not number.is_integer()):
            problems.append(
                RowProblem(row, name, "registry_bad_number", {"value": value, "most": most})
            )
            return None
        return number

    @staticmethod
    def _word(
        row: int,
        name: str,
        value: str,
        words: dict[str, Any],
        kind: type[Any],
        problems: list[RowProblem],
    ) -> Any:
        lowered = value.strip().lower()
        if lowered in words:
            return words[lowered]
        try:
            return kind(lowered)
        except ValueError:
            problems.append(
                RowProblem(
                    row,
                    name,
                    "registry_unknown_value",
                    {"value": value, "allowed": "、".join(words)},
                )
            )
            return None

    # ---------------------------------------------------------- the kinds

    def _person(
        self,
        row: int,
        values: dict[str, str],
        problems: list[RowProblem],
        review: list[RowProblem],
    ) -> tuple[dict[str, Any], str] | None:
        name = self._text(row, "name", values.get("name", ""), 100, problems, required=True)
        identity = None
        try:
            identity = parse_identity(values.get("id_number", ""), self.context.today)
        except IdentifierError as exc:
            problems.append(RowProblem(row, "id_number", exc.reason, dict(exc.params)))
        born = self._date(row, "birth_date", values.get("birth_date", ""), problems)
        sex = ""
        if raw_sex := values.get("sex", ""):
            sex = SEX_WORDS.get(raw_sex.lower(), "")
            if not sex:
                problems.append(
                    RowProblem(
                        row,
                        "sex",
                        "registry_unknown_value",
                        {"value": raw_sex, "allowed": "男、女"},
                    )
                )
        if identity is not None:
            if born is not None and born != identity.birth_date:
                problems.append(
                    RowProblem(
                        row,
                        "birth_date",
                        "registry_birth_mismatch",
                        {"value": born.isoformat(), "expected": identity.birth_date.isoformat()},
                    )
                )
            if sex and sex != identity.sex:
                problems.append(RowProblem(row, "sex", "registry_sex_mismatch", {"value": raw_sex}))
            born, sex = identity.birth_date, identity.sex
        registered = self._date(row, "registered_on", values.get("registered_on", ""), problems)
        expires = self._date(row, "expires_on", values.get("expires_on", ""), problems)
        if registered and registered > self.context.today:
            problems.append(
                RowProblem(
                    row, "registered_on", "registry_date_future", {"value": registered.isoformat()}
                )
            )
        if registered and expires and expires < registered:
            problems.append(
                RowProblem(
                    row,
                    "expires_on",
                    "registry_expiry_before_registration",
                    {"value": expires.isoformat(), "registered": registered.isoformat()},
                )
            )
        raw_residence = values.get("residence", "")
        residence = (
            self._word(row, "residence", raw_residence, RESIDENCE_WORDS, Residence, problems)
            if raw_residence
            else (Residence.FLOATING if expires else Residence.REGISTERED)
        )
        tags = self._tags(row, values.get("care_tags", ""), problems)
        phone = self._phone(row, "phone", values.get("phone", ""), problems)
        household = self._text(
            row, "household_address", values.get("household_address", ""), 300, problems
        )
        self._text(row, "address", values.get("address", ""), ADDRESS_CHARS, problems)
        if problems or identity is None:
            return None
        where = self._where(row, values, review)
        address_id = where["address_id"]
        id_hash = self._hash_identity(identity.value)
        record = {
            "name": name,
            "id_hash": id_hash,
            "id_masked": identity.masked,
            "sex": sex,
            "birth_date": born,
            "phone": phone,
            "residence": residence.value,
            "registered_on": registered,
            "expires_on": expires,
            "household_address": household,
            **where,
            "house_id": self.context.houses_by_address.get(address_id) if address_id else None,
            "care_tags": tags,
        }
        return record, id_hash

    def _plain_person(
        self, row: int, values: dict[str, str], review: list[RowProblem]
    ) -> tuple[dict[str, Any], str] | None:
        """A person row as nearly every export writes it (an 18-character identity number,
        dates as 2024-03-01, a mobile number), checked without the bookkeeping of the
        problems `_person` reports: a third of its time for a million rows. Any row it is
        not sure of, right or wrong, is None and goes through `_person`, so the two agree:
        the same values, the same review notes."""
        get = values.get
        today = self.context.today
        name = get("name", "")
        number = get("id_number", "")
        if not name or len(name) > 100 or len(number) != 18:
            return None
        if not (number.isascii() and number.isalnum()):
            return None
        number = number.upper()
        if not number[:17].isdigit() or not (number[17].isdigit() or number[17] == "X"):
            return None
        if number[:2] not in PROVINCES:
            return None
        try:
            born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
        except ValueError:
            return None
        if not EARLIEST_BIRTH <= born <= today:
            return None
        if identity_check_character(number[:17]) != number[17]:
            return None
        sex = "M" if int(number[16]) % 2 else "F"
        raw = get("birth_date", "")
        if raw and parse_date(raw) != born:
            return None
        raw = get("sex", "")
        if raw and SEX_WORDS.get(raw.lower(), "") != sex:
            return None
        registered = expires = None
        if raw := get("registered_on", ""):
            registered = parse_date(raw)
            if registered is None or registered > today:
                return None
        if raw := get("expires_on", ""):
            expires = parse_date(raw)
            if expires is None or (registered is not None and expires < registered):
                return None
        if raw := get("residence", ""):
            residence = RESIDENCE_WORDS.get(raw.lower())
            if residence is None:
                return None
        else:
            residence = Residence.FLOATING if expires else Residence.REGISTERED
        tags = ""
        if raw := get("care_tags", ""):
            problems: list[RowProblem] = []
            tags = self._tags(row, raw, problems)
            if problems:
                return None
        phone = get("phone", "")
        if phone and not (
            len(phone) == 11 and phone.isascii() and phone.isdigit() and _MOBILE_START.match(phone)
        ):
            return None
        household = get("household_address", "")
        if len(household) > 300 or len(get("address", "")) > ADDRESS_CHARS:
            return None
        where = self._where(row, values, review)
        address_id = where["address_id"]
        id_hash = self._hash_identity(number)
        record = {
            "name": name,
            "id_hash": id_hash,
            "id_masked": mask_identity(number),
            "sex": sex,
            "birth_date": born,
            "phone": phone,
            "residence": residence.value,
            "registered_on": registered,
            "expires_on": expires,
            "household_address": household,
            **where,
            "house_id": self.context.houses_by_address.get(address_id) if address_id else None,
            "care_tags": tags,
        }
        return record, id_hash

    def _tags(self, row: int, value: str, problems: list[RowProblem]) -> str:
        if not value or value in ("无", "-", "否"):
            return ""
        tags: list[str] = []
        for part in re.split(r"[、,，;；|/\s]+", value):
            if not part:
                continue
            tag = self._word(row, "care_tags", part, CARE_TAG_WORDS, CareTag, problems)
            if tag is not None and tag.value not in tags:
                tags.append(tag.value)
        return ",".join(sorted(tags))

    def _house(
        self,
        row: int,
        values: dict[str, str],
        problems: list[RowProblem],
        review: list[RowProblem],
    ) -> tuple[dict[str, Any], str] | None:
        text = self._text(
            row, "address", values.get("address", ""), ADDRESS_CHARS, problems, required=True
        )
        raw_kind = values.get("kind", "")
        kind = (
            self._word(row, "kind", raw_kind, HOUSE_KIND_WORDS, HouseKind, problems)
            if raw_kind
            else HouseKind.SELF_OCCUPIED
        )
        area = self._number(row, "area_m2", values.get("area_m2", ""), problems, most=100000)
        limit = self._number(
            row,
            "occupancy_limit",
            values.get("occupancy_limit", ""),
            problems,
            whole=True,
            most=10000,
        )
        owner = self._text(row, "owner_name", values.get("owner_name", ""), 100, problems)
        manager = self._text(row, "manager_name", values.get("manager_name", ""), 100, problems)
        phone = self._phone(row, "owner_phone", values.get("owner_phone", ""), problems)
        if problems:
            return None
        where = self._where(row, values, review)
        record = {
            "kind": kind.value,
            "area_m2": area,
            "occupancy_limit": int(limit) if limit is not None else None,
            "owner_name": owner,
            "owner_phone": phone,
            "manager_name": manager,
            **where,
        }
        return record, parse_address(text).text() or normalise(text)

    def _organisation(
        self,
        row: int,
        values: dict[str, str],
        problems: list[RowProblem],
        review: list[RowProblem],
    ) -> tuple[dict[str, Any], str] | None:
        name = self._text(row, "name", values.get("name", ""), 200, problems, required=True)
        code = ""
        try:
            code = parse_credit_code(values.get("credit_code", ""))
        except IdentifierError as exc:
            problems.append(RowProblem(row, "credit_code", exc.reason, dict(exc.params)))
        raw_kind = values.get("kind", "")
        kind = (
            self._word(row, "kind", raw_kind, ORGANISATION_KIND_WORDS, OrganisationKind, problems)
            if raw_kind
            else OrganisationKind.OTHER
        )
        contact = self._text(row, "contact_name", values.get("contact_name", ""), 100, problems)
        phone = self._phone(row, "contact_phone", values.get("contact_phone", ""), problems)
        self._text(row, "address", values.get("address", ""), ADDRESS_CHARS, problems)
        if problems:
            return None
        where = self._where(row, values, review)
        record = {
            "name": name,
            "credit_code": code,
            "kind": kind.value,
            **where,
            "contact_name": contact,
            "contact_phone": phone,
        }
        return record, code

    def _address(
        self,
        row: int,
        values: dict[str, str],
        problems: list[RowProblem],
        review: list[RowProblem],
    ) -> tuple[dict[str, Any], str] | None:
        text = values.get("address", "")
        parsed = parse_address(text) if text else ParsedAddress()
        parts = {
            name: normalise(values[name]) if values.get(name) else getattr(parsed, name)
            for name in (
                "district",
                "street",
                "community",
                "road",
                "number",
                "estate",
                "building",
                "unit",
                "room",
            )
        }
        parts["number"] = parts["number"].removesuffix("号")
        for name, width in ADDRESS_PART_CHARS.items():
            self._text(row, name, parts[name], width, problems)
        standard = ParsedAddress(**parts)
        if not (standard.road or standard.estate):
            problems.append(
                RowProblem(row, "address", "registry_address_unparsed", {"value": text})
            )
        self._text(row, "address", standard.text(), ADDRESS_CHARS, problems)
        lat = self._number(row, "lat", values.get("lat", ""), problems, most=90)
        lon = self._number(row, "lon", values.get("lon", ""), problems, most=180)
        if problems:
            return None
        grid = self._grid(row, values.get("grid", ""), review)
        if grid is None and lat is not None and lon is not None and not values.get("grid"):
            grid = self.context.locate(lon, lat)
            if grid is None:
                review.append(
                    RowProblem(row, "lat", "registry_outside_grids", {"lat": lat, "lon": lon})
                )
        record = {
            **parts,
            "text": standard.text(),
            "lat": lat,
            "lon": lon,
            "grid_code": grid,
        }
        return record, standard.text()


# A mobile number as `parse_phone` keeps it (1[3-9] and nine more digits).
_MOBILE_START = re.compile(r"1[3-9]")
_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?(?:[ T].*)?$")
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def parse_date(text: str) -> date | None:
    """2024-03-01, 2024/3/1, 2024.3.1, 2024年3月1日, 20240301; None when impossible."""
    if (
        len(text) == 10
        and text[4] == text[7] == "-"
        and text.isascii()
        and (text[:4] + text[5:7] + text[8:]).isdigit()
    ):
        # The form nearly every export writes, read in C.
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    match = _DATE.match(text) or _COMPACT_DATE.match(text)
    if match is None:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


def content_hash(values: dict[str, str], record: dict[str, Any]) -> str:
    """What the source said about the record: its fields as written (cheaper to hash than
    the checked values, which follow from them) and where it was placed, so a record is
    updated when a standard address it now matches was imported since."""
    placed = f"{record.get('address_id')}\x1e{record.get('house_id')}\x1e{record.get('grid_code')}"
    text = "\x1f".join(values.values()) + "\x1e" + placed
    return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


# ------------------------------------------------------------------ the report of bad rows


def problem_messages(problem: RowProblem) -> tuple[str, str]:
    return (
        translate(problem.key, "zh", problem.params),
        translate(problem.key, "en", problem.params),
    )


def rejected_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejected.csv")


def write_rejected(
    path: Path, header: list[str], rows: list[tuple[int, list[RowProblem], bool, dict[str, str]]]
) -> Path:
    """FILE.rejected.csv beside the input (UTF-8 with BOM, so Excel opens it): one line per
    bad row with its row number, fields, reasons in Chinese and English, whether the
    record was kept anyway (for review), then the row as read."""
    target = rejected_path(path)
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["_row", "_fields", "_reasons_zh", "_reasons_en", "_kept", *header])
        for row, problems, kept, raw in sorted(rows, key=lambda r: r[0]):
            messages = [problem_messages(p) for p in problems]
            writer.writerow(
                [
                    row,
                    "; ".join(dict.fromkeys(p.column for p in problems)),
                    "；".join(m[0] for m in messages),
                    "; ".join(m[1] for m in messages),
                    "yes" if kept else "no",
                    *(raw.get(h, "") for h in header),
                ]
            )
    return target


def rejected_rows_xlsx(
    kind: RecordKind, rejects: list[RejectedRow], locale: Locale = "zh"
) -> bytes:
    """The rows a batch rejected or kept for review as an Excel workbook to correct and
    upload again: one line per row, its cells as the file had them (as text, so identity
    numbers and leading zeros stay as written), the wrong cells marked, and at the end the
    row's number in the file, its problems and what became of it, in LOCALE. The added
    columns' names are none a department's file uses, so an upload ignores them."""
    import xlsxwriter  # only the download pays for it

    rows: dict[int, list[RejectedRow]] = {}
    header: dict[str, None] = {}
    for reject in rejects:
        rows.setdefault(reject.row, []).append(reject)
        header.update(dict.fromkeys(reject.raw))
    columns = list(header)
    where: dict[str, int] = {}
    try:
        found = resolve_columns(
            SourceTable(Path("rejected.xlsx"), columns, [[] for _ in columns], "xlsx", iter(()), 0),
            default_mapping(kind),
            kind,
        )
        where = dict(found)
    except InvalidInput:
        pass  # a file named its columns otherwise (a mapping): nothing is marked
    extra = [
        translate("registry_rejected_column_row", locale),
        translate("registry_rejected_column_problems", locale),
        translate("registry_rejected_column_outcome", locale),
    ]
    output = io.BytesIO()
    book = xlsxwriter.Workbook(output, {"in_memory": True, "strings_to_numbers": False})
    sheet = book.add_worksheet(translate("registry_rejected_sheet", locale)[:31])
    bold = book.add_format({"bold": True, "bg_color": "#e8eefc", "text_wrap": True})
    text = book.add_format({"num_format": "@"})
    wrong = book.add_format({"num_format": "@", "bg_color": "#fde2e1", "font_color": "#9b1c1c"})
    note = book.add_format({"text_wrap": True, "font_color": "#9b1c1c"})
    for i, name in enumerate([*columns, *extra]):
        sheet.write_string(0, i, name, bold)
        sheet.set_column(i, i, 30 if i == len(columns) + 1 else 16)
    for line, (number, problems) in enumerate(sorted(rows.items()), start=1):
        raw = problems[0].raw
        marked = {where[p.field] for p in problems if p.field in where}
        for i, name in enumerate(columns):
            sheet.write_string(line, i, str(raw.get(name, "")), wrong if i in marked else text)
        messages = "；".join(
            dict.fromkeys(p.message_zh if locale == "zh" else p.message_en for p in problems)
        )
        kept = all(p.kept for p in problems)
        outcome = N_("registry_rejected_kept") if kept else N_("registry_rejected_not_imported")
        sheet.write_number(line, len(columns), number)
        sheet.write_string(line, len(columns) + 1, messages, note)
        sheet.write_string(line, len(columns) + 2, translate(outcome, locale))
    sheet.freeze_panes(1, 0)
    book.close()
    return output.getvalue()
