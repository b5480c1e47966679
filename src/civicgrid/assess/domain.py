"""Assessment as plain Python: the fact row of a case, indicators and composite scores as
data, scoring, months, and the two record kinds on the workflow kernel (an assessment
month, frozen at its end; an appeal against a case's counting).

A fact row is derived from a case's timeline (its rows in the event log) and nothing else
but the case's place and category, so it can be rebuilt at any time and "as of" any
moment: the timeline is the one source of truth, the fact table a derived copy in the
shape analytics engines read fast. Every indicator is a definition over these columns —
a denominator (conditions a case must meet to count), a numerator (further conditions on
top of the denominator, so a rate never passes 100 %), exclusions and a period — compiled
once (assess.engines) into one expression that DuckDB, PostgreSQL and Spark all run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from civicgrid.core.errors import Conflict, Forbidden, InvalidInput
from civicgrid.core.i18n import N_, city_day, day_start
from civicgrid.core.permissions import Role
from civicgrid.core.workflow import ActionSpec, Context, RecordKind, Relation, grant

# ------------------------------------------------------------------ what is assessed


class ObjectType(StrEnum):
    """What a ranking ranks (考核对象)."""

    UNIT = "unit"  # a handling unit (职能部门、物业、社会组织…)
    GRID = "grid"
    GRID_WORKER = "grid_worker"  # 监督员
    DISPATCHER = "dispatcher"  # 受理员 / 派遣员
    COMMUNITY = "community"
    STREET = "street"
    DISTRICT = "district"


# The fact column that names the object a case counts for, unless an indicator says
# otherwise (a grid worker is assessed on her reports by `reporter_worker` and on her
# checks by `verifier`).
OBJECT_KEYS: dict[ObjectType, str] = {
    ObjectType.UNIT: "department_code",
    ObjectType.GRID: "grid_code",
    ObjectType.GRID_WORKER: "reporter_worker",
    ObjectType.DISPATCHER: "dispatcher",
    ObjectType.COMMUNITY: "community_code",
    ObjectType.STREET: "street_code",
    ObjectType.DISTRICT: "district_code",
}
AREA_OBJECTS = frozenset(
    {ObjectType.GRID, ObjectType.COMMUNITY, ObjectType.STREET, ObjectType.DISTRICT}
)
PEOPLE_OBJECTS = frozenset({ObjectType.GRID_WORKER, ObjectType.DISPATCHER})

# ------------------------------------------------------------------ the fact row

STEPS = ("accept", "register", "dispatch", "start", "handle", "verify", "close")
STEP_OF_STATE = {
    "reported": "accept",
    "accepted": "register",
    "registered": "dispatch",
    "dispatched": "start",
    "in_progress": "handle",
    "resolved": "verify",
    "verified": "close",
}
OPEN_STATES = frozenset(
    {
        "reported",
        "accepted",
        "registered",
        "dispatched",
        "in_progress",
        "suspended",
        "resolved",
        "verified",
    }
)


class Kind(StrEnum):
    TEXT = "text"
    INT = "int"
    BOOL = "bool"
    FLOAT = "float"


# Every column of the fact table, in order, with its kind. Times are whole seconds since
# 1970 UTC (integers compare alike on every engine and in every session time zone).
FACT_FIELDS: dict[str, Kind] = {
    "case_id": Kind.INT,
    "channel": Kind.TEXT,
    "category_code": Kind.TEXT,
    "group_code": Kind.TEXT,
    "area_path": Kind.TEXT,
    "grid_code": Kind.TEXT,
    "community_code": Kind.TEXT,
    "street_code": Kind.TEXT,
    "district_code": Kind.TEXT,
    "department_code": Kind.TEXT,  # the lead unit (the last one sent the case)
    "solved_level": Kind.TEXT,  # the level that handled it last (community … city)
    "reporter_worker": Kind.TEXT,  # the grid worker who reported it
    "acceptor": Kind.TEXT,  # who took it in (受理)
    "dispatcher": Kind.TEXT,  # who sent it to a unit (派遣)
    "verifier": Kind.TEXT,  # who checked the work (核查)
    "status": Kind.TEXT,
    "reported_ts": Kind.INT,
    "closed_ts": Kind.INT,
    "is_open": Kind.BOOL,
    "closed": Kind.BOOL,
    "rejected": Kind.BOOL,
    "voided": Kind.BOOL,
    "merged": Kind.BOOL,
    "dispatched": Kind.BOOL,
    "resolved_ever": Kind.BOOL,
    "on_spot": Kind.BOOL,
    "rated": Kind.BOOL,
    "satisfaction": Kind.INT,
    "reply_quality": Kind.FLOAT,
    "returns": Kind.INT,
    "extension_requests": Kind.INT,
    "extensions": Kind.INT,
    "suspensions": Kind.INT,
    "reworks": Kind.INT,
    "reopens": Kind.INT,
    "escalations": Kind.INT,
    "overdue_ever": Kind.BOOL,
    "overdue_now": Kind.BOOL,
    "unit_late": Kind.BOOL,  # the unit's own steps (start, handle) passed their limit
    **{f"{step}_done": Kind.BOOL for step in STEPS},
    **{f"{step}_late": Kind.BOOL for step in STEPS},
    **{f"{step}_hours": Kind.FLOAT for step in STEPS},
}
TEXT_FIELDS = [name for name, kind in FACT_FIELDS.items() if kind is Kind.TEXT]


def epoch(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@dataclass(frozen=True)
class CaseFacts:
    """What a fact row takes from the case itself (its place and category now)."""

    id: int
    channel: str
    category_code: str
    group_code: str
    area_path: str
    grid_code: str
    created_at: datetime


@dataclass(frozen=True)
class TimelineRow:
    """One row of a case's timeline, as cases.views.case_event_rows gives it."""

    action: str
    actor_name: str
    actor_role: str
    from_status: str | None
    to_status: str | None
    at: datetime
    data: Mapping[str, Any]


