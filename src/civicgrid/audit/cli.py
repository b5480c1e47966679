"""`civicgrid audit …`: check the whole log, sign a checkpoint now, print the log's key, and
run another unit's independent witness."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from civicgrid.audit import services
from civicgrid.audit.notes import Signer
from civicgrid.audit.witness import (
    DatabaseLog,
    HttpLog,
    LogClient,
    LogUnavailable,
    WitnessRefusal,
    read_state,
    witness_key,
    witness_once,
)
from civicgrid.console import DbOption, err, friendly_errors, locale, out, platform
from civicgrid.core.db import UnitOfWork
from civicgrid.core.errors import CivicGridError
from civicgrid.core.i18n import Locale, translate
from civicgrid.core.jobs import exclusive
from civicgrid.core.permissions import SYSTEM

audit_cli = typer.Typer(
    help="The verifiable audit log: check it, sign a checkpoint, witness it.",
    no_args_is_help=True,
)


@audit_cli.command("verify")
def verify_command(db: DbOption = None) -> None:
    """Recompute the tree from every entry and check the stored nodes, every signed
    checkpoint and every cosignature; name the first entry altered, missing or moved.
    Exit status 1 when anything is wrong."""
    lang = locale()
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        report = services.verify_log(uow, SYSTEM, built.audit)
    for problem in report.problems:
        err.print(f"[red]{problem.message(lang)}[/red]", soft_wrap=True)
    summary = {
        "entries": report.entries,
        "size": report.size,
        "pending": report.pending,
        "checkpoints": report.checkpoints,
        "cosignatures": report.cosignatures,
        "seconds": f"{report.seconds:.2f}",
    }
    if report.ok:
        out.print(translate("audit_verify_ok", lang, summary))
        return
    first = report.first_entry
    if first is not None:
        err.print(translate("audit_verify_first", lang, {"index": first}))
    err.print(translate("audit_verify_failed", lang, {**summary, "count": len(report.problems)}))
    raise typer.Exit(1)


@audit_cli.command("checkpoint")
def checkpoint_command(db: DbOption = None) -> None:
    """Place the waiting entries in the tree and sign a checkpoint now (what the server's
    job `audit.checkpoint` does every few seconds; for cron where it is off)."""
    lang = locale()
    with friendly_errors(), platform(db) as built:
        with exclusive(built.engine, services.CHECKPOINT_JOB) as held:
            if not held:
                err.print(translate("audit_checkpoint_busy", lang))
                raise typer.Exit(1)
            with UnitOfWork(built.session_factory) as uow:
                done = services.checkpoint_now(uow, SYSTEM, built.audit)
        if done.checkpoint is None:
            out.print(translate("audit_checkpoint_unchanged", lang, {"size": done.new}))
            return
        out.print(done.checkpoint.note, end="")


@audit_cli.command("key")
def key_command(db: DbOption = None) -> None:
    """Print the log's public key (what a witness and anyone checking the log need)."""
    with friendly_errors(), platform(db) as built, UnitOfWork(built.session_factory) as uow:
        out.print(services.log_key(uow, SYSTEM, built.audit))


KeyOption = Annotated[
    Path, typer.Option("--key", help="the witness's private key file (made on first use)")
]
NameOption = Annotated[
    str | None,
    typer.Option(help="the witness's name when its key is made (default: this machine's)"),
]


@audit_cli.command("witness-key")
def witness_key_command(key: KeyOption, name: NameOption = None) -> None:
    """Print the witness's public key, making the key on first use: the platform lists it
    in CIVICGRID_AUDIT_WITNESSES to keep this witness's cosignatures."""
    with friendly_errors():
        out.print(witness_key(key, name).verifier.vkey)


@audit_cli.command("witness")
def witness_command(
    key: KeyOption,
    state: Annotated[
        Path, typer.Option("--state", help="what the witness saw last (made on first use)")
    ],
    url: Annotated[
        str | None, typer.Option("--url", help="the platform's address, https://…")
    ] = None,
    db: DbOption = None,
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key",
            help="the log's public key, or a file holding it (default: the one trusted on the"
            " first run)",
        ),
    ] = None,
    name: NameOption = None,
) -> None:
    """Cosign the log's latest checkpoint as an independent witness, after checking its
    signature and that it extends the last checkpoint this witness saw; refuse (exit
    status 1) a forged, replayed or inconsistent one."""
    lang = locale()
    if (url is None) == (db is None):
        err.print(translate("audit_witness_url_or_db", lang))
        raise typer.Exit(2)
    if log_key and Path(log_key).is_file():
        log_key = Path(log_key).read_text(encoding="utf-8").strip()
    with friendly_errors():
        signer = witness_key(key, name)
    if url is not None:
        _witness(HttpLog(url), signer, state, log_key, lang)
        return
    with platform(db) as built:
        _witness(DatabaseLog(built.session_factory, built.audit), signer, state, log_key, lang)


def _witness(
    log: LogClient, signer: Signer, state: Path, log_key: str | None, lang: Locale
) -> None:
    try:
        outcome = witness_once(log, signer, state, log_key)
    except WitnessRefusal as refusal:
        refused = translate("audit_witness_refused", lang)
        err.print(f"[red]{refused}[/red] {refusal.message(lang)}")
        raise typer.Exit(1) from refusal
    except LogUnavailable as problem:
        err.print(f"[red]{problem.message(lang)}[/red]")
        raise typer.Exit(2) from problem
    except CivicGridError as problem:  # the log refused the cosignature
        err.print(f"[red]{problem.message(lang)}[/red]")
        raise typer.Exit(1) from problem
    if outcome.trusted_on_first_use:
        trusted = read_state(state)
        err.print(
            translate("audit_witness_first_use", lang, {"key": trusted.log_key if trusted else ""})
        )
    params = {"size": outcome.checkpoint.size, "previous": outcome.previous or 0}
    out.print(translate("audit_witness_cosigned", lang, params))
    out.print(outcome.note, end="")
