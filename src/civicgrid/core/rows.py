"""Reading an import row by row, every bad row named: "row N, field F: problem".

Shared by every domain that takes in files (the taxonomy and the authority list, Open311's
attribute list and exports, the registry's records): where a problem is, how it reads in
either language, the rejected rows written back for correction, and the CSV basics.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import Locale, translate

TRUE_WORDS = {"1", "true", "yes", "y", "是", "t"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否", "f"}


@dataclass
class RowProblem:
    row: int  # as a spreadsheet counts: the header is row 1
    column: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: Locale = "zh") -> str:
        reason = translate(self.key, locale, self.params)
        return translate(
            "row_problem", locale, {"row": self.row, "field": self.column, "reason": reason}
        )


T = TypeVar("T")


@dataclass
class Parsed(Generic[T]):
    items: list[tuple[int, T]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: dict[int, dict[str, str]] = field(default_factory=dict)

    def bad_rows(self) -> list[dict[str, str]]:
        """The rejected rows as read, each with an `_errors` column, for correction."""
        bad: dict[int, list[str]] = {}
        for problem in self.problems:
            bad.setdefault(problem.row, []).append(problem.message())
        return [{**self.rows[row], "_errors": "; ".join(msgs)} for row, msgs in sorted(bad.items())]


def read_csv_text(path: Path) -> str:
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):  # Excel in China saves CSV as GBK
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise InvalidInput("file_encoding", path=str(path))


def csv_rows(text: str, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(row number, cells by column) of each data row, names and cells stripped; cells
    beyond the header are dropped. A missing REQUIRED column rejects the whole file."""
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput("csv_missing_columns", columns=", ".join(missing))
    return [
        (number, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None})
        for number, row in enumerate(reader, start=2)
    ]


def read_flag(value: str, row: int, column: str, problems: list[RowProblem]) -> bool:
    """A yes/no cell ("是", "yes", "1", "" …); anything else is named in PROBLEMS (and reads
    as no)."""
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered not in FALSE_WORDS:
        problems.append(RowProblem(row, column, "csv_not_a_flag", {"value": value}))
    return False


def write_rejected_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    target = path.with_name(path.stem + ".rejected.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
    return target