def derive_fact(
    case: CaseFacts,
    timeline: Sequence[TimelineRow],
    *,
    as_of: datetime | None = None,
    reply_quality: float | None = None,
) -> dict[str, Any]:
    """The fact row of CASE from its TIMELINE (oldest first), counting only what had
    happened before AS_OF (None: everything). Pure: the same timeline gives the same row."""
    chain = [part for part in case.area_path.strip("/").split("/") if part]
    row: dict[str, Any] = {name: None for name in FACT_FIELDS}
    row.update(
        case_id=case.id,
        channel=case.channel,
        category_code=case.category_code,
        group_code=case.group_code,
        area_path=case.area_path,
        grid_code=case.grid_code,
        district_code=chain[1] if len(chain) > 1 else None,
        street_code=chain[2] if len(chain) > 2 else None,
        community_code=chain[3] if len(chain) > 3 else None,
        reported_ts=epoch(case.created_at),
    )
    for name in (
        "returns",
        "extension_requests",
        "extensions",
        "suspensions",
        "reworks",
        "reopens",
        "escalations",
    ):
        row[name] = 0
    for step in STEPS:
        row[f"{step}_done"] = False
        row[f"{step}_late"] = False
        row[f"{step}_hours"] = None
    flags = dict.fromkeys(
        ("dispatched", "resolved_ever", "on_spot", "overdue_ever", "overdue_now"), False
    )
    status = "reported"
    entered: datetime | None = None
    satisfaction: int | None = None
    closed_at: datetime | None = None
    for event in timeline:
        if as_of is not None and event.at >= as_of:
            break
        action = event.action
        data = event.data or {}
        before = event.from_status or status
        after = event.to_status or before
        if action == "report":
            route = data.get("route") or {}
            row["solved_level"] = route.get("level")
            if event.actor_role == Role.GRID_WORKER.value:
                row["reporter_worker"] = event.actor_name
            if data.get("channel"):
                row["channel"] = data["channel"]
            entered = event.at
            status = after or "reported"
            continue
        if action == "overdue":
            late_step = STEP_OF_STATE.get(status)
            if late_step is not None:
                row[f"{late_step}_late"] = True
            flags["overdue_ever"] = flags["overdue_now"] = True
            continue
        if action == "accept":
            row["acceptor"] = event.actor_name
        elif action in ("dispatch", "whistle"):
            row["dispatcher"] = event.actor_name
            row["department_code"] = data.get("lead") or data.get("department")
            flags["dispatched"] = True
        elif action == "return":
            row["returns"] += 1
        elif action == "request_extension":
            row["extension_requests"] += 1
        elif action == "approve_extension":
            row["extensions"] += 1
            flags["overdue_now"] = False  # the new deadline lies ahead
        elif action == "suspend":
            row["suspensions"] += 1
        elif action == "resolve":
            flags["resolved_ever"] = True
        elif action == "verify":
            row["verifier"] = event.actor_name
        elif action == "rework":
            row["reworks"] += 1
            flags["resolved_ever"] = True
        elif action == "rate":
            satisfaction = data.get("satisfaction")
        elif action == "reopen":
            row["reopens"] += 1
            satisfaction = None
        elif action == "escalate":
            row["escalations"] += 1
            row["solved_level"] = data.get("level") or row["solved_level"]
            row["department_code"] = None
        elif action == "resolve_on_spot":
            flags["on_spot"] = flags["resolved_ever"] = True
            row["verifier"] = event.actor_name
        if after != before:
            done_step = STEP_OF_STATE.get(before)
            if done_step is not None and entered is not None:
                row[f"{done_step}_done"] = True
                spent = (event.at - entered).total_seconds() / 3600
                row[f"{done_step}_hours"] = round((row[f"{done_step}_hours"] or 0.0) + spent, 4)
            entered = event.at
            flags["overdue_now"] = False
            if after in ("closed", "rejected", "voided", "merged"):
                closed_at = event.at
        status = after
    row["status"] = status
    row["is_open"] = status in OPEN_STATES
    row["closed"] = status == "closed"
    row["rejected"] = status == "rejected"
    row["voided"] = status == "voided"
    row["merged"] = status == "merged"
    row["closed_ts"] = epoch(closed_at) if closed_at is not None and row["closed"] else None
    row["rated"] = satisfaction is not None and row["closed"]
    row["satisfaction"] = satisfaction if row["rated"] else None
    row["reply_quality"] = reply_quality if row["closed"] else None
    row.update(flags)
    row["overdue_now"] = bool(flags["overdue_now"] and row["is_open"])
    row["unit_late"] = bool(row["start_late"] or row["handle_late"])
    return row


