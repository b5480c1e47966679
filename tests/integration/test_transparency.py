"""The public transparency page and its data, on SQLite and PostgreSQL: the figures agree with
their definitions, nobody's personal data is ever published, cases about a person sit at
their grid's centre, and wrong filters are named."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from civicgrid.cases.domain import Case, Status, is_about_a_person
from civicgrid.cases.repository import case_reporters, cases, categories
from civicgrid.cases.views import case_event_rows
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.i18n import city_day
from civicgrid.transparency.domain import (
    ClosedCase,
    Period,
    closing_of,
    is_counted,
    parse_period,
    satisfaction_of,
)
from civicgrid.transparency.repository import centre_of
from tests.conftest import City

API = "/api/v1/transparency"

# Reporters of the cases this module adds to the demo city, and what they typed.
ELDERLY = {"name": "欧阳秀英", "phone": "13911112222"}
ROAD = {"name": "司马光明", "phone": "13822223333"}
HIDDEN = {"name": "诸葛明月", "phone": "13733334444"}


def point_in(area: Any) -> dict[str, float]:
    point = area.geometry.representative_point()
    return {"lat": point.y, "lon": point.x}


@pytest.fixture(scope="module")
def published(city: City, city_client: TestClient) -> dict[str, int]:
    """Three cases of our own beside the demo ones: one about a person (elderly care), one
    about a road whose title carries the reporter's name and phone, and one whose reporter
    asked to stay anonymous."""
    grids = [a for a in city.plan.areas if a.level.value == "grid"]
    token = city_client.post(
        "/api/v1/auth/token",
        data={"username": "dispatcher", "password": city.password("dispatcher")},
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}

    def report(category: str, title: str, reporter: dict[str, str], grid: Any) -> int:
        body = {
            "description": f"{title}。具体情况请电话联系 {reporter['phone']}",
            "title": title,
            "category": category,
            "channel": "hotline",
            "reporter": reporter,
            **point_in(grid),
        }
        response = city_client.post("/api/v1/cases", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return int(response.json()["id"])

    found = {
        "elderly": report("SC01", f"独居老人{ELDERLY['name']}无人照看", ELDERLY, grids[4]),
        "road": report(
            "FA01", f"幸福路12号门口塌陷，{ROAD['name']} {ROAD['phone']}", ROAD, grids[7]
        ),
        "hidden": report("CR01", "小区门口垃圾满溢", HIDDEN, grids[9]),
    }
    with UnitOfWork(city.platform.session_factory) as uow:
        uow.session.execute(
            update(cases).where(cases.c.id == found["hidden"]).values(reporter_hidden=True)
        )
        uow.commit()
    city.platform.transparency.cache.clear()
    return found


def fresh(city: City) -> None:
    """Figures are kept a minute; other tests add cases to the same city meanwhile."""
    city.platform.transparency.cache.clear()


def this_year(city: City) -> Period:
    """The default period: the twelve months up to the city's today, in its time zone."""
    tz = city.platform.settings.timezone
    return parse_period(None, None, city_day(utcnow(), tz), tz)


def truth(city: City, period: Period, path: str = "/") -> dict[str, Any]:
    """The figures computed in Python, case by case, by the definitions of the domain."""
    with UnitOfWork(city.platform.session_factory) as uow:
        every = [
            c for c in uow.session.execute(select(Case)).scalars() if c.area_path.startswith(path)
        ]
        late = set(
            uow.session.execute(
                select(case_event_rows.c.case_id).where(case_event_rows.c.action == "overdue")
            ).scalars()
        )
        reported = [
            c for c in every if period.start <= c.created_at < period.end and is_counted(c.status)
        ]
        done = [
            ClosedCase(c.created_at, c.closed_at, c.id in late, c.satisfaction)
            for c in every
            if c.status is Status.CLOSED
            and c.closed_at is not None
            and period.start <= c.closed_at < period.end
        ]
        months: dict[str, int] = {}
        for c in reported:
            key = c.created_at.astimezone(ZoneInfo(period.tz)).strftime("%Y-%m")
            months[key] = months.get(key, 0) + 1
        return {
            "reported": len(reported),
            "open": sum(1 for c in reported if c.is_open),
            "closed": sum(1 for c in reported if c.status is Status.CLOSED),
            "categories": {c.category_code for c in reported},
            "months": months,
            "closing": closing_of(done),
            "satisfaction": satisfaction_of(c.satisfaction for c in done),
        }


def personal_data(city: City) -> list[str]:
    """Every reporter's name, phone and e-mail in the database (the demo's and ours)."""
    with UnitOfWork(city.platform.session_factory) as uow:
        rows = uow.session.execute(
            select(case_reporters.c.name, case_reporters.c.phone, case_reporters.c.email)
        ).all()
    found = {v for row in rows for v in row if v and len(v) >= 2}
    return sorted(found)


