"""`civicgrid assess …`: keep the facts, rank, freeze a month, decide appeals, write the
monthly report, check the alerts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from civicgrid.assess import services
from civicgrid.assess.domain import current_month
from civicgrid.assess.reports import MONTH_STATES
from civicgrid.console import DbOption, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.i18n import translate
from civicgrid.core.jobs import exclusive
from civicgrid.core.permissions import SYSTEM

assess_cli = typer.Typer(
    help="Assessment (考核): facts, rankings, frozen months, appeals, reports, alerts.",
    no_args_is_help=True,
)
appeals_cli = typer.Typer(help="Appeals (申诉) against a case's counting.", no_args_is_help=True)
assess_cli.add_typer(appeals_cli, name="appeals")

MonthOption = Annotated[str | None, typer.Option("--month", help="YYYY-MM (default: this month)")]


@assess_cli.command("refresh")
def refresh(
    db: DbOption = None,
    rebuild: Annotated[bool, typer.Option(help="derive every case's facts again")] = False,
) -> None:
    """Bring the fact table and its columnar snapshot up to date with the timelines (what
    the server does every CIVICGRID_ASSESS_REFRESH_SECONDS)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        with exclusive(built.engine, "assess.facts") as mine:
            if not mine:
                out.print("assess.facts is running elsewhere; try again in a moment")
                return
            report = services.refresh_facts(uow, SYSTEM, built.assess, rebuild=rebuild)
        out.print(str(report) or "facts are up to date")


@assess_cli.command("rankings")
def rankings(
    db: DbOption = None,
    month: MonthOption = None,
    scheme: Annotated[str, typer.Option(help="a scheme's code")] = "department",
    limit: Annotated[int, typer.Option(help="rows to print")] = 30,
) -> None:
    """Print a scheme's ranking of a month: rank, trend, object, score, grade, figures."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        ports = built.assess
        chosen = month or current_month(ports.clock(), ports.timezone)
        ranking = services.rankings(uow, SYSTEM, ports, chosen, scheme)
    state = translate(MONTH_STATES[ranking.state.value], lang)
    table = Table(
        title=f"{ranking.scheme.name(lang)} · {ranking.month} · {state} · "
        f"v{ranking.version} · r{ranking.revision}"
    )
    for heading in ("#", "", "code", "object", "score", "grade"):
        table.add_column(heading)
    for item in ranking.scheme.items:
        table.add_column(ranking.indicators[item.indicator].name(lang))
    marks = {"up": "↑", "down": "↓", "same": "→", "new": "·"}
    for row in ranking.rows[:limit]:
        cells = [str(row.rank), marks[row.trend], row.object_code, ranking.name_of(row.object_code)]
        cells += [f"{row.score:.1f}", row.grade]
        for item in ranking.scheme.items:
            f = row.figures[item.indicator]
            rate = "—" if f.rate is None else f"{f.rate * 100:.1f}%"
            cells.append(f"{rate} ({f.numerator}/{f.denominator})")
        table.add_row(*cells)
    out.print(table)


@assess_cli.command("freeze")
def freeze(
    month: Annotated[str, typer.Option("--month", help="YYYY-MM, a month that has ended")],
    db: DbOption = None,
) -> None:
    """Freeze a month: its facts as of its end, every scheme computed and stored, the
    appeal window opened."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        record = services.freeze_month(uow, SYSTEM, built.assess, month)
    out.print(
        f"{record.month} frozen: rulebook version {record.version}, revision {record.revision}, "
        f"appeals until {record.appeal_until:%Y-%m-%d %H:%M} UTC"
    )


@assess_cli.command("report")
def report(
    area: Annotated[str, typer.Option("--area", help="the area's code")],
    month: Annotated[str, typer.Option("--month", help="YYYY-MM")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx or pdf")] = "pdf",
    output: Annotated[
        Path | None, typer.Option("--out", help="file to write (default: its own name here)")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write an area's monthly report: Excel with a sheet and a chart per scheme, or PDF
    with the filters on every page, charts and the rankings, in an embedded CJK font."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        made = services.monthly_report(uow, SYSTEM, built.assess, area, month, fmt, lang)
    target = output or Path(made.filename)
    target.write_bytes(made.content)
    out.print(f"{target} ({len(made.content):,} bytes)")


@assess_cli.command("export")
def export(
    output: Annotated[Path, typer.Option("--out", help="folder for the Parquet files")],
    db: DbOption = None,
) -> None:
    """Write the fact table (live and frozen months) as Parquet, for Spark
    (CIVICGRID_ASSESS_ENGINE=spark, CIVICGRID_ASSESS_SPARK_PARQUET=the folder)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        services.refresh_facts(uow, SYSTEM, built.assess)
        written = services.export_facts(uow, SYSTEM, output)
    out.print(f"{written:,} fact rows written to {output}")


@assess_cli.command("alerts")
def alerts(db: DbOption = None) -> None:
    """Check every threshold alert now and send what crossed its line."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        fired = services.check_alerts(uow, SYSTEM, built.assess)
    out.print(f"{fired} alerts sent")


@appeals_cli.command("list")
def list_appeals(
    db: DbOption = None,
    month: MonthOption = None,
    state: Annotated[str | None, typer.Option(help="filed, accepted or rejected")] = None,
) -> None:
    """Appeals, newest first (tab-separated)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        found = services.list_appeals(uow, SYSTEM, month, state)
        for a in found:
            out.print(
                "\t".join(
                    [
                        str(a.id),
                        a.month,
                        str(a.case_id),
                        f"{a.object_type.value}:{a.object_code}",
                        a.indicator or "*",
                        a.state.value,
                        a.filed_by,
                        a.reason,
                    ]
                )
            )


@appeals_cli.command("decide")
def decide(
    appeal_id: int,
    note: Annotated[str, typer.Option("--note", help="the decision's reason")],
    accept: Annotated[bool, typer.Option("--accept/--reject")] = True,
    db: DbOption = None,
) -> None:
    """Accept (the month is recomputed, the change logged) or reject an appeal."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        outcome = services.decide_appeal(uow, SYSTEM, built.assess, appeal_id, accept, note)
    out.print(
        translate(
            "assess.cli.decided",
            lang,
            {
                "id": appeal_id,
                "state": outcome.appeal.state.value,
                "revision": outcome.revision or "-",
                "changes": len(outcome.changes),
            },
        )
    )