# ------------------------------------------------------------------ conditions


class Op(StrEnum):
    EQ = "="
    NE = "!="
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    IN = "in"
    IS_NULL = "is_null"
    NOT_NULL = "not_null"


OP_KINDS: dict[Op, frozenset[Kind]] = {
    Op.EQ: frozenset(Kind),
    Op.NE: frozenset(Kind),
    Op.GT: frozenset({Kind.INT, Kind.FLOAT}),
    Op.GE: frozenset({Kind.INT, Kind.FLOAT}),
    Op.LT: frozenset({Kind.INT, Kind.FLOAT}),
    Op.LE: frozenset({Kind.INT, Kind.FLOAT}),
    Op.IN: frozenset({Kind.TEXT, Kind.INT}),
    Op.IS_NULL: frozenset(Kind),
    Op.NOT_NULL: frozenset(Kind),
}
# Columns a condition may not use: the case's number and the times (a period says when).
NOT_FOR_CONDITIONS = frozenset({"case_id", "reported_ts", "closed_ts", "area_path"})


@dataclass(frozen=True)
class Condition:
    """FIELD OP VALUE over a fact column ("closed = true", "reworks > 0",
    "channel in hotline,open311")."""

    field: str
    op: Op
    value: Any = None

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "op": self.op.value, "value": self.value}

    def text(self) -> str:
        if self.op in (Op.IS_NULL, Op.NOT_NULL):
            return f"{self.field} {self.op.value}"
        value = ",".join(map(str, self.value)) if isinstance(self.value, list) else self.value
        if isinstance(value, bool):
            value = "true" if value else "false"
        return f"{self.field} {self.op.value} {value}"


def _coerce(kind: Kind, raw: Any, where: str) -> Any:
    try:
        if kind is Kind.BOOL:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("true", "1", "yes", "是"):
                return True
            if text in ("false", "0", "no", "否"):
                return False
            raise ValueError(raw)
        if kind is Kind.INT:
            if isinstance(raw, bool):
                raise ValueError(raw)
            return int(str(raw).strip())
        if kind is Kind.FLOAT:
            return float(str(raw).strip())
        text = str(raw).strip()
        if not text:
            raise ValueError(raw)
        return text
    except (TypeError, ValueError):
        raise InvalidInput(
            "assess_bad_value", field=where, value=str(raw), kind=kind.value
        ) from None


def parse_condition(raw: Mapping[str, Any] | Condition, where: str) -> Condition:
    """A condition from its stored or submitted form, checked: 422 naming WHERE's part."""
    if isinstance(raw, Condition):
        raw = raw.as_dict()
    name = str(raw.get("field") or "").strip()
    if name not in FACT_FIELDS or name in NOT_FOR_CONDITIONS:
        raise InvalidInput(
            "assess_unknown_field",
            field=f"{where}.field",
            name=name or "-",
            known=", ".join(f for f in FACT_FIELDS if f not in NOT_FOR_CONDITIONS),
        )
    try:
        op = Op(str(raw.get("op") or "").strip())
    except ValueError:
        raise InvalidInput(
            "assess_unknown_op",
            field=f"{where}.op",
            op=str(raw.get("op") or "-"),
            known=" ".join(o.value for o in Op),
        ) from None
    kind = FACT_FIELDS[name]
    if kind not in OP_KINDS[op]:
        raise InvalidInput("assess_op_for_kind", field=f"{where}.op", op=op.value, name=name)
    value: Any = None
    if op is Op.IN:
        items = raw.get("value")
        parts = items if isinstance(items, list) else str(items or "").split(",")
        value = [_coerce(kind, p, f"{where}.value") for p in parts if str(p).strip()]
        if not value:
            raise InvalidInput("assess_bad_value", field=f"{where}.value", value="", kind="list")
    elif op not in (Op.IS_NULL, Op.NOT_NULL):
        value = _coerce(kind, raw.get("value"), f"{where}.value")
    return Condition(name, op, value)


