"""Reading files for the Open311 adapter, row by row, each bad row named (row number, field,
reason): the service attribute list (CSV) and historic 311-style request exports (CSV) with
the mapping file (TOML) that says which column is what. Pure: checks against the database
and the grids are the service's."""

from __future__ import annotations

import csv
import io
import math
import tomllib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from civicgrid.cases.domain import Status
from civicgrid.core.errors import InvalidInput
from civicgrid.core.rows import DecodedFile, Parsed, RowProblem, csv_rows, read_flag
from civicgrid.open311.domain import LIST_DATATYPES, Datatype, ServiceAttribute

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_ATTRIBUTES = DATA_DIR / "attributes.csv"
# Mappings shipped with CivicGrid, by name (`--mapping nyc311`).
BUILTIN_MAPPINGS = {"open311": DATA_DIR / "open311.toml", "nyc311": DATA_DIR / "nyc311.toml"}

# ------------------------------------------------------------------ service attributes

ATTRIBUTE_COLUMNS = [
    "service_code",
    "code",
    "order",
    "datatype",
    "required",
    "variable",
    "description",
    "description_en",
    "datatype_description",
    "datatype_description_en",
    "values",
]


def parse_attributes(text: str) -> Parsed[ServiceAttribute]:
    """The attribute list: one row per attribute; list datatypes give their options in
    `values` as `key=名称=Name|key=名称=Name` (the English name may be left out)."""
    rows = csv_rows(text, ["service_code", "code", "order", "datatype", "description"])
    parsed: Parsed[ServiceAttribute] = Parsed()
    for number, row in rows:
        parsed.rows[number] = row
        problems: list[RowProblem] = []
        for name in ("service_code", "code", "description"):
            if not row.get(name):
                problems.append(RowProblem(number, name, "csv_required"))
        datatype = _datatype(row.get("datatype", ""), number, problems)
        order = _order(row.get("order", ""), number, problems)
        required = read_flag(row.get("required", ""), number, "required", problems)
        variable = read_flag(row.get("variable", "") or "yes", number, "variable", problems)
        values = _values(row.get("values", ""), number, problems)
        if problems or datatype is None:
            parsed.problems.extend(problems)
            continue
        parsed.items.append(
            (
                number,
                ServiceAttribute(
                    service_code=row.get("service_code", ""),
                    code=row.get("code", ""),
                    datatype=datatype,
                    order=order,
                    description=row.get("description", ""),
                    description_en=row.get("description_en", ""),
                    datatype_description=row.get("datatype_description", ""),
                    datatype_description_en=row.get("datatype_description_en", ""),
                    required=required,
                    variable=variable,
                    values=values,
                ),
            )
        )
    return check_attribute_set(parsed)


def check_attribute_set(parsed: Parsed[ServiceAttribute]) -> Parsed[ServiceAttribute]:
    """What only the whole list shows: a code used twice in one service, an order taken, a
    list datatype without options (or options on another datatype). Offending items move
    from `items` to `problems`."""
    seen: dict[tuple[str, str], int] = {}
    orders: dict[tuple[str, int], int] = {}
    kept = []
    for number, attribute in parsed.items:
        problems: list[RowProblem] = []
        service, code = attribute.service_code, attribute.code
        if (service, code) in seen:
            problems.append(
                RowProblem(
                    number, "code", "csv_duplicate", {"value": code, "first": seen[service, code]}
                )
            )
        if (service, attribute.order) in orders:
            problems.append(
                RowProblem(
                    number,
                    "order",
                    "open311_csv_order_taken",
                    {"value": attribute.order, "first": orders[service, attribute.order]},
                )
            )
        listed = attribute.datatype in LIST_DATATYPES
        if listed and not attribute.values:
            problems.append(RowProblem(number, "values", "open311_csv_values_needed"))
        if not listed and attribute.values:
            problems.append(
                RowProblem(
                    number,
                    "values",
                    "open311_csv_values_unexpected",
                    {"datatype": attribute.datatype.value},
                )
            )
        seen.setdefault((service, code), number)
        orders.setdefault((service, attribute.order), number)
        if problems:
            parsed.problems.extend(problems)
        else:
            kept.append((number, attribute))
    parsed.items = kept
    parsed.problems.sort(key=lambda p: p.row)
    return parsed


