"""`civicgrid registry …`: the registry's commands. `link` works on files; commands that
read and write the registry's tables belong here too."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from civicgrid.console import err, out

if TYPE_CHECKING:
    import pyarrow as pa

registry_cli = typer.Typer(help="一标三实: addresses, houses, people, organisations.")


def read_records(path: Path, source: str | None = None) -> pa.Table:
    """A department's CSV file as a table of strings; SOURCE (default: the file's name)
    fills the `source` column when the file has none."""
    import pyarrow as pa
    import pyarrow.csv as pv

    with path.open(encoding="utf-8-sig", newline="") as handle:
        header = next(csv.reader(handle), [])
    table = pv.read_csv(
        path,
        convert_options=pv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            strings_can_be_null=False,
        ),
    )
    if "source" not in table.column_names:
        table = table.append_column("source", pa.array([source or path.stem] * len(table)))
    return table


@registry_cli.command("link")
def link_command(
    inputs: Annotated[
        list[Path],
        typer.Option(
            "--input",
            help="a department's CSV (source, record_id, name, identity, birth_date, sex, "
            "phone, address); repeat for each file",
            exists=True,
            dir_okay=False,
        ),
    ],
    out_file: Annotated[
        Path, typer.Option("--out", help="where to write source, record_id, entity_id")
    ],
    backend: Annotated[str, typer.Option(help="duckdb, or spark for a bigger city")] = "duckdb",
    truth_col: Annotated[
        str | None,
        typer.Option(help="a column with each record's true entity, to print precision/recall"),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="match probability for a link (default 0.9)")
    ] = None,
    pairs_file: Annotated[
        Path | None, typer.Option("--pairs", help="also write the scored pairs here")
    ] = None,
    entities_file: Annotated[
        Path | None,
        typer.Option(
            "--entities",
            help="also write each entity's believed values and the fields its records disagree on",
        ),
    ] = None,
    one_per_source: Annotated[
        list[str] | None,
        typer.Option(
            help="a source that holds each person once (e.g. public_security): two of its "
            "records are never one entity; repeat for each"
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="seed for the random sample u is estimated on")] = 42,
) -> None:
    """Link people across departments' files into entities, with progress; print pairwise
    precision and recall when a truth column is given."""
    import pyarrow as pa
    import pyarrow.csv as pv
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from civicgrid.registry.linkage import link_people

    if backend not in ("duckdb", "spark"):
        err.print(f"unknown backend {backend!r}: duckdb or spark")
        raise typer.Exit(2)
    tables = [read_records(path) for path in inputs]
    names = [set(t.column_names) for t in tables]
    if truth_col is not None and any(truth_col not in n for n in names):
        err.print(f"not every input has the truth column {truth_col!r}")
        raise typer.Exit(2)
    common = sorted(set.intersection(*names))
    records = pa.concat_tables([t.select(common) for t in tables])
    out.print(f"{len(records):,} records from {len(inputs)} file(s)")

    with Progress(
        TextColumn("{task.description:<10}"), BarColumn(), TimeElapsedColumn(), console=out
    ) as bar:
        task = bar.add_task("linking", total=None)

        def progress(stage: str, done: int, total: int) -> None:
            bar.update(task, description=stage, completed=done, total=total)

        try:
            result = link_people(
                records,
                backend=backend,
                truth_column=truth_col,
                one_per_source=one_per_source or (),
                threshold=threshold,
                seed=seed,
                progress=progress,
            )
        except ValueError as exc:
            err.print(str(exc))
            raise typer.Exit(1) from exc

    pv.write_csv(result.clusters, out_file)
    if pairs_file is not None:
        pv.write_csv(result.pairs, pairs_file)
    if entities_file is not None:
        write_entities(entities_file, records, result.clusters)
    entities = len(set(result.clusters["entity_id"].to_pylist()))
    stages = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items())
    out.print(f"{entities:,} entities, {len(result.pairs):,} linked pairs → {out_file}")
    out.print(f"time: {stages}")
    if result.accuracy is not None:
        accuracy = result.accuracy
        out.print(
            f"precision {accuracy.precision:.4f}  recall {accuracy.recall:.4f}  "
            f"({accuracy.correct_pairs:,} of {accuracy.predicted_pairs:,} predicted pairs "
            f"correct, {accuracy.true_pairs:,} true pairs)"
        )


def write_entities(path: Path, records: pa.Table, clusters: pa.Table) -> None:
    """One row per entity: its records, the value believed per field and where from, and
    the fields its records disagree on."""
    from civicgrid.registry.linkage import PEOPLE, resolve_entities

    fields = [rule.field for rule in PEOPLE.survivorship]
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["entity_id", "records", *fields, *(f"{f}_from" for f in fields), "disagree"]
        )
        for entity, resolved in resolve_entities(records, clusters):
            beliefs = [resolved.values[f] for f in fields]
            writer.writerow(
                [
                    entity,
                    " ".join(f"{source}:{record}" for source, record in resolved.records),
                    *(b.value or "" for b in beliefs),
                    *(b.source or "" for b in beliefs),
                    " ".join(resolved.disagreements),
                ]
            )