def contradiction(conditions: Sequence[Condition]) -> tuple[Condition, Condition] | None:
    """Two conditions no case can meet together (a field equal to two values, or a flag
    both true and false), so the denominator would always be zero."""
    equal: dict[str, Condition] = {}
    for condition in conditions:
        if condition.op is not Op.EQ:
            continue
        seen = equal.get(condition.field)
        if seen is not None and seen.value != condition.value:
            return seen, condition
        equal[condition.field] = condition
    opposites = [("is_open", "closed"), ("is_open", "rejected"), ("is_open", "voided")]
    for a, b in opposites:
        if a in equal and b in equal and equal[a].value is True and equal[b].value is True:
            return equal[a], equal[b]
    return None


# ------------------------------------------------------------------ indicators


class Period(StrEnum):
    """Which cases of a period an indicator looks at."""

    REPORTED = "reported"  # reported in the period (the month's cohort)
    CLOSED = "closed"  # closed in the period
    OPEN_AT_END = "open_at_end"  # still open when the period ends (or now, for a live one)


class OnZero(StrEnum):
    """What an object scores on an indicator whose denominator is zero for it (no cases
    to judge): every denominator can be, so every indicator must say."""

    FULL = "full"  # full marks: nothing went wrong
    ZERO = "zero"  # no marks: nothing was done
    SKIP = "skip"  # left out; the other indicators' points are scaled up to 100


CODE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")


@dataclass
class Indicator:
    """An indicator (考核指标) stored as data."""

    code: str
    name_zh: str
    name_en: str
    objects: list[ObjectType]
    period: Period
    denominator: list[Condition]
    numerator: list[Condition]
    on_zero: OnZero
    exclusions: list[Condition] = field(default_factory=list)
    higher_is_better: bool = True
    keys: dict[ObjectType, str] = field(default_factory=dict)
    description_zh: str = ""
    description_en: str = ""

    def key_for(self, object_type: ObjectType) -> str:
        return self.keys.get(object_type, OBJECT_KEYS[object_type])

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh" else self.name_en

    def description(self, locale: str) -> str:
        return self.description_zh if locale == "zh" else self.description_en

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "objects": [o.value for o in self.objects],
            "period": self.period.value,
            "denominator": [c.as_dict() for c in self.denominator],
            "numerator": [c.as_dict() for c in self.numerator],
            "exclusions": [c.as_dict() for c in self.exclusions],
            "on_zero": self.on_zero.value,
            "higher_is_better": self.higher_is_better,
            "keys": {o.value: k for o, k in self.keys.items()},
            "description_zh": self.description_zh,
            "description_en": self.description_en,
        }


def _choice(enum: type[StrEnum], raw: Any, where: str, key: str) -> Any:
    try:
        return enum(str(raw or "").strip())
    except ValueError:
        raise InvalidInput(
            key, field=where, value=str(raw or "-"), known=", ".join(e.value for e in enum)
        ) from None


def _conditions(raw: Any, where: str) -> list[Condition]:
    items = raw or []
    if not isinstance(items, list):
        raise InvalidInput("assess_bad_value", field=where, value=str(raw), kind="list")
    return [parse_condition(item, f"{where}.{n + 1}") for n, item in enumerate(items)]


def parse_indicator(raw: Mapping[str, Any], code: str | None = None) -> Indicator:
    """An indicator from its stored or submitted form, checked as a whole; 422 naming the
    first wrong field."""
    code = (code or str(raw.get("code") or "")).strip()
    if not CODE.match(code):
        raise InvalidInput("assess_bad_code", field="code", code=code or "-")
    names = {}
    for name in ("name_zh", "name_en"):
        names[name] = str(raw.get(name) or "").strip()
        if not names[name] or len(names[name]) > 60:
            raise InvalidInput("assess_name_required", field=name)
    objects_raw = raw.get("objects") or []
    if isinstance(objects_raw, str):
        objects_raw = [p for p in objects_raw.split(",") if p.strip()]
    if not objects_raw:
        raise InvalidInput("assess_objects_required", field="objects")
    objects = [_choice(ObjectType, o, "objects", N_("assess_unknown_object")) for o in objects_raw]
    period = _choice(Period, raw.get("period"), "period", N_("assess_unknown_period"))
    if raw.get("on_zero") in (None, ""):
        raise InvalidInput("assess_on_zero_required", field="on_zero")
    on_zero = _choice(OnZero, raw.get("on_zero"), "on_zero", N_("assess_unknown_on_zero"))
    denominator = _conditions(raw.get("denominator"), "denominator")
    numerator = _conditions(raw.get("numerator"), "numerator")
    exclusions = _conditions(raw.get("exclusions"), "exclusions")
    if not numerator:
        raise InvalidInput("assess_numerator_required", field="numerator")
    clash = contradiction(denominator)
    if clash is not None:
        raise InvalidInput(
            "assess_denominator_always_zero",
            field="denominator",
            first=clash[0].text(),
            second=clash[1].text(),
        )
    if contradiction([*denominator, *numerator]) is not None:
        first, second = contradiction([*denominator, *numerator]) or (numerator[0], numerator[0])
        raise InvalidInput(
            "assess_numerator_always_zero",
            field="numerator",
            first=first.text(),
            second=second.text(),
        )
    keys_raw = raw.get("keys") or {}
    keys: dict[ObjectType, str] = {}
    for object_raw, column in dict(keys_raw).items():
        object_type = _choice(ObjectType, object_raw, "keys", N_("assess_unknown_object"))
        if FACT_FIELDS.get(str(column)) is not Kind.TEXT:
            raise InvalidInput(
                "assess_unknown_field",
                field=f"keys.{object_type.value}",
                name=str(column),
                known=", ".join(TEXT_FIELDS),
            )
        keys[object_type] = str(column)
    return Indicator(
        code=code,
        name_zh=names["name_zh"],
        name_en=names["name_en"],
        objects=list(dict.fromkeys(objects)),
        period=period,
        denominator=denominator,
        numerator=numerator,
        exclusions=exclusions,
        on_zero=on_zero,
        higher_is_better=bool(raw.get("higher_is_better", True)),
        keys=keys,
        description_zh=str(raw.get("description_zh") or "").strip(),
        description_en=str(raw.get("description_en") or "").strip(),
    )


