"""One definition, several engines: an indicator compiles here, once, into one Ibis
expression over the fact table, and that expression runs on DuckDB (the embedded
default, over a columnar snapshot of the facts kept up to date incrementally), on
PostgreSQL (the live fact table) or on Spark (local mode, or a cluster for a city that
outgrows one machine). Engines return integer counts — numerator and denominator per
object and indicator — and the one scoring function (domain.score_object) turns them into
rates, points and grades, so no formula is written twice and the engines cannot drift.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import ibis
import pyarrow as pa
from ibis.expr.types import BooleanValue, Table

from civicgrid.assess.domain import (
    FACT_FIELDS,
    STEPS,
    Condition,
    Indicator,
    Kind,
    ObjectType,
    Op,
    Period,
    Window,
)

LIVE = "live"  # the snapshot name of the facts as of now; a frozen month's is "YYYY-MM"
TABLE = "assess_facts"

IBIS_TYPES = {Kind.TEXT: "string", Kind.INT: "int64", Kind.BOOL: "boolean", Kind.FLOAT: "float64"}
ARROW_TYPES = {
    Kind.TEXT: pa.string(),
    Kind.INT: pa.int64(),
    Kind.BOOL: pa.bool_(),
    Kind.FLOAT: pa.float64(),
}
FACT_SCHEMA = pa.schema(
    [("snapshot", pa.string())]
    + [(name, ARROW_TYPES[kind]) for name, kind in FACT_FIELDS.items()]
    + [("refreshed_seq", pa.int64())]
)


def facts_to_arrow(rows: Sequence[Mapping[str, Any]]) -> pa.Table:
    """Fact rows (dicts with snapshot and refreshed_seq) as an Arrow table of FACT_SCHEMA."""
    columns = {name: [row.get(name) for row in rows] for name in FACT_SCHEMA.names}
    return pa.table(columns, schema=FACT_SCHEMA)


# ------------------------------------------------------------------ compiling


def _condition(t: Table, c: Condition) -> BooleanValue:
    column = t[c.field]
    if c.op is Op.EQ:
        return column == c.value
    if c.op is Op.NE:
        return column != c.value
    if c.op is Op.GT:
        return column > c.value
    if c.op is Op.GE:
        return column >= c.value
    if c.op is Op.LT:
        return column < c.value
    if c.op is Op.LE:
        return column <= c.value
    if c.op is Op.IN:
        return column.isin(list(c.value))
    if c.op is Op.IS_NULL:
        return column.isnull()
    return column.notnull()


# Every condition holds. A condition on an empty value (a rating not given) is unknown,
# and an unknown case is not counted (SQL's CASE takes it as false).
def _all(rows: Table, conditions: Sequence[Condition]) -> BooleanValue:
    found: BooleanValue | None = None
    for c in conditions:
        found = _condition(rows, c) if found is None else found & _condition(rows, c)
    return ibis.literal(True) if found is None else found


def _period(t: Table, period: Period, window: Window) -> BooleanValue:
    start, end = window.start_ts, window.end_ts
    if period is Period.REPORTED:
        return (t.reported_ts >= start) & (t.reported_ts < end)
    if period is Period.CLOSED:
        return (t.closed_ts >= start).fill_null(False) & (t.closed_ts < end).fill_null(False)
    return t.is_open & (t.reported_ts < end)


@dataclass(frozen=True)
class Scope:
    """Which facts one computation reads: a SNAPSHOT ("live" or a frozen month), the
    WINDOW of the period, the caller's area (AREA_PATH prefix, None: all) and the cases
    accepted appeals took out, per indicator (key None: every indicator)."""

    snapshot: str
    window: Window
    area_path: str | None = None
    excluded: Mapping[str | None, Sequence[int]] = field(default_factory=dict)

    def excluded_for(self, indicator: str) -> list[int]:
        return sorted({*self.excluded.get(None, ()), *self.excluded.get(indicator, ())})


def _base(t: Table, scope: Scope) -> Table:
    rows = t.filter(t.snapshot == scope.snapshot)
    if scope.area_path:
        rows = rows.filter(rows.area_path.startswith(scope.area_path))
    return rows


def denominator(t: Table, indicator: Indicator, scope: Scope) -> BooleanValue:
    """The one expression of who counts in INDICATOR's denominator (its numerator adds
    its own conditions on top): the period, no exclusion, no accepted appeal, and the
    denominator's conditions."""
    counted = _period(t, indicator.period, scope.window) & _all(t, indicator.denominator)
    for exclusion in indicator.exclusions:
        counted = counted & ~_condition(t, exclusion).fill_null(False)
    taken_out = scope.excluded_for(indicator.code)
    if taken_out:
        counted = counted & ~t.case_id.isin(taken_out)
    return counted


