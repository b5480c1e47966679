"""A unit's file for one of its datasets (CSV or xlsx), checked as the registry checks its
imports: the file's columns must be the dataset's (a missing one refuses the file, naming
it and the columns found), and each row is checked field by field by what the field holds —
identity numbers by GB 11643 (kept only masked, with the registry's keyed hash), phones,
credit codes by GB 32100, dates, numbers, grid codes, a key given once. A bad row is kept
with its row number, field and reason in both languages for correction; nothing is
silently dropped."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from civicgrid.core.errors import InvalidInput
from civicgrid.core.rows import RowProblem, row_encoding_problem
from civicgrid.exchange.domain import Dataset, DatasetField
from civicgrid.exchange.masking import FieldType
from civicgrid.exchange.repository import Reject
from civicgrid.registry import views as registry_views

MAX_TEXT = 2000


@dataclass
class CheckedFile:
    encoding: str
    total: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)  # row_key, grid_code, data
    rejects: list[Reject] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({r.row for r in self.rejects})


def safe_file_name(name: str) -> str:
    """An uploaded file's own name, to keep it under (errors name it): its last part, with
    anything but letters, digits, dots and dashes replaced."""
    cleaned = re.sub(r"[^\w.\-]", "_", Path(name).name)[-120:]
    return cleaned.lstrip(".") or "upload.csv"


def _key(name: str) -> str:
    return "".join(name.split()).lower()


def read_file(
    path: Path,
    dataset: Dataset,
    *,
    secret: str,
    grid_codes: set[str],
) -> CheckedFile:
    """The checked rows of PATH for DATASET. A file without one of the dataset's columns,
    or without rows, is a 422 naming what is missing and what was found."""
    try:
        table = registry_views.open_table(path)
    except InvalidInput as error:
        if "path" not in error.params:
            raise
        # The file as the unit named it, not the server's folder it was kept in.
        raise InvalidInput(error.message_key, **(error.params | {"path": path.name})) from None
    header = {_key(h): i for i, h in enumerate(table.header) if h}
    for i, names in enumerate(table.alternatives):
        for name in names:
            header.setdefault(_key(name), i)
    positions: dict[str, int] = {}
    missing = []
    for item in dataset.fields:
        index = header.get(_key(item.column), header.get(_key(item.name)))
        if index is None:
            missing.append(item.column)
        else:
            positions[item.name] = index
    if missing:
        raise InvalidInput(
            "exchange_file_columns",
            path=path.name,
            missing=", ".join(missing),
            found=", ".join(h for h in table.header if h) or "-",
        )
    used = set(positions.values())
    checked = CheckedFile(
        table.encoding,
        ignored_columns=[h for i, h in enumerate(table.header) if h and i not in used],
    )
    hash_identity = registry_views.identity_hash(secret)
    checks = {item.name: _check(item, hash_identity, grid_codes) for item in dataset.fields}
    first_row_of: dict[str, int] = {}
    for number, cells in table.rows:
        checked.total += 1
        raw = table.raw(cells)
        problems: list[RowProblem] = []
        offset = table.undecodable.get(number)
        if offset is not None:
            problems.append(row_encoding_problem(number, offset, table.encoding))
        data: dict[str, Any] = {}
        for item in dataset.fields:
            index = positions[item.name]
            text = cells[index].strip() if index < len(cells) else ""
            if not text:
                continue
            try:
                data.update(checks[item.name](text))
            except Problem as refused:
                problems.append(RowProblem(number, item.column, refused.key, refused.params))
        key = ""
        if dataset.key_field:
            key = str(data.get(f"{dataset.key_field}#hash") or data.get(dataset.key_field) or "")
            column = dataset.field_named(dataset.key_field).column
            if not key:
                problems.append(RowProblem(number, column, "exchange_row_no_key"))
            elif key in first_row_of:
                problems.append(
                    RowProblem(number, column, "exchange_row_key_twice", {"row": first_row_of[key]})
                )
            else:
                first_row_of[key] = number
        if problems:
            checked.rejects += [_reject(p, raw) for p in problems]
            continue
        grid = data.get(dataset.grid_field) if dataset.grid_field else None
        checked.rows.append({"row_key": key[:200] or str(number), "grid_code": grid, "data": data})
    if checked.total == 0:
        raise InvalidInput("exchange_file_empty", path=path.name)
    return checked


class Problem(Exception):
    """What is wrong with one cell: a message key and what fills it."""

    def __init__(self, key: str, **params: Any) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def _reject(problem: RowProblem, raw: dict[str, str]) -> Reject:
    return Reject(
        problem.row,
        problem.column,
        problem.key,
        problem.message("zh"),
        problem.message("en"),
        raw,
    )


def _check(
    item: DatasetField, hash_identity: Callable[[str], str], grid_codes: set[str]
) -> Callable[[str], dict[str, Any]]:
    """The check of one field's cell: the values to keep for it, or Problem."""
    name = item.name

    def registry_check(check: Callable[[str], Any]) -> Callable[[str], Any]:
        def run(text: str) -> Any:
            try:
                return check(text)
            except registry_views.IdentifierError as error:
                raise Problem(error.reason, **error.params) from None

        return run

    if item.type is FieldType.IDENTITY:
        parse = registry_check(registry_views.parse_identity)

        def identity(text: str) -> dict[str, Any]:
            number = parse(text)
            return {name: number.masked, f"{name}#hash": hash_identity(number.value)}

        return identity
    if item.type is FieldType.PHONE:
        phone = registry_check(registry_views.parse_phone)
        return lambda text: {name: phone(text)}
    if item.type is FieldType.CREDIT_CODE:
        code = registry_check(registry_views.parse_credit_code)
        return lambda text: {name: code(text)}
    if item.type is FieldType.DATE:

        def day(text: str) -> dict[str, Any]:
            found = registry_views.parse_date(text)
            if found is None:
                raise Problem("exchange_row_not_a_date", value=text[:40])
            return {name: found.isoformat()}

        return day
    if item.type is FieldType.DATETIME:

        def moment(text: str) -> dict[str, Any]:
            try:
                return {name: datetime.fromisoformat(text).isoformat()}
            except ValueError:
                raise Problem("exchange_row_not_a_time", value=text[:40]) from None

        return moment
    if item.type in (FieldType.INTEGER, FieldType.NUMBER):
        read: Callable[[str], Any] = int if item.type is FieldType.INTEGER else float

        def number(text: str) -> dict[str, Any]:
            try:
                return {name: str(read(text.replace(",", "")))}
            except ValueError:
                raise Problem("exchange_row_not_a_number", value=text[:40]) from None

        return number
    if item.type is FieldType.GRID:

        def grid(text: str) -> dict[str, Any]:
            if text not in grid_codes:
                raise Problem("exchange_row_unknown_grid", value=text[:40])
            return {name: text}

        return grid

    def plain(text: str) -> dict[str, Any]:
        if len(text) > MAX_TEXT:
            raise Problem("exchange_row_too_long", length=len(text), most=MAX_TEXT)
        return {name: text}

    return plain
