"""The `civicgrid` command: serve, demo, and each domain's commands."""

from __future__ import annotations

from typing import Annotated

import typer

from civicgrid import __version__
from civicgrid.accounts.cli import apikey_cli, user_cli
from civicgrid.areas.cli import areas_cli, departments_cli
from civicgrid.assess.cli import assess_cli
from civicgrid.audit.cli import audit_cli
from civicgrid.bootstrap import build_platform
from civicgrid.cases.cli import cases_cli, categories_cli, rules_cli
from civicgrid.console import DbOption, err, load_settings, out, platform, use_platform_builder
from civicgrid.core.migrate import schema_differences
from civicgrid.demo.cli import demo_command
from civicgrid.exchange.cli import exchange_cli
from civicgrid.insight.cli import insight_cli
from civicgrid.open311.cli import open311_cli
from civicgrid.registry.cli import registry_cli
from civicgrid.registry.import_cli import import_command as registry_import
from civicgrid.registry.map_cli import map_command as registry_map
from civicgrid.system.cli import outbox_cli

# The one place the command line learns how the domains are wired together.
use_platform_builder(build_platform)

app = typer.Typer(
    help="CivicGrid — 城市基层社会治理平台 (urban grassroots governance platform).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_cli = typer.Typer(help="Database schema.")

app.add_typer(areas_cli, name="areas")
app.add_typer(departments_cli, name="departments")
app.add_typer(user_cli, name="user")
app.add_typer(apikey_cli, name="apikey")
app.add_typer(categories_cli, name="categories")
app.add_typer(rules_cli, name="rules")
app.add_typer(cases_cli, name="cases")
app.add_typer(open311_cli, name="open311")
app.add_typer(insight_cli, name="insight")
registry_cli.command("import")(registry_import)
registry_cli.command("map")(registry_map)
app.add_typer(registry_cli, name="registry")
app.add_typer(exchange_cli, name="exchange")
app.add_typer(outbox_cli, name="outbox")
app.add_typer(assess_cli, name="assess")
app.add_typer(audit_cli, name="audit")
app.add_typer(db_cli, name="db")
app.command("demo")(demo_command)


@app.command()
def serve(
    db: DbOption = None,
    port: Annotated[int | None, typer.Option(help="port (default $CIVICGRID_PORT or 8000)")] = None,
    host: Annotated[str | None, typer.Option(help="address (default 127.0.0.1)")] = None,
    workers: Annotated[int, typer.Option(help="server processes (one per core)")] = 1,
    access_log: Annotated[bool, typer.Option(help="log every request")] = True,
) -> None:
    """Serve the web pages and the API, after bringing the database schema up to date."""
    import logging
    import os

    import uvicorn

    from civicgrid.app import create_served_app
    from civicgrid.serving import APP_FACTORY, can_pass_sockets, serve_processes

    settings = load_settings()
    bind_host, bind_port = host or settings.host, port or settings.port
    # CivicGrid's own log (answers handed to the notifier, scheduler runs) on the console.
    logging.basicConfig(format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("civicgrid").setLevel(logging.INFO)
    with platform(db, migrate=True) as built:
        url = built.engine.url.render_as_string(hide_password=True)
        out.print(f"CivicGrid {__version__} on http://{bind_host}:{bind_port}  (database: {url})")
        if workers <= 1:
            uvicorn.run(
                create_served_app(built),
                host=bind_host,
                port=bind_port,
                access_log=access_log,
                log_level="info",
                proxy_headers=False,  # the app decides (CIVICGRID_TRUSTED_PROXIES)
            )
            return
        # Worker processes build their own platform from the environment.
        os.environ["CIVICGRID_DATABASE_URL"] = built.settings.database_url
    if can_pass_sockets():
        serve_processes(bind_host, bind_port, workers, access_log)
        return
    uvicorn.run(
        APP_FACTORY,
        factory=True,
        workers=workers,
        host=bind_host,
        port=bind_port,
        access_log=access_log,
        log_level="warning",
        proxy_headers=False,
    )


@app.command()
def worker(
    db: DbOption = None,
    once: Annotated[
        bool, typer.Option(help="run whatever is due once and exit (for cron)")
    ] = False,
) -> None:
    """Run the periodic jobs (deadlines, escalation, messages, retraining, warnings) in
    this process until SIGTERM or Ctrl-C, for servers run with CIVICGRID_EMBEDDED_WORKER=false."""
    import logging

    from civicgrid.worker import run_once, run_until_stopped

    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("civicgrid").setLevel(logging.INFO)
    with platform(db, migrate=True) as built:
        if once:
            if not run_once(built):
                raise typer.Exit(1)
            return
        if built.settings.scheduler_interval_seconds <= 0:
            err.print(
                "[red]定时任务已关闭 The scheduler is off:[/red] "
                "set CIVICGRID_SCHEDULER_INTERVAL_SECONDS above 0, or run `worker --once` from cron"
            )
            raise typer.Exit(2)
        run_until_stopped(built)


@db_cli.command("upgrade")
def upgrade_command(db: DbOption = None) -> None:
    """Create the database or bring it to the newest schema."""
    with platform(db, migrate=True) as built:
        out.print(f"schema is current: {built.engine.url.render_as_string(hide_password=True)}")


@db_cli.command("check")
def check_command(db: DbOption = None) -> None:
    """Fail when the models and the migrations disagree."""
    with platform(db, migrate=True) as built:
        differences = schema_differences(built.engine)
    if differences:
        for difference in differences:
            err.print(str(difference))
        raise typer.Exit(1)
    out.print("models and migrations agree")


@db_cli.command("revision")
def revision_command(
    message: Annotated[str, typer.Option("-m", "--message", help="what the change is")],
    db: DbOption = None,
) -> None:
    """Write a new migration from the difference between the models and the database."""
    from alembic import command

    from civicgrid.core.migrate import MIGRATIONS_DIR, alembic_config

    # Revisions are numbered 0001, 0002, … so their order reads off the file names.
    number = len(list((MIGRATIONS_DIR / "versions").glob("[0-9][0-9][0-9][0-9]_*.py"))) + 1
    with platform(db, migrate=True) as built:
        url = built.engine.url.render_as_string(hide_password=False)
        command.revision(
            alembic_config(url), message=message, autogenerate=True, rev_id=f"{number:04d}"
        )


@app.callback(invoke_without_command=True)
def version(
    show: Annotated[bool, typer.Option("--version", help="print the version and exit")] = False,
) -> None:
    if show:
        out.print(__version__)
        raise typer.Exit()


def main() -> None:
    app()
