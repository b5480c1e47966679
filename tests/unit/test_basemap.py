"""The base map's settings and the datum shift: tiles and their hosts only when a city
configures them, a bad template refused at start, the pages' img-src, and WGS-84 ⇄ GCJ-02
against the values the widely used coordtransform library publishes."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from civicgrid.areas.geo import gcj02_to_wgs84, wgs84_to_gcj02
from civicgrid.core.headers import PAGE_POLICY, page_policy
from civicgrid.core.settings import Settings

TIANDITU = "https://t{s}.tianditu.gov.cn/vec_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY"
LABELS = "https://t{s}.tianditu.gov.cn/cva_w/wmts?TILEMATRIX={z}&TILEROW={y}&TILECOL={x}&tk=KEY"


def settings(**values: object) -> Settings:
    return Settings(environment="test", secret_key="x" * 40, **values)  # type: ignore[arg-type]


def test_without_a_base_map_no_host_is_let_in() -> None:
    plain = settings()
    assert plain.basemap_url == "" and plain.basemap_hosts == []
    assert "img-src 'self' data: blob:;" in PAGE_POLICY
    assert page_policy(plain.basemap_hosts) == PAGE_POLICY


def test_tianditu_lets_in_each_of_its_subdomains_once() -> None:
    city = settings(basemap_url=TIANDITU, basemap_overlay_url=LABELS, basemap_subdomains="012")
    assert city.basemap_subdomain_list == ["0", "1", "2"]
    assert city.basemap_hosts == [
        "https://t0.tianditu.gov.cn",
        "https://t1.tianditu.gov.cn",
        "https://t2.tianditu.gov.cn",
    ]
    policy = page_policy(city.basemap_hosts)
    assert "img-src 'self' data: blob: https://t0.tianditu.gov.cn https://t1" in policy
    assert "script-src 'self';" in policy and "connect-src 'self';" in policy


def test_a_city_tile_server_with_named_subdomains_and_a_port() -> None:
    city = settings(
        basemap_url="https://{s}.tiles.gov.example.cn:8443/base/{z}/{x}/{y}.png",
        basemap_subdomains="a, b",
        basemap_crs="gcj02",
    )
    assert city.basemap_hosts == [
        "https://a.tiles.gov.example.cn:8443",
        "https://b.tiles.gov.example.cn:8443",
    ]
    assert city.basemap_crs == "gcj02"


@pytest.mark.parametrize(
    "url",
    [
        "tiles.example.cn/{z}/{x}/{y}.png",  # no scheme
        "https://tiles.example.cn/{z}/{x}.png",  # no {y}
        "javascript:alert(1)//{z}{x}{y}",
    ],
)
def test_a_template_that_is_not_a_tile_url_is_refused(url: str) -> None:
    with pytest.raises(ValidationError, match="CIVICGRID_BASEMAP_URL"):
        settings(basemap_url=url)


def test_an_unknown_datum_is_refused() -> None:
    with pytest.raises(ValidationError):
        settings(basemap_crs="bd09")


# coordtransform (wandergis): wgs84togcj02(116.404, 39.915) = [116.41024449916938,
# 39.916404281501065]; the basemap.js functions are held to the same in the browser test.
def test_wgs84_to_gcj02_matches_the_published_values() -> None:
    shifted = wgs84_to_gcj02(np.array([[116.404, 39.915]]))
    assert shifted[0, 0] == pytest.approx(116.41024449916938, abs=1e-9)
    assert shifted[0, 1] == pytest.approx(39.916404281501065, abs=1e-9)


def test_gcj02_back_to_wgs84_within_a_centimetre() -> None:
    points = np.array([[116.404, 39.915], [104.0665, 30.5728], [121.4737, 31.2304]])
    back = gcj02_to_wgs84(wgs84_to_gcj02(points))
    assert np.abs(back - points).max() < 1e-7  # about a centimetre


def test_outside_china_nothing_moves() -> None:
    london = np.array([[-0.1276, 51.5072]])
    assert (wgs84_to_gcj02(london) == london).all()
