"""Reading the category taxonomy and the authority list (事权清单) from CSV, row by row,
with every bad row named (row number, field, reason). Pure: checks against the database
(does this department exist?) are done by the service."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.domain import STEPS, AuthorityRule, Category, TimeLimits, limit_problems
from civicgrid.core.rows import Parsed, RowProblem, csv_rows, read_flag

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_CATEGORIES = DATA_DIR / "categories.csv"
DEFAULT_RULES = DATA_DIR / "authority_rules.csv"

CATEGORY_COLUMNS = ["code", "name", "name_en", "parent_code", "keywords", "urgent", "description"]
CATEGORY_FIELDS = ("name", "name_en", "parent_code", "description", "keywords", "urgent")
RULE_COLUMNS = [
    "category",
    "level",
    "function",
    "department",
    "area",
    *(f"{step}_h" for step in STEPS),
    "auto_escalate",
]


# The widths of the categories' columns (cases.repository): a longer value is refused by
# its row instead of cut by SQLite or refused by PostgreSQL.
CATEGORY_WIDTHS = {"code": 32, "name": 100, "name_en": 100, "parent_code": 32}


def parse_categories(text: str) -> Parsed[Category]:
    rows = csv_rows(text, ["code", "name"])
    parsed: Parsed[Category] = Parsed()
    for number, row in rows:
        parsed.rows[number] = row
        urgent = read_flag(row.get("urgent", ""), number, "urgent", parsed.problems)
        parsed.items.append(
            (
                number,
                Category(
                    code=row.get("code", ""),
                    name=row.get("name", ""),
                    name_en=row.get("name_en", ""),
                    parent_code=row.get("parent_code") or None,
                    keywords=row.get("keywords", ""),
                    urgent=urgent,
                    description=row.get("description", ""),
                ),
            )
        )
    return check_categories(parsed)


def check_categories(parsed: Parsed[Category]) -> Parsed[Category]:
    """Every row of a whole taxonomy (a file's or the API's), each problem named by its row
    and field: a code and a name given and no wider than their columns, each code once,
    and each parent a level-1 group of the same list (the list replaces the taxonomy, so
    a parent left out of it would be deactivated)."""
    seen: dict[str, int] = {}
    for number, category in parsed.items:
        if not category.code:
            parsed.problems.append(RowProblem(number, "code", "csv_required"))
        elif category.code in seen:
            parsed.problems.append(
                RowProblem(
                    number,
                    "code",
                    "csv_duplicate",
                    {"value": category.code, "first": seen[category.code]},
                )
            )
        else:
            seen[category.code] = number
        if not category.name.strip():
            parsed.problems.append(RowProblem(number, "name", "csv_required"))
        for name, width in CATEGORY_WIDTHS.items():
            if len(getattr(category, name) or "") > width:
                parsed.problems.append(RowProblem(number, name, "csv_too_long", {"max": width}))
    codes = {category.code: category for _, category in parsed.items if category.code}
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


@dataclass(frozen=True)
class TaxonomyChanges:
    """What installing a taxonomy changes: codes new to the city, codes whose names,
    group, words or urgency change (or that come back), active codes left out (to be
    deactivated), and how many stay as they are."""

    added: list[str]
    changed: list[str]
    deactivated: list[str]
    unchanged: int


def taxonomy_changes(existing: Sequence[Category], new: Sequence[Category]) -> TaxonomyChanges:
    before = {category.code: category for category in existing}
    listed = {category.code for category in new}
    added, changed, unchanged = [], [], 0
    for category in new:
        old = before.get(category.code)
        if old is None:
            added.append(category.code)
        elif not old.active or any(
            getattr(old, name) != getattr(category, name) for name in CATEGORY_FIELDS
        ):
            changed.append(category.code)
        else:
            unchanged += 1
    deactivated = [c.code for c in existing if c.active and c.code not in listed]
    return TaxonomyChanges(added, changed, deactivated, unchanged)


def parse_rules(text: str) -> Parsed[AuthorityRule]:
    rows = csv_rows(text, ["category", "level"])
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
        auto = read_flag(
            row.get("auto_escalate", "yes") or "yes", number, "auto_escalate", problems
        )
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