def public_outputs(client: TestClient, query: str = "") -> dict[str, str]:
    paths = [
        "/transparency",
        f"{API}/summary",
        f"{API}/summary.csv",
        f"{API}/cases.json",
        f"{API}/cases.csv",
        f"{API}/authority-list.json",
        f"{API}/authority-list.csv",
    ]
    found = {}
    for path in paths:
        response = client.get(path + query)
        assert response.status_code == 200, (path, response.text)
        found[path] = response.text
    return found


# ------------------------------------------------------------------ the figures


def test_the_figures_follow_their_definitions(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    body = city_client.get(f"{API}/summary").json()
    period = this_year(city)
    expected = truth(city, period)
    assert body["period"] == {
        "from": period.first.isoformat(),
        "to": period.last.isoformat(),
        "days": period.days,
    }
    assert (body["reported"], body["open"], body["closed"]) == (
        expected["reported"],
        expected["open"],
        expected["closed"],
    )
    assert expected["reported"] >= 30
    assert sum(g["count"] for g in body["by_group"]) == expected["reported"]
    assert all(sum(c["count"] for c in g["categories"]) == g["count"] for g in body["by_group"])
    shown = {c["code"] for g in body["by_group"] for c in g["categories"]}
    assert shown == expected["categories"]
    assert len(body["by_month"]) == 12
    assert {m["month"]: m["count"] for m in body["by_month"] if m["count"]} == expected["months"]
    assert sum(a["count"] for a in body["by_area"]) == expected["reported"]
    assert {a["level"] for a in body["by_area"]} == {"district"}

    closing, rating = expected["closing"], expected["satisfaction"]
    assert closing.closed > 0 and rating.ratings > 0
    assert body["closing"]["closed"] == closing.closed
    assert body["closing"]["on_time"] == closing.on_time
    assert body["closing"]["on_time_rate"] == pytest.approx(closing.on_time_rate, abs=1e-4)
    assert body["closing"]["median_hours"] == pytest.approx(closing.median_hours, abs=0.01)
    assert body["satisfaction"] == {
        "ratings": rating.ratings,
        "mean": pytest.approx(rating.mean, abs=0.01),
        "satisfied": rating.satisfied,
        "satisfied_share": pytest.approx(rating.satisfied_share, abs=1e-4),
    }
    assert set(body["definitions"]) == {
        "reported",
        "median",
        "on_time",
        "satisfaction",
        "anonymisation",
    }


def test_a_district_is_split_into_its_streets_and_a_street_into_its_communities(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    district = next(a for a in city.plan.areas if a.level.value == "district")
    body = city_client.get(f"{API}/summary", params={"area": district.code}).json()
    assert body["area"] == {"code": district.code, "name": district.name, "level": "district"}
    streets = [a for a in city.plan.areas if a.parent_code == district.code]
    assert [a["code"] for a in body["by_area"]] == sorted(s.code for s in streets)
    period = this_year(city)
    expected = truth(city, period, district.path)
    assert body["reported"] == sum(a["count"] for a in body["by_area"]) == expected["reported"]
    assert body["closing"]["closed"] == expected["closing"].closed

    street = streets[0]
    inner = city_client.get(f"{API}/summary", params={"area": street.code}).json()
    assert {a["level"] for a in inner["by_area"]} == {"community"}
    assert inner["reported"] == sum(a["count"] for a in inner["by_area"])


def test_a_period_without_cases_has_zero_counts_and_no_rates(
    city: City, city_client: TestClient
) -> None:
    body = city_client.get(f"{API}/summary?from=2001-01-01&to=2001-03-31").json()
    assert body["reported"] == 0
    assert [m["month"] for m in body["by_month"]] == ["2001-01", "2001-02", "2001-03"]
    assert body["closing"] == {
        "closed": 0,
        "on_time": 0,
        "on_time_rate": None,
        "median_hours": None,
    }
    assert body["satisfaction"]["mean"] is None


def test_the_summary_is_kept_a_minute_per_filter(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    first = city_client.get(f"{API}/summary").json()
    with UnitOfWork(city.platform.session_factory) as uow:
        uow.session.execute(
            update(cases).where(cases.c.id == published["road"]).values(status=Status.VOIDED)
        )
        uow.commit()
    try:
        assert city_client.get(f"{API}/summary").json()["reported"] == first["reported"]
        fresh(city)
        assert city_client.get(f"{API}/summary").json()["reported"] == first["reported"] - 1
    finally:
        with UnitOfWork(city.platform.session_factory) as uow:
            uow.session.execute(
                update(cases).where(cases.c.id == published["road"]).values(status=Status.REPORTED)
            )
            uow.commit()
        fresh(city)


# ------------------------------------------------------------------ personal data


def test_no_reporter_name_phone_or_words_about_a_person_are_ever_published(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    secrets = personal_data(city)
    assert ELDERLY["name"] in secrets and ROAD["phone"] in secrets
    with UnitOfWork(city.platform.session_factory) as uow:
        groups = dict(
            uow.session.execute(select(categories.c.code, categories.c.parent_code)).all()
        )
        vocabulary = " ".join(n for (n,) in uow.session.execute(select(categories.c.name)))
        rows = uow.session.execute(
            select(
                cases.c.description, cases.c.title, cases.c.category_code, cases.c.reporter_hidden
            )
        ).all()

    def is_protected(code: str, anonymous: bool) -> bool:
        return anonymous or is_about_a_person(code, groups[code])

    protected = [(d, t) for d, t, code, anonymous in rows if is_protected(code, anonymous)]
    # The same words may also be a public case's title (tests report the same text twice).
    public_titles = " ".join(
        t for _, t, code, anonymous in rows if not is_protected(code, anonymous)
    )
    # Never published: a description longer than its title (a title alone may be a short
    # description); any words of a case about a person or of an anonymous reporter.
    unpublished = [d for d, t, _, _ in rows if len(d) > len(t)]
    unpublished += [w for pair in protected for w in pair if len(w) >= 6 and w not in public_titles]
    assert any(ELDERLY["name"] in w for w in unpublished)
    district = next(a for a in city.plan.areas if a.level.value == "district")
    outputs = public_outputs(city_client) | {
        k + "?area": v for k, v in public_outputs(city_client, f"?area={district.code}").items()
    }
    public_names = " ".join(a.name for a in city.plan.areas) + vocabulary
    for where, text in outputs.items():
        for secret in secrets:
            if secret in public_names:
                continue  # a common name that is also part of a place's name
            assert secret not in text, f"{secret!r} published in {where}"
        for words in unpublished:
            assert words not in text, f"{words!r} published in {where}"


def test_the_road_case_shows_a_rounded_point_and_a_cleaned_title(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    items = {c["id"]: c for c in city_client.get(f"{API}/cases.json").json()["items"]}
    road = items[published["road"]]
    assert (road["precision"], road["protected"]) == ("point", False)
    assert road["title"].startswith("幸福路")
    assert "12号" not in road["title"] and ROAD["name"] not in road["title"]
    for value in (road["lat"], road["lon"]):
        assert round(value, 3) == value


def test_cases_about_a_person_or_anonymous_reporters_sit_at_their_grid_centre(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    listing = city_client.get(f"{API}/cases.json").json()
    items = {c["id"]: c for c in listing["items"]}
    for key in ("elderly", "hidden"):
        item = items[published[key]]
        assert (item["precision"], item["protected"], item["title"]) == ("grid", True, "")
    protected = [c for c in listing["items"] if c["protected"]]
    assert len(protected) >= 2
    for item in protected:
        grid = city.area(item["grid"])
        assert (item["lat"], item["lon"]) == centre_of(grid)
        assert item["precision"] == "grid" and item["title"] == ""
    for item in listing["items"]:
        if item["category"].startswith("SC") or item["category"] in ("PS03", "HS03"):
            assert item["protected"]


def test_the_page_shows_the_figures_the_map_and_the_authority_list_in_chinese(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    page = city_client.get("/transparency")
    assert page.status_code == 200
    text = page.text
    for words in (
        "透明治理",
        "受理量",
        "办结时长中位数",
        "按时结案率",
        "平均评分",
        "事权清单",
        "统计口径",
    ):
        assert words in text
    assert 'href="/transparency"' in text and 'id="nav-transparency"' in text
    points = json.loads(re.search(r'id="tp-points">(.*?)</script>', text, re.S).group(1))  # type: ignore[union-attr]
    by_id = {p["id"]: p for p in points}
    assert by_id[published["elderly"]]["grid"] is True
    assert by_id[published["elderly"]]["title"] == ""
    assert text.count("<tr data-category=") == len(
        city_client.get(f"{API}/authority-list.json").json()
    )


def test_the_page_drills_down_and_speaks_english(city: City, browser: TestClient) -> None:
    district = next(a for a in city.plan.areas if a.level.value == "district")
    page = browser.get("/transparency").text
    assert f'data-area="{district.code}"' in page
    inner = browser.get(f"/transparency?area={district.code}").text
    assert f"<strong>{district.name}</strong>" in inner
    street = next(a for a in city.plan.areas if a.parent_code == district.code)
    on_street = browser.get(f"/transparency?area={street.code}").text
    assert f'<option value="{street.code}" selected>' in on_street  # its district's streets
    assert f'href="/transparency?area={district.code}">{district.name}</a>' in on_street
    browser.get("/lang/en?next=/transparency")
    english = browser.get("/transparency").text
    assert "Transparency: open figures" in english and "Authority list" in english


# ------------------------------------------------------------------ CSV and JSON


def read_csv(response: Any) -> list[dict[str, str]]:
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel looks for
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_recent_cases_as_csv_match_the_json(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    items = city_client.get(f"{API}/cases.json").json()["items"]
    rows = read_csv(city_client.get(f"{API}/cases.csv"))
    assert [int(r["id"]) for r in rows] == [c["id"] for c in items]
    elderly = next(r for r in rows if int(r["id"]) == published["elderly"])
    assert (elderly["category_name"], elderly["precision"], elderly["protected"]) == (
        "养老服务",
        "grid",
        "true",
    )
    assert elderly["title"] == ""
    assert list(rows[0]) == list(items[0])


def test_the_summary_as_csv_has_one_figure_a_row(
    city: City, city_client: TestClient, published: dict[str, int]
) -> None:
    fresh(city)
    body = city_client.get(f"{API}/summary").json()
    rows = read_csv(city_client.get(f"{API}/summary.csv"))
    value = {(r["section"], r["code"]): r["value"] for r in rows}
    assert int(value[("total", "reported")]) == body["reported"]
    assert int(value[("closing", "closed")]) == body["closing"]["closed"]
    assert float(value[("satisfaction", "mean")]) == body["satisfaction"]["mean"]
    groups = [r for r in rows if r["section"] == "group"]
    assert [r["code"] for r in groups] == [g["code"] for g in body["by_group"]]
    assert next(r for r in rows if r["code"] == "reported")["name"] == "受理量"


def test_the_authority_list_is_published_with_the_hours_of_each_step(
    city: City, city_client: TestClient
) -> None:
    entries = city_client.get(f"{API}/authority-list.json").json()
    rules = city_client.get("/api/v1/authority-rules").json()
    assert len(entries) == len(rules) > 10
    property_rule = next(
        e for e in entries if e["category"] == "HS01" and e["level"] == "community"
    )
    assert property_rule["function"] == "property_management"
    assert property_rule["function_name"] == "物业服务"
    assert property_rule["limits"]["handle"] == 72 and property_rule["total_hours"] == 154
    rows = read_csv(city_client.get(f"{API}/authority-list.csv"))
    assert len(rows) == len(entries)
    row = next(r for r in rows if r["category"] == "HS01" and r["level"] == "community")
    assert (row["level_name"], row["handle_h"], row["total_h"]) == ("社区", "72", "154")


def test_a_title_that_looks_like_a_formula_stays_text_in_the_csv() -> None:
    from civicgrid.transparency.schemas import to_csv

    text = to_csv(["title", "n"], [['=HYPERLINK("x")', -3.5]])
    assert text.splitlines()[1] == '"\'=HYPERLINK(""x"")",-3.5'


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("query", "code", "named"),
    [
        ("from=2025-13-01", "transparency_bad_date", "from"),
        ("from=01/02/2025", "transparency_bad_date", "from"),
        ("to=tomorrow", "transparency_bad_date", "to"),
        ("from=2025-03-01&to=2025-02-01", "transparency_period_reversed", "to"),
        ("from=2020-01-01&to=2024-12-31", "transparency_period_too_long", "from"),
        ("area=NOWHERE", "transparency_unknown_area", "area"),
    ],
)
def test_wrong_filters_are_a_422_naming_the_field(
    city_client: TestClient, query: str, code: str, named: str
) -> None:
    for path in ("summary", "summary.csv", "cases.json", "cases.csv"):
        response = city_client.get(f"{API}/{path}?{query}", headers={"Accept-Language": "en"})
        assert response.status_code == 422, (path, response.text)
        error = response.json()["error"]
        assert error["code"] == code
        assert named in error["message"]


def test_the_page_shows_a_wrong_filter_in_chinese_and_keeps_the_authority_list(
    city_client: TestClient,
) -> None:
    page = city_client.get("/transparency?from=2025-02-30")
    assert page.status_code == 422
    assert "参数 from 的日期格式应为 YYYY-MM-DD" in page.text
    assert 'value="2025-02-30"' in page.text
    assert "事权清单" in page.text and 'id="tp-map"' not in page.text


def test_the_default_period_reaches_today(city: City, city_client: TestClient) -> None:
    body = city_client.get(f"{API}/summary").json()
    today = city_day(utcnow(), city.platform.settings.timezone)  # the city's today, not UTC's
    assert date.fromisoformat(body["period"]["to"]) == today
    first = date.fromisoformat(body["period"]["from"])
    assert first.day == 1 and today - first < timedelta(days=366)
    assert datetime.fromisoformat(body["generated_at"]).tzinfo is not None