def _datatype(value: str, row: int, problems: list[RowProblem]) -> Datatype | None:
    try:
        return Datatype(value.strip().lower())
    except ValueError:
        problems.append(
            RowProblem(
                row,
                "datatype",
                "open311_csv_bad_datatype",
                {"value": value, "allowed": ", ".join(d.value for d in Datatype)},
            )
        )
        return None


def _order(value: str, row: int, problems: list[RowProblem]) -> int:
    if not value.isdigit() or int(value) < 1:
        problems.append(RowProblem(row, "order", "open311_csv_bad_order", {"value": value}))
        return 1
    return int(value)


def _values(text: str, row: int, problems: list[RowProblem]) -> list[dict[str, str]]:
    options: list[dict[str, str]] = []
    for entry in (part.strip() for part in text.split("|")):
        if not entry:
            continue
        pieces = [p.strip() for p in entry.split("=")]
        if len(pieces) not in (2, 3) or not pieces[0] or not pieces[1]:
            problems.append(RowProblem(row, "values", "open311_csv_bad_values", {"value": entry}))
            continue
        if any(o["key"] == pieces[0] for o in options):
            problems.append(RowProblem(row, "values", "open311_csv_bad_values", {"value": entry}))
            continue
        options.append(
            {"key": pieces[0], "name": pieces[1], "name_en": pieces[2] if len(pieces) == 3 else ""}
        )
    return options