# ------------------------------------------------------------------ composite scores


class RuleKind(StrEnum):
    LINEAR = "linear"  # points = weight × rate
    DEDUCTION = "deduction"  # weight less PER_POINT for each point the rate falls below LINE
    COMPLEMENT = "complement"  # points = weight × (1 − rate): for rates where less is better


@dataclass(frozen=True)
class ScoringRule:
    kind: RuleKind = RuleKind.LINEAR
    line: float = 100.0  # DEDUCTION: the rate (in %) from which nothing is deducted
    per_point: float = 1.0  # DEDUCTION: points off for each percentage point below LINE

    def points(self, weight: float, rate: float) -> float:
        if self.kind is RuleKind.LINEAR:
            return weight * rate
        if self.kind is RuleKind.COMPLEMENT:
            return weight * (1 - rate)
        shortfall = max(0.0, self.line - rate * 100)
        return max(0.0, weight - self.per_point * shortfall)


@dataclass(frozen=True)
class SchemeItem:
    indicator: str
    weight: float  # in % of the total score
    rule: ScoringRule = ScoringRule()


@dataclass(frozen=True)
class Grade:
    grade: str  # A … E
    min_score: float


DEFAULT_GRADES = (
    Grade("A", 90.0),
    Grade("B", 80.0),
    Grade("C", 70.0),
    Grade("D", 60.0),
    Grade("E", 0.0),
)


@dataclass
class Scheme:
    """A composite score (考核方案) for one object type: weighted indicators, each with its
    scoring rule, and grade bands."""

    code: str
    name_zh: str
    name_en: str
    object_type: ObjectType
    items: list[SchemeItem]
    grades: list[Grade] = field(default_factory=lambda: list(DEFAULT_GRADES))

    def name(self, locale: str) -> str:
        return self.name_zh if locale == "zh" else self.name_en

    def grade_of(self, score: float) -> str:
        for band in self.grades:
            if score >= band.min_score:
                return band.grade
        return self.grades[-1].grade

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name_zh": self.name_zh,
            "name_en": self.name_en,
            "object": self.object_type.value,
            "items": [
                {
                    "indicator": i.indicator,
                    "weight": i.weight,
                    "rule": {
                        "kind": i.rule.kind.value,
                        "line": i.rule.line,
                        "per_point": i.rule.per_point,
                    },
                }
                for i in self.items
            ],
            "grades": [{"grade": g.grade, "min_score": g.min_score} for g in self.grades],
        }


def _number(raw: Any, where: str) -> float:
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        raise InvalidInput("assess_not_a_number", field=where, value=str(raw)) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise InvalidInput("assess_not_a_number", field=where, value=str(raw))
    return value


