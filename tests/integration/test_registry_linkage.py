"""The whole linkage on generated departments' files: Splink trains on them, links and
clusters, reviewer decisions survive a re-run, and `civicgrid registry link` on CSV files.

Spark's JVM takes a minute or more to start, so the Spark run is only made when
CIVICGRID_TEST_SPARK=1 is set."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pv
import pytest
from typer.testing import CliRunner

from civicgrid.cli import app
from civicgrid.registry.linkage import LinkageResult, ReviewDecisions, link_people
from civicgrid.registry.synthetic import generate_people

PEOPLE = 2000
SEED = 7

# Hand-made cases beside the generated city: a homophone name, a mistyped identity digit,
# and twins (same birth date and door, different names and numbers).
CASES = [
    # source, record_id, name, identity, birth_date, sex, phone, address
    ("public_security", "GA-YANG", "杨明伟", "110105198807150035", "1988-07-15", "M",
     "13811110001", "东城区东华门街道南池子大街12号3号楼2单元501室"),
    ("grid", "WG-YANG", "杨铭玮", "", "1988-07-15", "M",
     "13922220002", "南池子大街十二号3栋2单元501"),
    ("public_security", "GA-CHEN", "陈静", "110108197602280042", "1976-02-28", "F",
     "13833330003", "海淀区中关村街道中关村南大街5号1号楼1单元101室"),
    ("health", "WJ-CHEN", "陈静", "110108197602830042", "1976-02-28", "F",
     "", "中关村南大街5号1-1-101"),
    ("public_security", "GA-TWIN1", "李浩然", "110106201203040011", "2012-03-04", "M",
     "13844440004", "朝阳区劲松街道劲松路8号2号楼3单元402室"),
    ("public_security", "GA-TWIN2", "李浩宇", "110106201203040038", "2012-03-04", "M",
     "13855550005", "朝阳区劲松街道劲松路8号2号楼3单元402室"),
    ("grid", "WG-TWIN2", "李浩宇", "", "2012-03-04", "M",
     "13855550005", "劲松路8号2-3-402"),
]  # fmt: skip
COLUMNS = ("source", "record_id", "name", "identity", "birth_date", "sex", "phone", "address")


def city() -> pa.Table:
    generated = pa.concat_tables(generate_people(PEOPLE, seed=SEED).values())
    rows = [dict(zip(COLUMNS, case, strict=True)) for case in CASES]
    for row in rows:
        row["person_id"] = -1 - ["YANG", "CHEN", "TWIN1", "TWIN2"].index(
            row["record_id"].split("-")[1]
        )
    cases = pa.Table.from_pylist(rows, schema=generated.schema)
    return pa.concat_tables([generated, cases])


@pytest.fixture(scope="module")
def records() -> pa.Table:
    return city()


@pytest.fixture(scope="module")
def linked(records: pa.Table) -> LinkageResult:
    return link_people(records, truth_column="person_id", seed=SEED)


def test_a_generated_city_links_with_high_precision_and_recall(linked: LinkageResult) -> None:
    assert linked.accuracy is not None
    assert linked.accuracy.precision >= 0.97
    assert linked.accuracy.recall >= 0.97
    assert list(linked.timings) == ["prepare", "load", "train", "predict", "cluster"]
    assert linked.pairs.column_names == ["uid_l", "uid_r", "match_probability", "match_weight"]
    assert min(linked.pairs["match_probability"].to_pylist()) >= linked.threshold


def test_homophones_and_a_mistyped_id_link_and_twins_do_not(linked: LinkageResult) -> None:
    entity = linked.entity_of()
    assert entity[("public_security", "GA-YANG")] == entity[("grid", "WG-YANG")]
    assert entity[("public_security", "GA-CHEN")] == entity[("health", "WJ-CHEN")]
    assert entity[("public_security", "GA-TWIN1")] != entity[("public_security", "GA-TWIN2")]
    assert entity[("grid", "WG-TWIN2")] == entity[("public_security", "GA-TWIN2")]


def test_reviewer_decisions_survive_the_next_run(records: pa.Table, linked: LinkageResult) -> None:
    entity = linked.entity_of()
    twin1, twin2 = ("public_security", "GA-TWIN1"), ("public_security", "GA-TWIN2")
    yang, yang_grid = ("public_security", "GA-YANG"), ("grid", "WG-YANG")
    # A reviewer merges the twins by mistake on one side and splits Yang's records: the next
    # run keeps both decisions, and the grid's record of the second twin (linked to it by
    # the model) cannot bring Yang's records back together.
    decisions = ReviewDecisions(must_link=[(twin1, twin2)], cannot_link=[(yang, yang_grid)])
    again = link_people(records, decisions=decisions, seed=SEED)
    after = again.entity_of()
    assert after[twin1] == after[twin2] == after[("grid", "WG-TWIN2")]
    assert after[yang] != after[yang_grid]
    assert again.conflicts == []
    untouched = [key for key in entity if key not in (twin1, twin2, yang, yang_grid)][:200]
    same_before = {k: [m for m in untouched if entity[m] == entity[k]] for k in untouched}
    assert all([m for m in untouched if after[m] == after[k]] == same_before[k] for k in untouched)


def test_the_command_links_department_files_and_prints_precision(
    tmp_path: Path, records: pa.Table
) -> None:
    small = records.filter(pa.compute.less(records["person_id"], 600))
    inputs = []
    for source in ("public_security", "health", "grid"):
        part = small.filter(pa.compute.equal(small["source"], source)).drop_columns(["source"])
        path = tmp_path / f"{source}.csv"
        pv.write_csv(part, path)
        inputs += ["--input", str(path)]
    out, entities = tmp_path / "clusters.csv", tmp_path / "entities.csv"
    arguments = ["--truth-col", "person_id", "--out", str(out), "--entities", str(entities)]
    arguments += ["--one-per-source", "public_security", "--one-per-source", "grid"]
    result = CliRunner().invoke(app, ["registry", "link", *inputs, *arguments])
    assert result.exit_code == 0, result.output
    assert "precision" in result.output and "recall" in result.output
    clusters = pv.read_csv(out)
    assert clusters.column_names == ["source", "record_id", "entity_id", "person_id"]
    assert len(clusters) == len(small)
    assert set(clusters["source"].to_pylist()) == {"public_security", "health", "grid"}
    believed = pv.read_csv(entities, convert_options=pv.ConvertOptions(strings_can_be_null=False))
    assert len(believed) == len(set(clusters["entity_id"].to_pylist()))
    assert {"entity_id", "records", "identity", "identity_from", "disagree"} <= set(
        believed.column_names
    )
    # Where public security holds a person, its identity number is the one believed.
    from_police = [s for s in believed["identity_from"].to_pylist() if s]
    assert from_police.count("public_security") > 0.8 * len(from_police)


def test_the_command_says_what_is_missing(tmp_path: Path) -> None:
    path = tmp_path / "grid.csv"
    path.write_text("record_id,name\n1,张三\n", encoding="utf-8")
    result = CliRunner().invoke(
        app,
        [
            "registry",
            "link",
            "--input",
            str(path),
            "--truth-col",
            "person",
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert result.exit_code == 2
    assert "truth column" in result.output


@pytest.mark.skipif(
    os.environ.get("CIVICGRID_TEST_SPARK") != "1", reason="set CIVICGRID_TEST_SPARK=1 for Spark"
)
def test_spark_links_the_same_city_as_duckdb(records: pa.Table, linked: LinkageResult) -> None:
    on_spark = link_people(records, backend="spark", truth_column="person_id", seed=SEED)
    assert on_spark.accuracy is not None and linked.accuracy is not None
    assert on_spark.accuracy.precision >= 0.97
    assert on_spark.accuracy.recall >= 0.97
    assert abs(on_spark.accuracy.f1 - linked.accuracy.f1) < 0.01