def attributes_csv(attributes: list[ServiceAttribute]) -> str:
    """The attribute list as CSV, in the columns `parse_attributes` reads."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ATTRIBUTE_COLUMNS)
    writer.writeheader()
    for a in attributes:
        writer.writerow(
            {
                "service_code": a.service_code,
                "code": a.code,
                "order": a.order,
                "datatype": a.datatype.value,
                "required": "yes" if a.required else "no",
                "variable": "yes" if a.variable else "no",
                "description": a.description,
                "description_en": a.description_en,
                "datatype_description": a.datatype_description,
                "datatype_description_en": a.datatype_description_en,
                "values": "|".join(
                    "=".join(p for p in (v["key"], v["name"], v.get("name_en", "")) if p)
                    for v in a.values
                ),
            }
        )
    return out.getvalue()


# ------------------------------------------------------------------ the mapping of an export

# What a mapping may name, and which of these it must name.
MAPPED_FIELDS = (
    "key",  # the source's own request number: what makes a second import add nothing
    "created",
    "closed",
    "due",
    "updated",
    "status",
    "agency",
    "agency_name",
    "type",
    "descriptor",
    "description",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "lon",
)
REQUIRED_FIELDS = ("key", "created", "type")
MAPPING_KEYS = {
    "source",
    "timezone",
    "date_format",
    "unmapped_agencies",
    "unit_code_prefix",
    "columns",
    "statuses",
    "agencies",
    "categories",
}


@dataclass
class ImportMapping:
    """How one kind of export reads: SOURCE names it (keys are unique per source), COLUMNS
    maps our fields to its column headers, dates are read with DATE_FORMAT (a strptime
    format, or "iso") in TIMEZONE. STATUSES, AGENCIES (→ unit codes) and CATEGORIES
    (complaint type → category code) translate values. An agency without a unit is
    created as a city-level unit (code UNIT_CODE_PREFIX + agency) or its rows rejected."""

    source: str
    timezone: str
    date_format: str
    columns: dict[str, str]
    statuses: dict[str, Status] = field(default_factory=dict)
    agencies: dict[str, str] = field(default_factory=dict)
    categories: dict[str, str] = field(default_factory=dict)
    unmapped_agencies: Literal["create", "reject"] = "create"
    unit_code_prefix: str = ""
    path: str = ""

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def mapping_path(name_or_path: str | None) -> Path:
    """A mapping file: a path, or the name of one shipped with CivicGrid (default open311)."""
    if name_or_path is None:
        return BUILTIN_MAPPINGS["open311"]
    candidate = Path(name_or_path)
    if not candidate.exists() and name_or_path in BUILTIN_MAPPINGS:
        return BUILTIN_MAPPINGS[name_or_path]
    return candidate


def read_mapping(path: Path) -> ImportMapping:
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput("open311_mapping_unreadable", path=str(path), reason=str(exc)) from exc
    return mapping_from(data, str(path))


def mapping_from(data: dict[str, Any], path: str) -> ImportMapping:
    """Check a mapping read from TOML; each problem names the key."""

    def bad(name: str, value: object) -> InvalidInput:
        return InvalidInput("open311_mapping_bad_value", path=path, field=name, value=value)

    for key in data:
        if key not in MAPPING_KEYS:
            raise InvalidInput("open311_mapping_unknown_field", path=path, field=key)
    for key in ("source", "timezone", "date_format", "columns"):
        if not data.get(key):
            raise InvalidInput("open311_mapping_missing", path=path, field=key)
    tables = {
        name: data.get(name, {}) for name in ("columns", "statuses", "agencies", "categories")
    }
    for name, table in tables.items():
        if not isinstance(table, dict) or not all(isinstance(v, str) and v for v in table.values()):
            raise bad(name, table)
    columns: dict[str, str] = tables["columns"]
    for name in columns:
        if name not in MAPPED_FIELDS:
            raise InvalidInput("open311_mapping_unknown_field", path=path, field=f"columns.{name}")
    for name in REQUIRED_FIELDS:
        if name not in columns:
            raise InvalidInput("open311_mapping_missing", path=path, field=f"columns.{name}")
    if not ({"lat", "lon"} <= set(columns) or "address" in columns):
        raise InvalidInput("open311_mapping_missing", path=path, field="columns.lat/lon/address")
    statuses: dict[str, Status] = {}
    for raw, value in tables["statuses"].items():
        try:
            statuses[raw] = Status(value)
        except ValueError as exc:
            raise bad(f"statuses.{raw}", value) from exc
        if statuses[raw] is Status.MERGED:  # a merge needs the surviving case: not importable
            raise bad(f"statuses.{raw}", value)
    try:
        ZoneInfo(str(data["timezone"]))
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise bad("timezone", data["timezone"]) from exc
    unmapped = data.get("unmapped_agencies", "create")
    if unmapped not in ("create", "reject"):
        raise bad("unmapped_agencies", unmapped)
    source = str(data["source"])
    if len(source) > 40:
        raise bad("source", source)
    return ImportMapping(
        source=source,
        timezone=str(data["timezone"]),
        date_format=str(data["date_format"]),
        columns=columns,
        statuses=statuses,
        agencies=tables["agencies"],
        categories=tables["categories"],
        unmapped_agencies=unmapped,
        unit_code_prefix=str(data.get("unit_code_prefix", "")),
        path=path,
    )


# ------------------------------------------------------------------ the rows of an export


@dataclass
class SourceRow:
    """One request of an export, read and checked (times in UTC)."""

    row: int
    key: str
    created_at: datetime
    status: Status
    status_text: str = ""
    closed_at: datetime | None = None
    due_at: datetime | None = None
    updated_at: datetime | None = None
    agency: str = ""
    agency_name: str = ""
    type: str = ""
    descriptor: str = ""
    description: str = ""
    address: str = ""
    address_id: str = ""
    zipcode: str = ""
    lat: float | None = None
    lon: float | None = None

    @property
    def text(self) -> str:
        """The case's description: the export's own, else type and descriptor."""
        if self.description:
            return self.description
        return ": ".join(p for p in (self.type, self.descriptor) if p)


@dataclass
class SourceBatch:
    rows: list[SourceRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    raw: dict[int, dict[str, str]] = field(default_factory=dict)
    header: list[str] = field(default_factory=list)

    def bad_rows(self, problems: list[RowProblem]) -> list[dict[str, str]]:
        """The rows of PROBLEMS as read, each with an `_errors` column, for correction."""
        bad: dict[int, list[str]] = {}
        for problem in problems:
            bad.setdefault(problem.row, []).append(problem.message())
        return [
            {**{h: self.raw[row].get(h, "") for h in self.header}, "_errors": "; ".join(msgs)}
            for row, msgs in sorted(bad.items())
        ]


# Field values that mean "nothing here" in real exports.
BLANKS = {"", "n/a", "na", "unspecified", "null", "none"}


def read_export(
    text: str, mapping: ImportMapping, decoded: DecodedFile | None = None
) -> SourceBatch:
    """The rows of a 311-style CSV export under MAPPING. Bad dates, coordinates that are not
    numbers or come alone, no place at all, a closing before the creation, a key seen
    before in the file and (with DECODED, the file TEXT was read from) bytes not in the
    file's encoding are named; those rows are left out of `rows`."""
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    columns = mapping.columns
    missing = [columns[f] for f in REQUIRED_FIELDS if columns[f] not in header]
    if missing:
        raise InvalidInput("csv_missing_columns", columns=", ".join(missing))
    present = {f: c for f, c in columns.items() if c in header}
    batch = SourceBatch(header=header)
    first_seen: dict[str, int] = {}
    last_line = reader.line_num
    for number, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        batch.raw[number] = row
        problems: list[RowProblem] = []
        lines, last_line = range(last_line + 1, reader.line_num + 1), reader.line_num
        unreadable = decoded.row_problem(number, lines) if decoded is not None else None
        if unreadable is not None:
            batch.problems.append(unreadable)
            continue
        read = _RowReader(number, row, present, mapping, problems)
        key = read.text("key")
        if not key:
            problems.append(RowProblem(number, columns["key"], "csv_required"))
        elif key in first_seen:
            problems.append(
                RowProblem(
                    number,
                    columns["key"],
                    "open311_import_duplicate_key",
                    {"value": key, "first": first_seen[key]},
                )
            )
        else:
            first_seen[key] = number
        created = read.date("created", required=True)
        closed, due, updated = read.date("closed"), read.date("due"), read.date("updated")
        lat, lon = read.number("lat"), read.number("lon")
        given = [name for name in ("lat", "lon") if read.text(name)]
        if len(given) == 1:
            name = "lon" if given == ["lat"] else "lat"
            problems.append(
                RowProblem(number, present.get(name, name), "open311_import_half_point")
            )
        if not read.text("type"):
            problems.append(RowProblem(number, columns["type"], "csv_required"))
        address = read.text("address")
        if lat is None and lon is None and not address and not read.text("address_id"):
            problems.append(
                RowProblem(
                    number,
                    present.get("lat", columns.get("address", "")),
                    "open311_import_no_location",
                )
            )
        status_text = read.text("status", blanks=False)
        status = mapping.statuses.get(status_text) or (
            Status.CLOSED if closed is not None else Status.REPORTED
        )
        if status in (Status.CLOSED, Status.REJECTED, Status.VOIDED):
            closed = closed or updated or created
        else:
            closed = None
        if created is not None and closed is not None and closed < created:
            problems.append(
                RowProblem(number, present.get("closed", "closed"), "open311_import_closed_early")
            )
        if problems or created is None:
            batch.problems.extend(problems)
            continue
        batch.rows.append(
            SourceRow(
                row=number,
                key=key,
                created_at=created,
                status=status,
                status_text=status_text,
                closed_at=closed,
                due_at=due,
                updated_at=updated,
                agency=read.text("agency"),
                agency_name=read.text("agency_name"),
                type=read.text("type"),
                descriptor=read.text("descriptor"),
                description=read.text("description", blanks=False),
                address=address,
                address_id=read.text("address_id"),
                zipcode=read.text("zipcode"),
                lat=lat,
                lon=lon,
            )
        )
    return batch