def parse_scheme(
    raw: Mapping[str, Any], indicators: Mapping[str, Indicator], code: str | None = None
) -> Scheme:
    """A scheme from its stored or submitted form, checked against INDICATORS: an unknown
    object type, an indicator that does not assess it, weights that do not add up to
    100 %, a deduction without its line, grade bands out of order — 422 naming the field."""
    code = (code or str(raw.get("code") or "")).strip()
    if not CODE.match(code):
        raise InvalidInput("assess_bad_code", field="code", code=code or "-")
    names = {}
    for name in ("name_zh", "name_en"):
        names[name] = str(raw.get(name) or "").strip()
        if not names[name] or len(names[name]) > 60:
            raise InvalidInput("assess_name_required", field=name)
    object_type = _choice(ObjectType, raw.get("object"), "object", N_("assess_unknown_object"))
    items_raw = raw.get("items") or []
    if not items_raw:
        raise InvalidInput("assess_items_required", field="items")
    items: list[SchemeItem] = []
    for n, item in enumerate(items_raw, start=1):
        where = f"items.{n}"
        code_of = str(item.get("indicator") or "").strip()
        indicator = indicators.get(code_of)
        if indicator is None:
            raise InvalidInput(
                "assess_unknown_indicator", field=f"{where}.indicator", code=code_of or "-"
            )
        if object_type not in indicator.objects:
            raise InvalidInput(
                "assess_indicator_not_for_object",
                field=f"{where}.indicator",
                code=code_of,
                object=object_type.value,
            )
        if any(i.indicator == code_of for i in items):
            raise InvalidInput("assess_indicator_twice", field=f"{where}.indicator", code=code_of)
        weight = _number(item.get("weight"), f"{where}.weight")
        if not 0 < weight <= 100:
            raise InvalidInput("assess_weight_range", field=f"{where}.weight", value=weight)
        rule_raw = item.get("rule") or {}
        kind = _choice(
            RuleKind, rule_raw.get("kind") or "linear", f"{where}.rule", N_("assess_unknown_rule")
        )
        line = _number(rule_raw.get("line", 100), f"{where}.rule.line")
        per_point = _number(rule_raw.get("per_point", 1), f"{where}.rule.per_point")
        if kind is RuleKind.DEDUCTION and (not 0 < line <= 100 or per_point <= 0):
            raise InvalidInput("assess_deduction_params", field=f"{where}.rule.line")
        items.append(SchemeItem(code_of, weight, ScoringRule(kind, line, per_point)))
    total = sum(i.weight for i in items)
    if abs(total - 100) > 1e-6:
        raise InvalidInput("assess_weights_total", field="weights", total=f"{total:g}")
    grades_raw = raw.get("grades") or [asdict(g) for g in DEFAULT_GRADES]
    grades = []
    for n, band in enumerate(grades_raw, start=1):
        letter = str(band.get("grade") or "").strip()
        if not letter or len(letter) > 8:
            raise InvalidInput("assess_name_required", field=f"grades.{n}.grade")
        grades.append(Grade(letter, _number(band.get("min_score"), f"grades.{n}.min_score")))
    scores = [g.min_score for g in grades]
    if scores != sorted(scores, reverse=True) or len(set(scores)) != len(scores):
        raise InvalidInput("assess_grades_order", field="grades")
    return Scheme(code, names["name_zh"], names["name_en"], object_type, items, grades)


@dataclass(frozen=True, slots=True)
class Figure:
    """One indicator of one object: its counts, rate and points (rate None: nothing to
    judge, the denominator is zero)."""

    numerator: int
    denominator: int
    rate: float | None
    points: float | None


@dataclass
class ObjectScore:
    object_code: str
    figures: dict[str, Figure]
    score: float
    grade: str
    rank: int = 0
    previous_rank: int | None = None
    previous_score: float | None = None

    @property
    def trend(self) -> str:
        """up, down, same or new: how the rank moved since the month before."""
        if self.previous_rank is None:
            return "new"
        if self.rank < self.previous_rank:
            return "up"
        if self.rank > self.previous_rank:
            return "down"
        return "same"


def score_object(
    scheme: Scheme,
    indicators: Mapping[str, Indicator],
    counts: Mapping[str, tuple[int, int]],
    object_code: str,
) -> ObjectScore:
    """The composite score of one object from its (numerator, denominator) per indicator:
    the one place where counts become rates and points."""
    figures: dict[str, Figure] = {}
    points_total = 0.0
    weight_counted = 0.0
    for item in scheme.items:
        numerator, denominator = counts.get(item.indicator, (0, 0))
        indicator = indicators[item.indicator]
        if denominator:
            rate: float | None = numerator / denominator
            points: float | None = item.rule.points(item.weight, rate or 0.0)
        elif indicator.on_zero is OnZero.FULL:
            rate, points = None, item.weight
        elif indicator.on_zero is OnZero.ZERO:
            rate, points = None, 0.0
        else:
            rate, points = None, None
        figures[item.indicator] = Figure(int(numerator), int(denominator), rate, points)
        if points is not None:
            points_total += points
            weight_counted += item.weight
    score = points_total * 100 / weight_counted if weight_counted else 0.0
    score = round(score, 2)
    return ObjectScore(object_code, figures, score, scheme.grade_of(score))


def rank(scores: list[ObjectScore]) -> list[ObjectScore]:
    """Best first; equal scores share a rank (1, 2, 2, 4)."""
    ordered = sorted(scores, key=lambda s: (-s.score, s.object_code))
    previous: float | None = None
    position = 0
    for n, item in enumerate(ordered, start=1):
        if item.score != previous:
            position, previous = n, item.score
        item.rank = position
    return ordered


# ------------------------------------------------------------------ months and periods


MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True)
class Window:
    """A period of the city's calendar: from START (inclusive) to END (exclusive), both UTC
    instants of the city's midnights, and its label ("2025-03", "2025-W10")."""

    label: str
    start: datetime
    end: datetime

    @property
    def start_ts(self) -> int:
        return epoch(self.start)

    @property
    def end_ts(self) -> int:
        return epoch(self.end)


