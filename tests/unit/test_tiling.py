import numpy as np
import pytest
import shapely

from civicgrid.areas.tiling import blob, tile


@pytest.mark.parametrize("pieces", [2, 7, 25])
def test_pieces_cover_the_parent_without_gaps_or_overlaps(pieces: int) -> None:
    rng = np.random.default_rng(1)
    parent = blob((104.0, 30.6), 0.1, rng)
    cells = tile(parent, pieces, rng)
    assert len(cells) == pieces
    total = sum(c.area for c in cells)
    assert total == pytest.approx(parent.area, rel=1e-9)  # no overlaps
    assert shapely.union_all(cells).area == pytest.approx(parent.area, rel=1e-9)  # no gaps
    assert all(c.geom_type in ("Polygon", "MultiPolygon") and c.is_valid for c in cells)


def test_the_same_seed_gives_the_same_tiling() -> None:
    def run() -> list[str]:
        rng = np.random.default_rng(5)
        return [c.wkt for c in tile(blob((0, 0), 1, rng), 5, rng)]

    assert run() == run()