class _RowReader:
    def __init__(
        self,
        number: int,
        row: dict[str, str],
        present: dict[str, str],
        mapping: ImportMapping,
        problems: list[RowProblem],
    ) -> None:
        self.row_number, self.row, self.present = number, row, present
        self.mapping, self.problems = mapping, problems

    def text(self, name: str, *, blanks: bool = True) -> str:
        column = self.present.get(name)
        value = self.row.get(column, "") if column else ""
        return "" if blanks and value.lower() in BLANKS else value

    def number(self, name: str) -> float | None:
        value = self.text(name)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            self.problems.append(
                RowProblem(
                    self.row_number,
                    self.present[name],
                    "open311_import_bad_number",
                    {"value": value},
                )
            )
            return None
        return number

    def date(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.text(name)
        column = self.present.get(name, self.mapping.columns.get(name, name))
        if not value:
            if required:
                self.problems.append(RowProblem(self.row_number, column, "csv_required"))
            return None
        try:
            if self.mapping.date_format == "iso":
                moment = datetime.fromisoformat(value)
            else:
                moment = datetime.strptime(value, self.mapping.date_format)
        except ValueError:
            self.problems.append(
                RowProblem(
                    self.row_number,
                    column,
                    "open311_import_bad_date",
                    {"value": value, "format": self.mapping.date_format},
                )
            )
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=self.mapping.zone)
        return moment.astimezone(UTC)