def numerator(t: Table, indicator: Indicator, scope: Scope) -> BooleanValue:
    return denominator(t, indicator, scope) & _all(t, indicator.numerator)


def narrowed_expression(facts: Table, scope: Scope, columns: Sequence[str] | None = None) -> Table:
    """The rows any indicator of the period may count: its snapshot and area, reported or
    closed in the window, or open at its end. An engine may keep them aside while it
    runs a month's many queries (each query filters them again)."""
    t = _base(facts, scope)
    window = scope.window
    rows = t.filter(
        ((t.reported_ts >= window.start_ts) & (t.reported_ts < window.end_ts))
        | ((t.closed_ts >= window.start_ts) & (t.closed_ts < window.end_ts)).fill_null(False)
        | (t.is_open & (t.reported_ts < window.end_ts))
    )
    return rows.select(*columns) if columns else rows


# The columns every statement reads whatever its indicators (the scope's and periods').
BASE_COLUMNS = ("snapshot", "case_id", "area_path", "reported_ts", "closed_ts", "is_open")


def columns_used(jobs: Sequence[tuple[Sequence[Indicator], ObjectType]]) -> tuple[str, ...]:
    """The fact columns a set of counts reads, in the table's order."""
    used = set(BASE_COLUMNS)
    for indicators, object_type in jobs:
        for indicator in indicators:
            used.add(indicator.key_for(object_type))
            used.update(
                c.field
                for c in (*indicator.denominator, *indicator.numerator, *indicator.exclusions)
            )
    return tuple(name for name in FACT_SCHEMA.names if name in used)


def _narrowing(engine: Engine, columns: Sequence[str]) -> str:
    (sql,) = compiled(
        engine.dialect,
        ("narrowed", *columns),
        lambda: [narrowed_expression(facts_table(), _marked_scope(), columns)],
    )
    return sql


def count_expressions(
    facts: Table, indicators: Sequence[Indicator], object_type: ObjectType, scope: Scope
) -> list[Table]:
    """One grouped query per key column the indicators use for OBJECT_TYPE: columns
    object, <code>__n and <code>__d (integers) for each indicator."""
    t = narrowed_expression(facts, scope)
    by_key: dict[str, list[Indicator]] = {}
    for indicator in indicators:
        by_key.setdefault(indicator.key_for(object_type), []).append(indicator)
    queries = []
    for key, group in by_key.items():
        keyed = t.filter(t[key].notnull())
        metrics: dict[str, Any] = {}
        for indicator in group:
            counted = denominator(keyed, indicator, scope)
            metrics[f"{indicator.code}__d"] = counted.ifelse(1, 0).sum().cast("int64")
            metrics[f"{indicator.code}__n"] = (
                (counted & _all(keyed, indicator.numerator)).ifelse(1, 0).sum().cast("int64")
            )
        queries.append(keyed.group_by(object=keyed[key]).aggregate(**metrics))
    return queries


