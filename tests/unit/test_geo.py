import numpy as np
from shapely.geometry import box

from civicgrid.areas.geo import area_km2, gcj02_to_wgs84, wgs84_to_gcj02


def test_gcj02_round_trip_is_within_a_centimetre() -> None:
    wgs = np.array([[116.397, 39.909], [104.066, 30.657], [121.47, 31.23]])
    back = gcj02_to_wgs84(wgs84_to_gcj02(wgs))
    assert np.abs(back - wgs).max() < 1e-7


def test_gcj02_shifts_points_in_china_by_hundreds_of_metres() -> None:
    shifted = wgs84_to_gcj02(np.array([[116.397, 39.909]]))
    assert 0.001 < abs(shifted[0, 0] - 116.397) < 0.01


def test_points_outside_china_are_not_shifted() -> None:
    nyc = np.array([[-73.98, 40.75]])
    assert np.array_equal(wgs84_to_gcj02(nyc), nyc)


def test_area_of_a_tenth_of_a_degree_square_at_the_equator_is_about_124_km2() -> None:
    assert abs(area_km2(box(0, 0, 0.1, 0.1)) - 123.9) < 0.5
