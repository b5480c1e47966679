"""Reading the category taxonomy and the authority list (事权清单) from CSV, row by row,
with every bad row named (row number, field, reason). Pure: checks against the database
(does this department exist?) are done by the service."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.domain import STEPS, AuthorityRule, Category, TimeLimits, limit_problems
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import Locale, translate

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CATEGORIES = DATA_DIR / "categories.csv"
DEFAULT_RULES = DATA_DIR / "authority_rules.csv"

CATEGORY_COLUMNS = ["code", "name", "name_en", "parent_code", "keywords", "urgent", "description"]
RULE_COLUMNS = [
    "category",
    "level",
    "function",
    "department",
    "area",
    *(f"{step}_h" for step in STEPS),
    "auto_escalate",
]
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


def _rows(text: str, required: list[str]) -> tuple[list[tuple[int, dict[str, str]]], list[str]]:
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput("csv_missing_columns", columns=", ".join(missing))
    rows = []
    for number, row in enumerate(reader, start=2):
        rows.append((number, {(k or "").strip(): (v or "").strip() for k, v in row.items()}))
    return rows, header


def _flag(value: str, row: int, name: str, problems: list[RowProblem]) -> bool:
    lowered = value.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered not in FALSE_WORDS:
        problems.append(RowProblem(row, name, "csv_not_a_flag", {"value": value}))
    return False


def parse_categories(text: str) -> Parsed[Category]:
    rows, _ = _rows(text, ["code", "name"])
    parsed: Parsed[Category] = Parsed()
    seen: dict[str, int] = {}
    for number, row in rows:
        parsed.rows[number] = row
        problems: list[RowProblem] = []
        code, name = row.get("code", ""), row.get("name", "")
        if not code:
            problems.append(RowProblem(number, "code", "csv_required"))
        elif code in seen:
            problems.append(
                RowProblem(number, "code", "csv_duplicate", {"value": code, "first": seen[code]})
            )
        if not name:
            problems.append(RowProblem(number, "name", "csv_required"))
        urgent = _flag(row.get("urgent", ""), number, "urgent", problems)
        if problems:
            parsed.problems.extend(problems)
            continue
        seen[code] = number
        parsed.items.append(
            (
                number,
                Category(
                    code=code,
                    name=name,
                    name_en=row.get("name_en", ""),
                    parent_code=row.get("parent_code") or None,
                    keywords=row.get("keywords", ""),
                    urgent=urgent,
                    description=row.get("description", ""),
                ),
            )
        )
    codes = {c.code: c for _, c in parsed.items}
    for number, category in parsed.items:
        parent = codes.get(category.parent_code or "")
        if category.parent_code and parent is None:
            parsed.problems.append(
                RowProblem(
                    number, "parent_code", "csv_unknown_parent", {"value": category.parent_code}
                )
            )
        elif parent is not None and parent.parent_code is not None:
            parsed.problems.append(
                RowProblem(number, "parent_code", "csv_two_levels", {"value": parent.code})
            )
    return parsed


def parse_rules(text: str) -> Parsed[AuthorityRule]:
    rows, _ = _rows(text, ["category", "level"])
    parsed: Parsed[AuthorityRule] = Parsed()
    for number, row in rows:
        parsed.rows[number] = row
        problems: list[RowProblem] = []
        category = row.get("category", "")
        if not category:
            problems.append(RowProblem(number, "category", "csv_required"))
        level = None
        try:
            level = Level(row.get("level", "").lower())
        except ValueError:
            problems.append(
                RowProblem(number, "level", "csv_bad_level", {"value": row.get("level", "")})
            )
        if level is Level.GRID:
            problems.append(RowProblem(number, "level", "csv_bad_level", {"value": "grid"}))
        function = None
        if row.get("function"):
            try:
                function = Function(row["function"].lower())
            except ValueError:
                problems.append(
                    RowProblem(number, "function", "csv_bad_function", {"value": row["function"]})
                )
        department = row.get("department") or None
        if function is None and department is None and not problems:
            problems.append(RowProblem(number, "function", "csv_function_or_department"))
        defaults = TimeLimits()
        given = {step: row.get(f"{step}_h", "") for step in STEPS}
        for name, key, params in limit_problems({k: v for k, v in given.items() if v}):
            problems.append(RowProblem(number, name, key, params))
        limits = {
            step: float(value) if value and not problems else defaults.hours(step)
            for step, value in given.items()
        }
        auto = _flag(row.get("auto_escalate", "yes") or "yes", number, "auto_escalate", problems)
        if problems or level is None:
            parsed.problems.extend(problems)
            continue
        parsed.items.append(
            (
                number,
                AuthorityRule(
                    category_code=category,
                    level=level,
                    department_function=function,
                    department_code=department,
                    area_code=row.get("area") or None,
                    limits=limits,
                    auto_escalate=auto,
                ),
            )
        )
    return parsed


def rules_csv(rules: list[AuthorityRule]) -> str:
    """The authority list as CSV, in the same columns `parse_rules` reads."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=RULE_COLUMNS)
    writer.writeheader()
    for rule in rules:
        limits = rule.time_limits
        writer.writerow(
            {
                "category": rule.category_code,
                "level": rule.level.value,
                "function": rule.department_function.value if rule.department_function else "",
                "department": rule.department_code or "",
                "area": rule.area_code or "",
                **{f"{step}_h": f"{limits.hours(step):g}" for step in STEPS},
                "auto_escalate": "yes" if rule.auto_escalate else "no",
            }
        )
    return out.getvalue()


def write_rejected_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    target = path.with_name(path.stem + ".rejected.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
    return target
