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


def _all(t: Table, conditions: Sequence[Condition]) -> BooleanValue:
    found: BooleanValue = ibis.literal(True)
    for c in conditions:
        found = found & _condition(t, c).fill_null(False)
    return found


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


def count_expressions(
    facts: Table, indicators: Sequence[Indicator], object_type: ObjectType, scope: Scope
) -> list[Table]:
    """One grouped query per key column the indicators use for OBJECT_TYPE: columns
    object, <code>__n and <code>__d (integers) for each indicator."""
    t = _base(facts, scope)
    window = scope.window
    relevant = (
        ((t.reported_ts >= window.start_ts) & (t.reported_ts < window.end_ts))
        | ((t.closed_ts >= window.start_ts) & (t.closed_ts < window.end_ts)).fill_null(False)
        | (t.is_open & (t.reported_ts < window.end_ts))
    )
    t = t.filter(relevant)
    by_key: dict[str, list[Indicator]] = {}
    for indicator in indicators:
        by_key.setdefault(indicator.key_for(object_type), []).append(indicator)
    queries = []
    for key, group in by_key.items():
        keyed = t.filter(t[key].notnull())
        metrics: dict[str, Any] = {}
        for indicator in group:
            metrics[f"{indicator.code}__d"] = (
                denominator(keyed, indicator, scope).ifelse(1, 0).sum().cast("int64")
            )
            metrics[f"{indicator.code}__n"] = (
                numerator(keyed, indicator, scope).ifelse(1, 0).sum().cast("int64")
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
        metrics[f"{step}_p50"] = column.approx_median()
        metrics[f"{step}_p90"] = column.quantile(0.9)
    return t.group_by(object=t[key]).aggregate(**metrics)


# ------------------------------------------------------------------ the engines


class Engine(Protocol):
    name: str

    def run(self, expressions: Sequence[Table]) -> list[pa.Table]: ...

    def facts(self) -> Table: ...


Counts = dict[str, dict[str, tuple[int, int]]]


def counts(
    engine: Engine, indicators: Sequence[Indicator], object_type: ObjectType, scope: Scope
) -> Counts:
    """object code → indicator code → (numerator, denominator), on ENGINE."""
    queries = count_expressions(engine.facts(), indicators, object_type, scope)
    found: Counts = {}
    for table in engine.run(queries):
        data = table.to_pydict()
        names = [n for n in data if n != "object"]
        for position, code in enumerate(data["object"]):
            mine = found.setdefault(str(code), {})
            for name in names:
                if name.endswith("__n"):
                    indicator = name[:-3]
                    mine[indicator] = (
                        int(data[name][position] or 0),
                        int(data[f"{indicator}__d"][position] or 0),
                    )
    return found


def drill(
    engine: Engine,
    indicator: Indicator,
    object_type: ObjectType,
    object_code: str,
    scope: Scope,
    part: str = "denominator",
    limit: int = 500,
) -> list[int]:
    expression = drill_expression(
        engine.facts(), indicator, object_type, object_code, scope, part
    ).limit(limit)
    (table,) = engine.run([expression])
    return [int(x) for x in table.column("case_id").to_pylist()]


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

    def facts(self) -> Table:
        return ibis.table(
            {name: IBIS_TYPES[kind] for name, kind in FACT_FIELDS.items()}
            | {"snapshot": "string", "refreshed_seq": "int64"},
            name=TABLE,
        )

    def run(self, expressions: Sequence[Table]) -> list[pa.Table]:
        if self.path is not None and not self.path.exists():
            with self.connection(write=True):
                pass
        statements = [ibis.to_sql(expression, dialect="duckdb") for expression in expressions]
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
        self.params = {
            "host": parsed.host or "localhost",
            "port": parsed.port or 5432,
            "user": parsed.username,
            "password": parsed.password,
            "database": parsed.database,
        }
        self._backend: Any = None
        self._lock = threading.Lock()

    def backend(self) -> Any:
        with self._lock:
            if self._backend is None:
                self._backend = ibis.postgres.connect(
                    **{k: v for k, v in self.params.items() if v is not None}
                )
            return self._backend

    def facts(self) -> Table:
        return self.backend().table(TABLE)

    def run(self, expressions: Sequence[Table]) -> list[pa.Table]:
        backend = self.backend()
        return [backend.to_pyarrow(expression) for expression in expressions]


class SparkEngine:
    """Spark over Parquet files of the facts (`civicgrid assess export`), in local mode
    unless the session given runs on a cluster."""

    name = "spark"

    def __init__(self, parquet: str | Path, session: Any = None) -> None:
        self.parquet = str(parquet)
        self.session = session
        self._backend: Any = None

    def backend(self) -> Any:
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
            self._backend = ibis.pyspark.connect(self.session)
            self._backend.read_parquet(self.parquet, table_name=TABLE)
        return self._backend

    def facts(self) -> Table:
        return self.backend().table(TABLE)

    def run(self, expressions: Sequence[Table]) -> list[pa.Table]:
        backend = self.backend()
        return [backend.to_pyarrow(expression) for expression in expressions]