def drill_expression(
    facts: Table,
    indicator: Indicator,
    object_type: ObjectType,
    object_code: str,
    scope: Scope,
    part: str,
) -> Table:
    """The cases behind one number: the same expression, filtered to one object."""
    t = _base(facts, scope)
    key = indicator.key_for(object_type)
    t = t.filter(t[key] == object_code)
    chosen = (
        numerator(t, indicator, scope) if part == "numerator" else denominator(t, indicator, scope)
    )
    return t.filter(chosen).select("case_id").order_by("case_id")


def percentile_expression(facts: Table, object_type: ObjectType, scope: Scope, key: str) -> Table:
    """Median and 90th percentile of the hours each step took, per object (reported in
    the window)."""
    t = _base(facts, scope)
    w = scope.window
    t = t.filter((t.reported_ts >= w.start_ts) & (t.reported_ts < w.end_ts) & t[key].notnull())
    metrics: dict[str, Any] = {}
    for step in STEPS:
        column = t[f"{step}_hours"]
        # Exact: DuckDB sorts a month's hours faster than it builds approximate digests.
        metrics[f"{step}_p50"] = column.quantile(0.5)
        metrics[f"{step}_p90"] = column.quantile(0.9)
    return t.group_by(object=t[key]).aggregate(**metrics)


# ------------------------------------------------------------------ compiled once

# An expression is compiled to each engine's SQL once per definition, object type and
# dialect, with stand-ins for what changes from one call to the next (the snapshot, the
# period's bounds, the area, the appealed cases), which are then filled in: compiling
# takes longer than counting a month of a big city, and the definitions rarely change.
SNAPSHOT_MARK = "__snapshot__"
AREA_MARK = "__area__"
START_MARK = 1_111_111_111_111
END_MARK = 2_222_222_222_222
EXCLUDED_MARK = 9_000_000_000  # + the indicator's position: no case has such a number


@dataclass(frozen=True)
class _Marks:
    """A window of stand-ins."""

    label: str = "marks"
    start_ts: int = START_MARK
    end_ts: int = END_MARK


class _MarkedScope(Scope):
    def excluded_for(self, indicator: str) -> list[int]:
        return [EXCLUDED_MARK + _positions.get(indicator, 0)]


_positions: dict[str, int] = {}
_compiled: dict[tuple[Any, ...], list[str]] = {}
_compiled_lock = threading.Lock()


def _position(code: str) -> int:
    with _compiled_lock:
        return _positions.setdefault(code, len(_positions) + 1)


