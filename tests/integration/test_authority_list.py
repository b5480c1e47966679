"""`civicgrid rules import` and `civicgrid categories import`: all rows or none, every bad
row named and kept beside the file for correction."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from civicgrid.cases.taxonomy import DEFAULT_RULES
from civicgrid.cli import app as cli
from tests.conftest import City


def run(city: City, *args: str) -> Any:
    return CliRunner().invoke(cli, [*args, "--db", city.platform.settings.database_url])


def test_the_exported_list_imports_again_unchanged(city: City, tmp_path: Path) -> None:
    exported = run(city, "rules", "export")
    assert exported.exit_code == 0
    path = tmp_path / "rules.csv"
    path.write_text(exported.output, encoding="utf-8")
    again = run(city, "rules", "import", str(path))
    assert again.exit_code == 0, again.output
    assert run(city, "rules", "export").output == exported.output


def test_bad_rows_are_named_and_nothing_is_written(city: City, tmp_path: Path) -> None:
    before = run(city, "rules", "export").output
    lines = DEFAULT_RULES.read_text(encoding="utf-8").splitlines()
    bad = [
        "ZZ99,street,urban_management,,,2,4,4,24,72,24,24,yes",
        "CR01,grid,urban_management,,,2,4,4,24,72,24,24,yes",
        "CR01,street,magic,,,2,4,4,24,72,24,24,yes",
        "CR01,street,,,,2,4,4,24,72,24,24,yes",
        "CR01,street,housing,,,2,4,-4,24,72,24,24,yes",
        "CR01,street,housing,,,2,4,4,24,72,24,24,maybe",
        "CR01,street,,NOPE-UNIT,,2,4,4,24,72,24,24,yes",
    ]
    path = tmp_path / "rules.csv"
    path.write_text("\n".join([*lines, *bad]) + "\n", encoding="gbk")  # as Excel saves it
    result = run(city, "rules", "import", str(path))
    assert result.exit_code == 1
    first_bad = len(lines) + 1
    for offset, words in enumerate(
        [
            "“category”",
            "“level”",
            "“function”",
            "需填写职能",
            "“dispatch_h”",
            "“auto_escalate”",
            "“department”",
        ]
    ):
        assert f"第 {first_bad + offset} 行" in result.output and words in result.output, words
    assert "NOPE-UNIT" in result.output
    assert run(city, "rules", "export").output == before
    with (tmp_path / "rules.rejected.csv").open(encoding="utf-8-sig") as handle:
        kept = list(csv.DictReader(handle))
    assert [row["category"] for row in kept] == ["ZZ99"] + ["CR01"] * 6
    assert all(row["_errors"] for row in kept)


def test_a_file_without_the_needed_columns_is_refused(city: City, tmp_path: Path) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("类别,层级\nCR,street\n", encoding="utf-8")
    result = run(city, "rules", "import", str(path))
    assert result.exit_code == 1 and "category, level" in result.output


def test_categories_import_names_bad_parents(city: City, tmp_path: Path) -> None:
    path = tmp_path / "categories.csv"
    path.write_text(
        "code,name,parent_code\nAA,甲,\nAA01,甲一,AA\nAA0101,三级,AA01\nBB01,乙一,BB\nAA,重复,\n",
        encoding="utf-8",
    )
    result = run(city, "categories", "import", str(path))
    assert result.exit_code == 1
    assert "第 4 行" in result.output and "最多两级" in result.output
    assert "第 5 行" in result.output and "“BB”" in result.output
    assert "第 6 行" in result.output and "重复" in result.output
    listed = run(city, "categories", "list")
    assert "OT01" in listed.output  # the installed taxonomy is untouched
