"""`civicgrid assess …` as a cadre's office runs it: facts, a ranking, freezing the month
that ended, the area's report as Excel and PDF, the appeals, and mistakes explained
naming the option."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from civicgrid.areas import services as areas
from civicgrid.areas.domain import Level
from civicgrid.assess.domain import current_month, previous_month
from civicgrid.assess.ports import find_font
from civicgrid.bootstrap import Platform
from civicgrid.cli import app as cli
from civicgrid.core.db import UnitOfWork, utcnow
from civicgrid.core.permissions import SYSTEM
from civicgrid.demo.domain import DemoCityBuilder
from civicgrid.demo.services import install_demo_city
from tests.conftest import SMALL_CITY


def test_the_commands_rank_freeze_and_write_the_reports(scratch: Platform, tmp_path: Path) -> None:
    plan = DemoCityBuilder(seed=7).synthetic(SMALL_CITY)
    with UnitOfWork(scratch.session_factory) as uow:
        install_demo_city(uow, SYSTEM, plan, ports=scratch.cases, cases=120)
        district = areas.list_areas(uow, SYSTEM, level=Level.DISTRICT)[0].code
    db = scratch.settings.database_url

    def run(*args: str) -> Any:
        return CliRunner().invoke(cli, ["assess", *args, "--db", db])

    month = previous_month(current_month(utcnow(), scratch.assess.timezone))
    refreshed = run("refresh")
    assert refreshed.exit_code == 0, refreshed.output
    assert "cases' facts refreshed" in refreshed.output
    frozen = run("freeze", "--month", month)
    assert frozen.exit_code == 0, frozen.output
    assert f"{month} frozen" in frozen.output
    ranked = run("rankings", "--month", month, "--scheme", "region_street")
    assert ranked.exit_code == 0, ranked.output
    assert "区域评价·街道" in ranked.output and "结案率" in ranked.output
    assert "已冻结" in ranked.output and district in ranked.output  # the state, each code

    excel = tmp_path / "report.xlsx"
    written = run(
        "report", "--area", district, "--month", month, "--format", "xlsx", "--out", str(excel)
    )
    assert written.exit_code == 0, written.output
    openpyxl = pytest.importorskip("openpyxl")
    book = openpyxl.load_workbook(io.BytesIO(excel.read_bytes()))
    assert "部门考核" in book.sheetnames and book["部门考核"]._charts
    assert district in str(book["说明"]["A3"].value)  # the filters: area and month
    assert month in str(book["说明"]["A3"].value)

    for args, option in [
        (("--area", district, "--month", month, "--format", "doc"), "format"),
        (("--area", "nowhere", "--month", month, "--format", "pdf"), "area"),
        (("--area", district, "--month", "2999-01", "--format", "pdf"), "month"),
    ]:
        refused = run("report", *args, "--out", str(tmp_path / "x"))
        assert refused.exit_code != 0
        assert refused.output.startswith((f"{option}:", f"{option}：")), refused.output
        assert not (tmp_path / "x").exists()
    listed = run("appeals", "list", "--month", month)
    assert listed.exit_code == 0 and listed.output.strip() == ""

    if find_font(scratch.assess.pdf_font) is None:
        pytest.skip("no CJK font on this machine: install fonts-noto-cjk (Debian) for the PDF")
    pdf = tmp_path / "report.pdf"
    written = run(
        "report", "--area", district, "--month", month, "--format", "pdf", "--out", str(pdf)
    )
    assert written.exit_code == 0, written.output
    content = pdf.read_bytes()
    assert content.startswith(b"%PDF") and b"CJK" in content
