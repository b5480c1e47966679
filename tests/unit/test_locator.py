import numpy as np
from shapely.geometry import box

from civicgrid.areas.locator import GridEntry, Locator


def two_grids() -> Locator:
    return Locator(
        [
            GridEntry("G2", "/C/G2/", box(1, 0, 2, 1)),
            GridEntry("G1", "/C/G1/", box(0, 0, 1, 1)),
        ]
    )


def test_a_point_inside_falls_in_exactly_one_grid() -> None:
    assert two_grids().locate(0.5, 0.5) == ("G1", "/C/G1/")
    assert two_grids().locate(1.5, 0.5) == ("G2", "/C/G2/")


def test_a_point_on_a_shared_edge_goes_to_the_smaller_code() -> None:
    assert two_grids().locate(1.0, 0.5) == ("G1", "/C/G1/")


def test_a_point_outside_every_grid_is_not_located() -> None:
    assert two_grids().locate(5, 5) is None


def test_batch_locating_agrees_with_single_points() -> None:
    locator = two_grids()
    rng = np.random.default_rng(0)
    lons, lats = rng.uniform(-0.5, 2.5, 500), rng.uniform(-0.5, 1.5, 500)
    indices = locator.locate_indices(lons, lats)
    for lon, lat, index in zip(lons, lats, indices, strict=True):
        single = locator.locate(lon, lat)
        assert (single[0] if single else None) == (locator.codes[index] if index >= 0 else None)


def test_an_empty_locator_locates_nothing() -> None:
    assert Locator([]).locate(0, 0) is None