def month_window(text: str, now: datetime, tz: str, *, field_name: str = "month") -> Window:
    """The city's month YYYY-MM; a malformed month or one that has not begun yet is a 422
    naming FIELD_NAME."""
    found = MONTH.match((text or "").strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 2000:
        raise InvalidInput("assess_bad_month", field=field_name, month=text or "-")
    year, month = int(found.group(1)), int(found.group(2))
    first = date(year, month, 1)
    following = date(year + month // 12, month % 12 + 1, 1)
    today = city_day(now, tz)
    if first > today:
        raise InvalidInput("assess_future_month", field=field_name, month=text)
    return Window(f"{year:04d}-{month:02d}", day_start(first, tz), day_start(following, tz))


def current_month(now: datetime, tz: str) -> str:
    today = city_day(now, tz)
    return f"{today.year:04d}-{today.month:02d}"


def previous_month(label: str) -> str:
    year, month = int(label[:4]), int(label[5:7])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


def week_window(now: datetime, tz: str) -> Window:
    """The city's week so far (from Monday's midnight)."""
    today = city_day(now, tz)
    monday = today - timedelta(days=today.weekday())
    iso = monday.isocalendar()
    return Window(
        f"{iso.year}-W{iso.week:02d}", day_start(monday, tz), day_start(monday + timedelta(7), tz)
    )


def month_has_ended(window: Window, now: datetime) -> bool:
    return now >= window.end


# ------------------------------------------------------------------ frozen months (the kernel)

MONTH_KIND = "assess_month"
APPEAL_KIND = "assess_appeal"


class MonthState(StrEnum):
    OPEN = "open"  # figures are live, month to date
    FROZEN = "frozen"  # month-end results stored; only accepted appeals change them


ASSESSORS = frozenset({Role.ADMIN, Role.LEADER})


@dataclass(eq=False)
class AssessmentMonth:
    """A month of assessment: frozen after its end with the rulebook version in force, and
    recomputed (a new revision) when an appeal is accepted."""

    month: str
    state: MonthState = MonthState.OPEN
    version: int | None = None  # of the rulebook that computed the stored results
    revision: int = 0  # how many times its results were computed
    frozen_at: datetime | None = None
    appeal_until: datetime | None = None
    updated_at: datetime | None = None
    id: int | None = None


MONTH_RECORD: RecordKind[AssessmentMonth] = RecordKind(
    name=MONTH_KIND,
    actions={
        "freeze": ActionSpec("freeze", {MonthState.OPEN: MonthState.FROZEN}, (grant(ASSESSORS),)),
        "recompute": ActionSpec(
            "recompute", {MonthState.FROZEN: MonthState.FROZEN}, (grant(ASSESSORS),)
        ),
    },
    open_states=frozenset({MonthState.OPEN.value}),
    messages="assess_month",
)


class AppealState(StrEnum):
    FILED = "filed"  # waiting for an assessor
    ACCEPTED = "accepted"  # the case no longer counts against the unit that month
    REJECTED = "rejected"


APPELLANTS = frozenset({Role.HANDLER, Role.CADRE, Role.ADMIN})
# An assessor decides within this many hours (the step's deadline on the kernel).
DECIDE_HOURS = 5 * 24.0


@dataclass(eq=False)
class Appeal:
    """申诉: a unit (or a cadre for her area's grids) asks that one case not count against
    it in a frozen month (for one indicator, or all), with the reason."""

    month: str
    case_id: int
    object_type: ObjectType
    object_code: str
    reason: str
    filed_by: str
    filed_at: datetime
    area_path: str  # of the case, for assessors' and cadres' scope
    indicator: str | None = None  # None: every indicator
    state: AppealState = AppealState.FILED
    decided_by: str | None = None
    decision_note: str = ""
    updated_at: datetime | None = None
    step_started_at: datetime | None = None
    deadline_at: datetime | None = None
    warn_at: datetime | None = None
    overdue: bool = False
    paused_remaining_seconds: float | None = None
    id: int | None = None


@dataclass(frozen=True)
class Decision:
    note: str = ""


IN_SCOPE: Relation[Appeal] = Relation(
    "in_area",
    lambda appeal, ctx: ctx.actor.covers(appeal.area_path),
    lambda appeal, ctx: Forbidden("forbidden_area", code=appeal.object_code),
)
APPEAL: RecordKind[Appeal] = RecordKind(
    name=APPEAL_KIND,
    actions={
        "accept": ActionSpec(
            "accept",
            {AppealState.FILED: AppealState.ACCEPTED},
            (grant(ASSESSORS, IN_SCOPE),),
            requires=("note",),
        ),
        "reject": ActionSpec(
            "reject",
            {AppealState.FILED: AppealState.REJECTED},
            (grant(ASSESSORS, IN_SCOPE),),
            requires=("note",),
        ),
    },
    open_states=frozenset({AppealState.FILED.value}),
    messages="assess_appeal",
    steps={AppealState.FILED.value: "decide"},
    step_hours=lambda appeal, step: DECIDE_HOURS,
)


def check_appeal_window(month: AssessmentMonth, now: datetime) -> None:
    """Appeals are taken on a frozen month until its deadline: 409 before it is frozen,
    422 naming the month after the deadline."""
    if month.state is not MonthState.FROZEN:
        raise Conflict("assess_month_not_frozen", month=month.month)
    if month.appeal_until is not None and now > month.appeal_until:
        raise InvalidInput(
            "assess_appeal_too_late",
            field="month",
            month=month.month,
            until=month.appeal_until.isoformat(timespec="minutes"),
        )


def decide_context(actor: Any, now: datetime) -> Context:
    return Context(actor, now)


# ------------------------------------------------------------------ threshold alerts


class Comparison(StrEnum):
    BELOW = "below"
    ABOVE = "above"


class AlertWindow(StrEnum):
    WEEK = "week"
    MONTH = "month"


@dataclass(eq=False)
class Alert:
    """ "The on-time rate of any street below 90 % this week": an indicator, an object
    type, a comparison with a threshold (in %), a window, and the area it watches."""

    name: str
    indicator: str
    object_type: ObjectType
    comparison: Comparison
    threshold: float
    window: AlertWindow
    created_by: str
    created_at: datetime
    area_code: str | None = None
    area_path: str | None = None
    min_cases: int = 5  # fewer cases than this say too little to alert on
    active: bool = True
    id: int | None = None

    def breached(self, figure: Figure) -> bool:
        if figure.rate is None or figure.denominator < self.min_cases:
            return False
        percent = figure.rate * 100
        if self.comparison is Comparison.BELOW:
            return percent < self.threshold
        return percent > self.threshold


@dataclass(eq=False)
class AlertFiring:
    """One alert's breach by one object in one window: sent once."""

    alert_id: int
    window: str
    object_code: str
    value: float
    fired_at: datetime
    id: int | None = None


def check_alert(
    name: str, indicator: Indicator | None, object_raw: str, comparison: str, threshold: Any
) -> tuple[ObjectType, Comparison, float]:
    if not name.strip():
        raise InvalidInput("assess_name_required", field="name")
    if indicator is None:
        raise InvalidInput("assess_unknown_indicator", field="indicator", code="-")
    object_type = _choice(ObjectType, object_raw, "object", N_("assess_unknown_object"))
    if object_type not in indicator.objects:
        raise InvalidInput(
            "assess_indicator_not_for_object",
            field="indicator",
            code=indicator.code,
            object=object_type.value,
        )
    how = _choice(Comparison, comparison, "comparison", N_("assess_unknown_comparison"))
    value = _number(threshold, "threshold")
    if not 0 <= value <= 100:
        raise InvalidInput("assess_threshold_range", field="threshold", value=value)
    return object_type, how, value


# ------------------------------------------------------------------ plain words


OP_WORDS = {
    "zh": {
        Op.EQ: "等于",
        Op.NE: "不等于",
        Op.GT: "大于",
        Op.GE: "不少于",
        Op.LT: "小于",
        Op.LE: "不超过",
        Op.IN: "属于",
        Op.IS_NULL: "为空",
        Op.NOT_NULL: "不为空",
    },
    "en": {
        Op.EQ: "is",
        Op.NE: "is not",
        Op.GT: "is more than",
        Op.GE: "is at least",
        Op.LT: "is less than",
        Op.LE: "is at most",
        Op.IN: "is one of",
        Op.IS_NULL: "is empty",
        Op.NOT_NULL: "is given",
    },
}


def field_label_key(name: str) -> str:
    return f"assess.field.{name}"


def condition_words(condition: Condition, locale: str, label: Any) -> str:
    """ "已结案 是" / "returns is more than 0" for a definition page; LABEL names a field."""
    name = label(field_label_key(condition.field))
    if FACT_FIELDS[condition.field] is Kind.BOOL and condition.op in (Op.EQ, Op.NE):
        positive = (condition.value is True) == (condition.op is Op.EQ)
        if locale == "zh":
            return name if positive else f"非{name}" if len(name) <= 4 else f"不是“{name}”"
        return name if positive else f"not {name}"
    words = OP_WORDS["zh" if locale == "zh" else "en"][condition.op]
    if condition.op in (Op.IS_NULL, Op.NOT_NULL):
        return f"{name}{words}" if locale == "zh" else f"{name} {words}"
    value = (
        "、".join(map(str, condition.value))
        if isinstance(condition.value, list)
        else condition.value
    )
    return f"{name}{words}{value}" if locale == "zh" else f"{name} {words} {value}"


PERIOD_KEYS = {
    Period.REPORTED: N_("assess.period.reported"),
    Period.CLOSED: N_("assess.period.closed"),
    Period.OPEN_AT_END: N_("assess.period.open_at_end"),
}


def all_words(conditions: Iterable[Condition], locale: str, label: Any) -> str:
    joiner = "，且" if locale == "zh" else ", and "
    return joiner.join(condition_words(c, locale, label) for c in conditions)
