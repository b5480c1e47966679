"""Reading the category taxonomy and the authority list (事权清单) from CSV, row by row,
with every bad row named (row number, field, reason). Pure: checks against the database
(does this department exist?) are done by the service."""

from __future__ import annotations

import csv
import io
from pathlib import Path

from civicgrid.areas.domain import Function, Level
from civicgrid.cases.domain import STEPS, AuthorityRule, Category, TimeLimits, limit_problems
from civicgrid.core.rows import Parsed, RowProblem, csv_rows, read_flag

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


def parse_categories(text: str) -> Parsed[Category]:
    rows = csv_rows(text, ["code", "name"])
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
        urgent = read_flag(row.get("urgent", ""), number, "urgent", problems)
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
