"""The demo city's data sharing seen by a resident: the units' reads of her records and
the questions asked about her are in the platform's audit log, and her page of who read
her data (是谁查看了我的信息) shows them with the grant each was made under."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

from civicgrid.app import create_app
from civicgrid.core.db import UnitOfWork
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.exchange import install_demo_exchange
from civicgrid.demo.services import install_demo_city, install_demo_registry
from tests.conftest import SMALL_CITY, TEST_SECRET, DatabaseMaker, open_platform


def test_the_demo_resident_sees_which_units_read_her_data(
    databases: DatabaseMaker, tmp_path: Path
) -> None:
    platform = open_platform(databases.new("exchange-demo"))
    plan = DemoCityBuilder(seed=5).synthetic(SMALL_CITY)
    with UnitOfWork(platform.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=platform.cases, cases=0)
        install_demo_registry(uow, SYSTEM, 150, secret_key=TEST_SECRET, folder=tmp_path, link=False)
        demo = install_demo_exchange(uow, SYSTEM, platform.exchange, folder=tmp_path)
    assert demo.resident is not None
    phone, number = demo.resident
    try:
        with TestClient(create_app(platform)) as browser:
            login = browser.post(
                "/login",
                data={"username": phone, "password": demo.staff_password},
                follow_redirects=False,
            )
            assert login.status_code == 303, login.text
            shown = browser.post("/my/reads", data={"identity_number": number})
            assert shown.status_code == 200, shown.text
            page = shown.text
            # Civil affairs read her record under its grant; the district's counter asked
            # whether she is 60 or older and lives where she says, without her papers.
            assert "市民政局" in page and re.search(r"依授权 \d+", page)
            assert re.search(r"区民政局</strong>", page)
            assert page.count('class="audit-verify_question"') == 2
            assert number not in page
    finally:
        platform.engine.dispose()
