"""Record linkage across three departments' files — people, houses or organisations: time
per stage, total time, peak memory and pairwise precision and recall against the
generator's truth.

    .venv/bin/python bench/linkage.py --people 1000000 --backend duckdb --seed 1
    .venv/bin/python bench/linkage.py --people 100000 --backend spark --seed 1
    .venv/bin/python bench/linkage.py --kind houses --size 100000
    .venv/bin/python bench/linkage.py --kind organisations --size 100000

The files come from civicgrid.registry.synthetic: people in one to three of the public
security, health and grid files (homophone names, mistyped or missing ids, swapped dates,
old phones, addresses written differently, families and twins); flats in the real-estate
register, the housing bureau's and the grid's files (addresses written differently,
mistyped rooms, the owner before a sale, usable or guessed areas, neighbours with the same
floor plan); organisations in market regulation's, tax's and the grid's files (legal forms
written differently or left out, mistyped or missing codes, branches of one company).
Peak memory is the largest resident set of this process and its children together (Spark's
JVM is a child), sampled every 0.2 s. The generator puts each entity in a department's file
at most once, and the linkage is told so (`one_per_source`); --duplicates-within-files
leaves that out.
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time

import psutil
import pyarrow as pa

from civicgrid.registry import synthetic
from civicgrid.registry.linkage import SPECS, link_records

# kind → (generator, the truth column, the departments' files)
KINDS = {
    "people": (synthetic.generate_people, "person_id", synthetic.SOURCES),
    "houses": (synthetic.generate_houses, "house_id", synthetic.HOUSE_SOURCES),
    "organisations": (
        synthetic.generate_organisations,
        "organisation_id",
        synthetic.ORGANISATION_SOURCES,
    ),
}


class PeakMemory:
    """The largest RSS of this process tree, sampled in a background thread."""

    def __init__(self, every: float = 0.2) -> None:
        self.peak = 0
        self._every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = psutil.Process()
        total = me.memory_info().rss
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):  # a child that just ended
                total += child.memory_info().rss
        self.peak = max(self.peak, total)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self._every)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=sorted(KINDS), default="people")
    parser.add_argument(
        "--size", type=int, help="how many people, houses or organisations (default 100,000)"
    )
    parser.add_argument("--people", type=int, help="--size for people (kept for old commands)")
    parser.add_argument("--backend", choices=["duckdb", "spark"], default="duckdb")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--duplicates-within-files",
        action="store_true",
        help="do not tell the linkage that each department's file holds a person once",
    )
    args = parser.parse_args()
    size = args.size or args.people or 100_000
    generate, truth, sources = KINDS[args.kind]

    stage_started = time.perf_counter()

    def progress(stage: str, done: int, total: int) -> None:
        nonlocal stage_started
        now = time.perf_counter()
        print(
            f"  [{done}/{total}] {stage} (previous stage {now - stage_started:.1f} s)", flush=True
        )
        stage_started = now

    with PeakMemory() as memory:
        started = time.perf_counter()
        files = generate(size, seed=args.seed)
        records = pa.concat_tables(files.values())
        generated = time.perf_counter() - started
        sizes = ", ".join(f"{name} {len(table):,}" for name, table in files.items())
        print(f"generated {len(records):,} records ({sizes}) in {generated:.1f} s", flush=True)
        result = link_records(
            records,
            SPECS[args.kind],
            backend=args.backend,
            seed=args.seed,
            truth_column=truth,
            one_per_source=() if args.duplicates_within_files else sources,
            progress=progress,
        )
        total = time.perf_counter() - started
    assert result.accuracy is not None
    one_per_source = "no" if args.duplicates_within_files else "yes"
    print(
        f"{args.kind} {size:,}  records {len(records):,}  backend {args.backend}  "
        f"one record per entity per file: {one_per_source}"
    )
    print(f"  generate  {generated:7.1f} s")
    for stage, seconds in result.timings.items():
        print(f"  {stage:<9} {seconds:7.1f} s")
    linkage = sum(result.timings.values())
    print(f"  linkage   {linkage:7.1f} s  (total with generation {total:.1f} s)")
    print(f"peak memory {memory.peak / 2**20:,.0f} MiB (process tree)")
    accuracy = result.accuracy
    print(
        f"pairwise precision {accuracy.precision:.4f}  recall {accuracy.recall:.4f}  "
        f"({accuracy.correct_pairs:,} correct of {accuracy.predicted_pairs:,} predicted, "
        f"{accuracy.true_pairs:,} true pairs)"
    )


if __name__ == "__main__":
    main()