def _quoted(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bind(sql: str, scope: Scope, indicators: Sequence[Indicator]) -> str:
    sql = sql.replace(_quoted(SNAPSHOT_MARK), _quoted(scope.snapshot))
    sql = sql.replace(_quoted(AREA_MARK), _quoted(scope.area_path or ""))
    sql = sql.replace(str(START_MARK), str(int(scope.window.start_ts)))
    sql = sql.replace(str(END_MARK), str(int(scope.window.end_ts)))
    for indicator in indicators:
        mark = str(EXCLUDED_MARK + _position(indicator.code))
        taken_out = [mark, *(str(int(x)) for x in scope.excluded_for(indicator.code))]
        sql = sql.replace(mark, ", ".join(taken_out))
    return sql


def _marked_scope() -> Scope:
    return _MarkedScope(SNAPSHOT_MARK, _Marks(), AREA_MARK)  # type: ignore[arg-type]


def compiled(
    dialect: str,
    key: tuple[Any, ...],
    build: Any,
) -> list[str]:
    with _compiled_lock:
        found = _compiled.get((dialect, *key))
    if found is None:
        if dialect == "pyspark":
            _ = ibis.pyspark  # loading the backend registers its compiler's options
        found = [ibis.to_sql(expression, dialect=dialect) for expression in build()]
        with _compiled_lock:
            if len(_compiled) > 500:
                _compiled.clear()
            _compiled[(dialect, *key)] = found
    return found


def _definition_key(indicators: Sequence[Indicator]) -> str:
    import json

    for indicator in indicators:
        _position(indicator.code)
    return json.dumps([i.as_dict() for i in indicators], sort_keys=True)


# ------------------------------------------------------------------ the engines


class Engine(Protocol):
    name: str
    dialect: str

    def run_sql(self, statements: Sequence[str], narrowed: str | None = None) -> list[pa.Table]:
        """The statements' results. NARROWED, when given, is a query of the rows they can
        count, which the engine may run once and hand them instead of the whole table."""
        ...


def facts_table() -> Table:
    """The fact table as every engine names it."""
    return ibis.table(
        {name: IBIS_TYPES[kind] for name, kind in FACT_FIELDS.items()}
        | {"snapshot": "string", "refreshed_seq": "int64"},
        name=TABLE,
    )


Counts = dict[str, dict[str, tuple[int, int]]]


def counts(
    engine: Engine, indicators: Sequence[Indicator], object_type: ObjectType, scope: Scope
) -> Counts:
    """object code → indicator code → (numerator, denominator), on ENGINE."""
    (found,) = counts_many(engine, [(indicators, object_type)], scope)
    return found


def counts_many(
    engine: Engine,
    jobs: Sequence[tuple[Sequence[Indicator], ObjectType]],
    scope: Scope,
) -> list[Counts]:
    """Several sets of counts over one scope in one go (a month's whole assessment), so
    the engine reads the period's rows once."""
    statements: list[str] = []
    shapes: list[int] = []
    everything: list[Indicator] = []
    for indicators, object_type in jobs:
        compiled_job = compiled(
            engine.dialect,
            ("counts", object_type.value, _definition_key(indicators)),
            lambda indicators=indicators, object_type=object_type: count_expressions(
                facts_table(), indicators, object_type, _marked_scope()
            ),
        )
        statements += [_bind(sql, scope, indicators) for sql in compiled_job]
        shapes.append(len(compiled_job))
        everything += indicators
    narrowing = _narrowing(engine, columns_used(jobs))
    tables = engine.run_sql(statements, _bind(narrowing, scope, everything))
    results: list[Counts] = []
    position = 0
    for shape in shapes:
        found: Counts = {}
        for table in tables[position : position + shape]:
            _read_counts(table, found)
        position += shape
        results.append(found)
    return results


def _read_counts(table: pa.Table, found: Counts) -> None:
    data = table.to_pydict()
    columns = [
        (name[:-3], data[name], data[f"{name[:-3]}__d"]) for name in data if name.endswith("__n")
    ]
    for position, code in enumerate(data["object"]):
        mine = found.setdefault(str(code), {})
        for indicator, numerators, denominators in columns:
            mine[indicator] = (
                int(numerators[position] or 0),
                int(denominators[position] or 0),
            )


OBJECT_MARK = "__object__"


def drill(
    engine: Engine,
    indicator: Indicator,
    object_type: ObjectType,
    object_code: str,
    scope: Scope,
    part: str = "denominator",
    limit: int = 500,
) -> list[int]:
    """The numbers of the cases behind one figure, the same expression filtered to one
    object."""
    (sql,) = compiled(
        engine.dialect,
        ("drill", object_type.value, part, limit, _definition_key([indicator])),
        lambda: [
            drill_expression(
                facts_table(), indicator, object_type, OBJECT_MARK, _marked_scope(), part
            ).limit(limit)
        ],
    )
    sql = _bind(sql, scope, [indicator]).replace(_quoted(OBJECT_MARK), _quoted(object_code))
    (table,) = engine.run_sql([sql])
    return [int(x) for x in table.column("case_id").to_pylist()]


def percentiles(
    engine: Engine, keys: Sequence[tuple[ObjectType, str]], scope: Scope
) -> list[pa.Table]:
    """The median and 90th percentile of each step's hours per object, for each (object
    type, key column), reading the period's rows once."""
    statements = []
    for object_type, key in keys:
        (sql,) = compiled(
            engine.dialect,
            ("percentiles", object_type.value, key),
            lambda object_type=object_type, key=key: [
                percentile_expression(facts_table(), object_type, _marked_scope(), key)
            ],
        )
        statements.append(_bind(sql, scope, []))
    wanted = {*BASE_COLUMNS, *(key for _, key in keys), *(f"{s}_hours" for s in STEPS)}
    narrowing = _narrowing(engine, [n for n in FACT_SCHEMA.names if n in wanted])
    return engine.run_sql(statements, _bind(narrowing, scope, []))


class _FileLock:
    """Readers share, the writer has it alone: DuckDB lets one process write a file, and
    several server processes read it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.local = threading.RLock()

    @contextlib.contextmanager
    def hold(self, exclusive: bool) -> Iterator[None]:
        with self.local:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)


_locks: dict[Path, _FileLock] = {}
_locks_guard = threading.Lock()


def _lock_for(path: Path) -> _FileLock:
    with _locks_guard:
        return _locks.setdefault(path, _FileLock(path.with_suffix(".lock")))


def duckdb_table_sql() -> str:
    columns = ", ".join(
        f'"{name}" {_DUCK_TYPES[kind]}'
        for name, kind in [
            ("snapshot", Kind.TEXT),
            *FACT_FIELDS.items(),
            ("refreshed_seq", Kind.INT),
        ]
    )
    return f"CREATE TABLE IF NOT EXISTS {TABLE} ({columns})"


_DUCK_TYPES = {Kind.TEXT: "VARCHAR", Kind.INT: "BIGINT", Kind.BOOL: "BOOLEAN", Kind.FLOAT: "DOUBLE"}


class DuckDBEngine:
    """DuckDB over the columnar snapshot at PATH (None: an in-memory database, for tests
    and the benchmark, filled with `load`)."""

    name = "duckdb"

    def __init__(self, path: Path | None = None, threads: int | None = None) -> None:
        import duckdb

        self.path = path
        self.threads = threads
        self._memory = duckdb.connect() if path is None else None
        if self._memory is not None:
            self._memory.execute(duckdb_table_sql())
            self._configure(self._memory)

    def _configure(self, connection: Any) -> None:
        if self.threads:
            connection.execute(f"SET threads = {int(self.threads)}")

    @contextlib.contextmanager
    def connection(self, *, write: bool = False) -> Iterator[Any]:
        import duckdb

        if self._memory is not None:
            yield self._memory
            return
        assert self.path is not None
        with _lock_for(self.path).hold(exclusive=write or not self.path.exists()):
            connection = duckdb.connect(str(self.path), read_only=not write and self.path.exists())
            try:
                if write:
                    connection.execute(duckdb_table_sql())
                    connection.execute(
                        "CREATE TABLE IF NOT EXISTS assess_snapshot_state "
                        "(generation VARCHAR, seq BIGINT)"
                    )
                self._configure(connection)
                yield connection
            finally:
                connection.close()

    def load(self, table: pa.Table) -> None:
        with self.connection(write=True) as connection:
            connection.register("incoming", table)
            connection.execute(f"INSERT INTO {TABLE} SELECT * FROM incoming")
            connection.unregister("incoming")

    dialect = "duckdb"

    def run_sql(self, statements: Sequence[str], narrowed: str | None = None) -> list[pa.Table]:
        # NARROWED is not used: DuckDB skips what a statement does not need faster than it
        # copies the period's rows aside (measured with bench/assess.py).
        if self.path is not None and not self.path.exists():
            with self.connection(write=True):
                pass
        with self.connection() as connection:
            return [connection.sql(sql).to_arrow_table() for sql in statements]

    # -- keeping the snapshot up to date

    def state(self) -> tuple[str | None, int]:
        if self.path is not None and not self.path.exists():
            return None, 0
        with self.connection(write=self._memory is None) as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS assess_snapshot_state (generation VARCHAR, seq BIGINT)"
            )
            rows = connection.execute(
                "SELECT generation, seq FROM assess_snapshot_state"
            ).fetchall()
            row = rows[0] if rows else None
        return (row[0], int(row[1])) if row else (None, 0)

    def apply(self, generation: str, seq: int, rows: pa.Table, *, reset: bool) -> None:
        """Replace the changed rows (by snapshot and case) and remember how far it is."""
        with self.connection(write=True) as connection:
            connection.execute(
                "CREATE TABLE IF NOT EXISTS assess_snapshot_state (generation VARCHAR, seq BIGINT)"
            )
            connection.execute("BEGIN")
            if reset:
                connection.execute(f"DELETE FROM {TABLE}")
            if rows.num_rows:
                connection.register("incoming", rows)
                connection.execute(
                    f"DELETE FROM {TABLE} t USING "
                    "(SELECT DISTINCT snapshot, case_id FROM incoming) i "
                    "WHERE t.snapshot = i.snapshot AND t.case_id = i.case_id"
                )
                connection.execute(f"INSERT INTO {TABLE} SELECT * FROM incoming")
                connection.unregister("incoming")
            connection.execute("DELETE FROM assess_snapshot_state")
            connection.execute("INSERT INTO assess_snapshot_state VALUES (?, ?)", [generation, seq])
            connection.execute("COMMIT")


class PostgresEngine:
    """PostgreSQL over the live fact table in the platform's own database."""

    name = "postgres"

    def __init__(self, url: str) -> None:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        self.params: dict[str, Any] = {
            "host": parsed.host or "localhost",
            "port": parsed.port or 5432,
            "user": parsed.username,
            "password": parsed.password,
            "database": parsed.database,
        }

    dialect = "postgres"

    def run_sql(self, statements: Sequence[str], narrowed: str | None = None) -> list[pa.Table]:
        import psycopg
        from psycopg.conninfo import make_conninfo

        found = []
        params = {k: v for k, v in self.params.items() if v is not None}
        params["dbname"] = params.pop("database")
        with psycopg.connect(make_conninfo(**params)) as connection, connection.cursor() as cursor:
            if narrowed is not None and len(statements) > 1:
                # The period's rows in a temporary table of the same name, which this
                # session's statements then read (pg_temp comes first in the search path).
                cursor.execute(f"CREATE TEMP TABLE {TABLE} ON COMMIT DROP AS {narrowed}")
                cursor.execute(f"ANALYZE {TABLE}")
            for sql in statements:
                cursor.execute(sql)
                names = [d.name for d in cursor.description or []]
                rows = cursor.fetchall()
                found.append(pa.table({n: [r[i] for r in rows] for i, n in enumerate(names)}))
        return found


class SparkEngine:
    """Spark over Parquet files of the facts (`civicgrid assess export --out DIR`), in
    local mode unless the session given runs on a cluster."""

    name = "spark"

    def __init__(self, parquet: str | Path, session: Any = None) -> None:
        self.parquet = str(parquet)
        self.session = session
        self._backend: Any = None

    dialect = "pyspark"

    def backend(self) -> Any:
        """The Spark session, with the Parquet files as the fact table."""
        if self._backend is None:
            if self.session is None:
                from pyspark.sql import SparkSession

                self.session = (
                    SparkSession.builder.master("local[2]")
                    .appName("civicgrid-assess")
                    .config("spark.ui.enabled", "false")
                    .config("spark.sql.shuffle.partitions", "8")
                    .config("spark.sql.session.timeZone", "UTC")
                    .getOrCreate()
                )
            self.session.read.parquet(self.parquet).createOrReplaceTempView(TABLE)
            self._backend = self.session
        return self._backend

    def run_sql(self, statements: Sequence[str], narrowed: str | None = None) -> list[pa.Table]:
        session = self.backend()
        if narrowed is None or len(statements) < 2:
            return [session.sql(sql).toArrow() for sql in statements]
        # The period's rows, cached, stand in for the fact table while the statements run.
        rows = session.sql(narrowed).cache()
        rows.createOrReplaceTempView(TABLE)
        try:
            return [session.sql(sql).toArrow() for sql in statements]
        finally:
            rows.unpersist()
            session.read.parquet(self.parquet).createOrReplaceTempView(TABLE)
