"""Point → grid throughput of the in-memory locator against 10,000 grid polygons on one core.

    .venv/bin/python bench/locate.py [--grids 10000] [--points 1000000]

Prints points/s for batch locating (the target is at least 200,000/s) and the p99 latency of
locating single points (what one API request pays).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import shapely

from civicgrid.areas.locator import GridEntry, Locator
from civicgrid.areas.tiling import blob, tile


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=int, default=10_000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    city = blob((104.06, 30.66), 0.3, rng)
    cells = tile(city, args.grids, rng, relax=1)
    entries = [GridEntry(f"G{i:06d}", f"/C/G{i:06d}/", cell) for i, cell in enumerate(cells)]
    build_started = time.perf_counter()
    locator = Locator(entries)
    build_seconds = time.perf_counter() - build_started
    vertices = int(shapely.get_num_coordinates(np.array(cells, dtype=object)).sum())
    print(
        f"grids: {len(locator):,} ({vertices:,} vertices), generated in "
        f"{build_started - started:.1f} s, index built in {build_seconds * 1000:.0f} ms"
    )

    min_lon, min_lat, max_lon, max_lat = locator.bounds
    lons = rng.uniform(min_lon, max_lon, args.points)
    lats = rng.uniform(min_lat, max_lat, args.points)

    locator.locate_indices(lons[:1000], lats[:1000])  # warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        found = locator.locate_indices(lons, lats)
        best = min(best, time.perf_counter() - t0)
    inside = int((found >= 0).sum())
    print(
        f"batch: {args.points:,} points in {best:.3f} s = {args.points / best:,.0f} points/s "
        f"on one core ({inside / args.points:.1%} inside a grid)"
    )

    samples = 20_000
    timings = np.empty(samples)
    for i in range(samples):
        t0 = time.perf_counter()
        locator.locate(float(lons[i]), float(lats[i]))
        timings[i] = time.perf_counter() - t0
    print(
        f"single point: p50 {np.percentile(timings, 50) * 1e6:.0f} µs, "
        f"p99 {np.percentile(timings, 99) * 1e6:.0f} µs"
    )


if __name__ == "__main__":
    main()
