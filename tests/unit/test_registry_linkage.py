"""Record linkage: how values are compared, which value the registry believes, reviewer
decisions and the precision/recall arithmetic; houses and organisations linked on small
generated cities in DuckDB. The people runs are in tests/integration/test_registry_linkage.py."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pyarrow as pa
import pytest

from civicgrid.registry.addresses import chinese_number
from civicgrid.registry.identifiers import IdentifierError, parse_credit_code, parse_identity
from civicgrid.registry.linkage import (
    HOUSES,
    ORGANISATIONS,
    SPECS,
    LinkageResult,
    ReviewDecisions,
    address_keys,
    clean_area,
    clean_birth_date,
    clean_credit_code,
    clean_identity,
    clean_phone,
    connected_components,
    constrained_clusters,
    link_records,
    name_pinyin,
    organisation_name,
    pairwise_accuracy,
    resolve_entity,
    unit_keys,
)
from civicgrid.registry.synthetic import (
    HOUSE_SOURCES,
    ORGANISATION_SOURCES,
    SOURCES,
    chinese_numeral,
    credit_code,
    generate_houses,
    generate_organisations,
    generate_people,
    identity_numbers,
)


def test_homophone_names_share_their_pinyin() -> None:
    assert name_pinyin("杨明伟") == name_pinyin("杨铭玮") == "yangmingwei"
    assert name_pinyin("欧阳 娜") == "ouyangna"
    assert name_pinyin("王伟") != name_pinyin("玉伟")


def test_one_door_written_four_ways_is_one_address() -> None:
    forms = [
        "东城区东华门街道南池子大街12号3号楼2单元501室",
        "南池子大街十二号3栋2单元501",
        "南池子大街12号3-2-501",
        "北京市东城区南池子大街１２号3幢 2单元 501室",
    ]
    assert {address_keys(form) for form in forms} == {("南池子大街|12|3|2|501", "南池子大街|12|3")}
    assert address_keys("南池子大街12号3栋2单元502室")[1] == "南池子大街|12|3"  # type: ignore[index]
    assert address_keys("  ") is None


def test_dates_and_phones_are_read_however_they_are_written() -> None:
    assert clean_birth_date("1990/1/2") == clean_birth_date("1990年01月02日") == "1990-01-02"
    assert clean_birth_date("19900102") == "1990-01-02"
    assert clean_birth_date("1990-02-30") is None
    assert clean_phone("+86 138-1234-5678") == "13812345678"
    assert clean_phone("") is None
    assert clean_identity("110105491231002") == clean_identity("11010519491231002x")
    assert clean_identity("11010519491231012X") == "11010519491231012X"  # kept, though wrong


def test_door_numbers_in_chinese_numerals_read_back() -> None:
    assert all(chinese_number(chinese_numeral(n)) == n for n in range(1, 1000))


# ------------------------------------------------------------------ reviewer decisions

A, B, C, D = ("health", "1"), ("grid", "2"), ("public_security", "3"), ("grid", "4")


def uid(key: tuple[str, str]) -> str:
    return f"{key[0]}|{key[1]}"


def test_a_split_pair_stays_apart_even_when_a_third_record_bridges_them() -> None:
    nodes = [uid(k) for k in (A, B, C)]
    edges = [(uid(A), uid(C), 0.99), (uid(C), uid(B), 0.95), (uid(A), uid(B), 0.97)]
    clusters, conflicts = constrained_clusters(nodes, edges, ReviewDecisions(cannot_link=[(A, B)]))
    assert clusters[uid(A)] != clusters[uid(B)]
    # C goes with the record it is most like (A, 0.99), not with B.
    assert clusters[uid(C)] == clusters[uid(A)]
    assert conflicts == []


def test_a_confirmed_pair_joins_without_an_edge_but_never_against_a_split() -> None:
    nodes = [uid(k) for k in (A, B, C, D)]
    decisions = ReviewDecisions(must_link=[(A, D), (D, B)], cannot_link=[(A, B)])
    clusters, conflicts = constrained_clusters(nodes, [], decisions)
    assert clusters[uid(A)] == clusters[uid(D)]
    assert clusters[uid(B)] != clusters[uid(A)]
    assert conflicts == [(D, B)]
    assert clusters[uid(C)] == uid(C)


def test_a_source_that_holds_each_person_once_never_gives_an_entity_two_records() -> None:
    twin1, twin2, grid = ("public_security", "1"), ("public_security", "2"), ("grid", "9")
    nodes = [uid(k) for k in (twin1, twin2, grid)]
    # The grid's record of the second twin is nearly as like the first.
    edges = [(uid(grid), uid(twin2), 0.99), (uid(grid), uid(twin1), 0.97)]
    clusters, _ = constrained_clusters(nodes, edges, ReviewDecisions(), ["public_security"])
    assert clusters[uid(grid)] == clusters[uid(twin2)] != clusters[uid(twin1)]
    # Unless a reviewer found the two to be one person written twice.
    confirmed = ReviewDecisions(must_link=[(twin1, twin2)])
    clusters, _ = constrained_clusters(nodes, edges, confirmed, ["public_security"])
    assert len(set(clusters.values())) == 1


# ------------------------------------------------------------------ survivorship


def test_the_registry_believes_public_security_for_identity_and_the_grid_for_address() -> None:
    records = [
        {
            "source": "public_security",
            "record_id": "GA1",
            "name": "杨明伟",
            "identity": "110105199001020017",
            "birth_date": "1990-01-02",
            "sex": "M",
            "phone": "13800000001",
            "address": "南池子大街12号3-2-501",
        },
        {
            "source": "health",
            "record_id": "WJ1",
            "name": "杨铭玮",
            "identity": "110105199001020027",
            "birth_date": "1990-02-01",
            "sex": "M",
            "phone": "13900000002",
            "address": "东城区东华门街道南池子大街12号3号楼2单元501室",
        },
        {
            "source": "grid",
            "record_id": "WG1",
            "name": "杨明伟",
            "identity": "",
            "birth_date": "1990-01-02",
            "sex": "M",
            "phone": "13900000002",
            "address": "建国路5号1-1-101",
        },
    ]
    entity = resolve_entity(records)
    assert entity.records == (("public_security", "GA1"), ("health", "WJ1"), ("grid", "WG1"))
    assert entity.values["identity"].value == "110105199001020017"
    assert entity.values["identity"].reason == "source priority"
    assert entity.values["address"].source == "grid"
    assert entity.values["phone"].value == "13900000002"
    assert entity.values["sex"].reason == "source priority"
    names = entity.disagreements["name"]
    assert [d.value for d in names] == ["杨明伟", "杨铭玮"]
    assert names[0].records == (("public_security", "GA1"), ("grid", "WG1"))
    # Two spellings of one door are no disagreement; the grid's new address is.
    assert [len(d.records) for d in entity.disagreements["address"]] == [2, 1]
    assert "sex" not in entity.disagreements


def test_without_a_preferred_source_the_most_frequent_then_the_most_recent_wins() -> None:
    def record(source: str, rid: str, phone: str, when: str) -> dict[str, str]:
        return {"source": source, "record_id": rid, "phone": phone, "updated": when}

    frequent = [
        record("health", "1", "13900000001", "2024-01-01"),
        record("housing", "2", "13900000001", "2023-01-01"),
        record("health", "3", "13900000003", "2026-01-01"),
    ]
    belief = resolve_entity(frequent, recency="updated").values["phone"]
    assert (belief.value, belief.reason) == ("13900000001", "most frequent")
    tie = frequent[1:]
    belief = resolve_entity(tie, recency="updated").values["phone"]
    assert (belief.value, belief.reason) == ("13900000003", "most recent")
    assert resolve_entity([record("health", "1", "", "")]).values["phone"].reason == "no value"


# ------------------------------------------------------------------ precision and recall


def brute_force(truth: list[int], predicted: list[int]) -> tuple[int, int, int]:
    pairs = list(combinations(range(len(truth)), 2))
    true = {p for p in pairs if truth[p[0]] == truth[p[1]]}
    found = {p for p in pairs if predicted[p[0]] == predicted[p[1]]}
    return len(true), len(found), len(true & found)


def test_pairwise_precision_and_recall_count_pairs_from_group_sizes() -> None:
    truth = [1, 1, 1, 2, 2, 3]
    predicted = [7, 7, 8, 8, 8, 9]
    accuracy = pairwise_accuracy(truth, predicted)
    assert (accuracy.true_pairs, accuracy.predicted_pairs, accuracy.correct_pairs) == (4, 4, 2)
    assert accuracy.precision == accuracy.recall == 0.5
    rng = np.random.default_rng(3)
    for _ in range(20):
        truth = rng.integers(0, 15, size=60).tolist()
        predicted = rng.integers(0, 15, size=60).tolist()
        accuracy = pairwise_accuracy(truth, predicted)
        expected = brute_force(truth, predicted)
        assert (accuracy.true_pairs, accuracy.predicted_pairs, accuracy.correct_pairs) == expected


def test_no_pairs_at_all_is_perfect_not_a_division_by_zero() -> None:
    accuracy = pairwise_accuracy(["a", "b"], ["x", "y"])
    assert accuracy.precision == accuracy.recall == 1.0
    with pytest.raises(ValueError):
        pairwise_accuracy([1, 2], [1])


# ------------------------------------------------------------------ the generator


def test_generated_identity_numbers_pass_the_standard_check() -> None:
    born = np.array(["1949-12-31", "2012-03-04", "1980-01-09"], dtype="datetime64[D]")
    numbers = identity_numbers(np.array([110105, 370102, 110101]), born, np.array([2, 17, 999]))
    assert numbers[0] == "11010519491231002X"  # the standard's own example
    assert [parse_identity(n).value for n in numbers] == numbers


def test_the_generator_is_repeatable_and_noisy_the_way_departments_are() -> None:
    files = generate_people(3000, seed=5)
    assert set(files) == set(SOURCES)
    again = generate_people(3000, seed=5)
    assert all(files[s].equals(again[s]) for s in SOURCES)
    police, health = files["public_security"].to_pylist(), files["health"].to_pylist()
    # Everyone public security holds has a number; the health file misses some.
    assert all(row["identity"] for row in police)
    assert 0.15 < sum(not row["identity"] for row in health) / len(health) < 0.35
    # Mistyped numbers are kept as written, though their check character fails.
    wrong = 0
    for row in health:
        if row["identity"]:
            try:
                parse_identity(row["identity"])
            except IdentifierError:
                wrong += 1
    assert wrong > 0
    # Every address is one parse_address understands.
    assert all("|" in (address_keys(row["address"]) or ("",))[0] for row in health)
    # People are in one to three files.
    held = np.bincount(np.concatenate([files[s]["person_id"].to_numpy() for s in SOURCES]))
    assert held.min() >= 1 and held.max() == 3


# ------------------------------------------------------------------ houses


def test_floor_areas_are_read_however_they_are_written() -> None:
    assert clean_area("89.5") == clean_area("８９.５㎡") == clean_area("89.5平方米") == 89.5
    assert clean_area("89.5 m2") == 89.5
    assert clean_area("") is None
    assert clean_area("约90") is None
    assert clean_area("0") is None


def test_a_flat_is_its_unit_and_room() -> None:
    assert unit_keys("南池子大街十二号3栋2单元501") == ("南池子大街|12|3|2", "501")
    assert unit_keys("东城区东华门街道南池子大街12号3-2-501") == ("南池子大街|12|3|2", "501")
    assert unit_keys("南池子大街12号") is None  # no room: no flat
    assert unit_keys("") is None


HOUSE_CASES = [
    # source, record_id, address, owner_name, owner_phone, area_m2, house_id
    ("real_estate", "BDC-A", "东城区东华门街道南池子大街12号3号楼2单元501室", "杨明伟",
     "13811110001", "89.52", -1),
    # The grid worker wrote the owner by ear and the usable area.
    ("grid", "WGF-A", "南池子大街十二号3栋2单元501", "杨铭玮", "13811110001", "72", -1),
    # The flat above: the same floor plan, another owner.
    ("real_estate", "BDC-B", "东城区东华门街道南池子大街12号3号楼2单元601室", "陈静",
     "13833330003", "89.52", -2),
    # The housing bureau mistyped the room (610 for 601), the owner and area agree.
    ("housing", "FG-B", "南池子大街12号3-2-610", "陈静", "13833330003", "89.5", -2),
]  # fmt: skip


@pytest.fixture(scope="module")
def linked_houses() -> tuple[pa.Table, LinkageResult]:
    generated = pa.concat_tables(generate_houses(1500, seed=3).values())
    columns = ("source", "record_id", "address", "owner_name", "owner_phone", "area_m2")
    rows = [dict(zip((*columns, "house_id"), case, strict=True)) for case in HOUSE_CASES]
    records = pa.concat_tables([generated, pa.Table.from_pylist(rows, schema=generated.schema)])
    result = link_records(
        records, "houses", truth_column="house_id", one_per_source=HOUSE_SOURCES, seed=3
    )
    return records, result


def test_houses_link_across_departments(linked_houses: tuple[pa.Table, LinkageResult]) -> None:
    _, result = linked_houses
    assert result.kind == "houses"
    assert result.accuracy is not None
    assert result.accuracy.precision >= 0.97 and result.accuracy.recall >= 0.97
    entity = result.entity_of()
    assert entity[("real_estate", "BDC-A")] == entity[("grid", "WGF-A")]
    assert entity[("real_estate", "BDC-B")] == entity[("housing", "FG-B")]
    # Neighbours with one floor plan stay apart.
    assert entity[("real_estate", "BDC-A")] != entity[("real_estate", "BDC-B")]


def test_the_register_is_believed_for_a_flats_owner_and_area() -> None:
    rows = [dict(zip(("source", "record_id", "address", "owner_name", "owner_phone", "area_m2"),
                     case[:6], strict=True)) for case in HOUSE_CASES[:2]]  # fmt: skip
    entity = resolve_entity(rows, HOUSES.survivorship)
    assert entity.values["owner_name"].value == "杨明伟"
    assert entity.values["area_m2"].value == "89.52"
    assert entity.values["owner_phone"].source == "grid"  # the phone the owner answers now
    assert "address" not in entity.disagreements  # one door, written two ways


# ------------------------------------------------------------------ organisations


def test_an_organisations_name_without_city_bracketed_region_or_legal_form() -> None:
    head = ("老王餐饮管理", False)
    assert organisation_name("北京市老王餐饮管理有限公司") == head
    assert organisation_name("老王餐饮管理(北京)有限责任公司") == head
    assert organisation_name("老王餐饮管理（北京）有限公司") == head
    assert organisation_name("北京老王餐饮管理股份有限公司") == head
    assert organisation_name("老王餐饮管理") == head  # the shop sign
    # A branch, with the legal form or without, is one name, and never its head office's.
    branch = ("老王餐饮管理朝阳分公司", True)
    assert organisation_name("北京市老王餐饮管理有限公司朝阳分公司") == branch
    assert organisation_name("老王餐饮管理朝阳分公司") == branch
    assert organisation_name("有限公司") == ("有限公司", False)


def test_a_credit_code_is_cleaned_but_kept_when_its_check_fails() -> None:
    assert clean_credit_code(" 91110105mA01abcd2x ") == "91110105MA01ABCD2X"
    assert clean_credit_code("") is None


HEAD_CODE = credit_code(110105, "MA01XQ3K8")
BRANCH_CODE = credit_code(110108, "MA02BR7N4")
SWAPPED_CODE = HEAD_CODE[:9] + HEAD_CODE[10] + HEAD_CODE[9] + HEAD_CODE[11:]
ORGANISATION_CASES = [
    # source, record_id, name, credit_code, address, contact_name, contact_phone, truth
    ("market", "SC-HEAD", "北京恒达餐饮管理有限公司", HEAD_CODE, "建国路5号1-1-101",
     "周伟", "13900000001", -1),
    # Tax has the legal form written another way and a transposed code.
    ("tax", "SW-HEAD", "恒达餐饮管理(北京)有限责任公司", SWAPPED_CODE,
     "朝阳区建外街道建国路5号1号楼1单元101室", "周伟", "13900000001", -1),
    # Its branch: the same trade name, its own code, address and phone.
    ("market", "SC-BRANCH", "北京恒达餐饮管理有限公司海淀分公司", BRANCH_CODE, "学院路8号2-1-301",
     "周伟", "13900000002", -2),
    ("grid", "WGD-BRANCH", "恒达餐饮管理海淀分公司", "", "学院路八号2栋1单元301",
     "吴敏", "13900000002", -2),
]  # fmt: skip


@pytest.fixture(scope="module")
def linked_organisations() -> LinkageResult:
    generated = pa.concat_tables(generate_organisations(1500, seed=3).values())
    columns = ("source", "record_id", "name", "credit_code", "address", "contact_name")
    fields = (*columns, "contact_phone", "organisation_id")
    rows = [dict(zip(fields, case, strict=True)) for case in ORGANISATION_CASES]
    cases = pa.Table.from_pylist(rows, schema=generated.schema)
    return link_records(
        pa.concat_tables([generated, cases]),
        ORGANISATIONS,
        truth_column="organisation_id",
        one_per_source=ORGANISATION_SOURCES,
        seed=3,
    )


def test_organisations_link_and_a_branch_is_not_its_head_office(
    linked_organisations: LinkageResult,
) -> None:
    result = linked_organisations
    assert result.kind == "organisations"
    assert result.accuracy is not None
    assert result.accuracy.precision >= 0.97 and result.accuracy.recall >= 0.97
    entity = result.entity_of()
    assert entity[("market", "SC-HEAD")] == entity[("tax", "SW-HEAD")]
    assert entity[("market", "SC-BRANCH")] == entity[("grid", "WGD-BRANCH")]
    assert entity[("market", "SC-HEAD")] != entity[("market", "SC-BRANCH")]


def test_every_kind_has_a_spec_and_an_unknown_kind_is_refused() -> None:
    assert set(SPECS) == {"people", "houses", "organisations"}
    assert all(SPECS[kind].kind == kind for kind in SPECS)
    with pytest.raises(ValueError, match="houses"):
        link_records([], "shops")


def test_clusters_are_the_connected_records_above_the_threshold() -> None:
    edges = pa.table(
        {
            "uid_l": ["a|1", "b|2", "c|3"],
            "uid_r": ["b|2", "c|3", "d|4"],
            "match_probability": [0.99, 0.95, 0.5],
        }
    )
    clusters = connected_components(pa.array(["a|1", "b|2", "c|3", "d|4", "e|5"]), edges, 0.9)
    cluster = dict(
        zip(clusters["uid"].to_pylist(), clusters["cluster_id"].to_pylist(), strict=True)
    )
    assert cluster["a|1"] == cluster["b|2"] == cluster["c|3"]
    assert len({cluster["c|3"], cluster["d|4"], cluster["e|5"]}) == 3


def test_the_house_and_organisation_generators_are_repeatable_and_true() -> None:
    houses = generate_houses(800, seed=2)
    assert set(houses) == set(HOUSE_SOURCES)
    assert all(houses[s].equals(generate_houses(800, seed=2)[s]) for s in HOUSE_SOURCES)
    register = houses["real_estate"].to_pylist()
    # One flat per door in the register, and every address is a flat parse_address reads.
    doors = {address_keys(row["address"]) for row in register}
    assert len(doors) == len(register)
    assert all(unit_keys(row["address"]) for row in register)
    held = np.bincount(np.concatenate([houses[s]["house_id"].to_numpy() for s in HOUSE_SOURCES]))
    assert held.min() >= 1 and held.max() == 3

    organisations = generate_organisations(800, seed=2)
    market = organisations["market"].to_pylist()
    assert all(parse_credit_code(row["credit_code"]) for row in market)
    grid = organisations["grid"].to_pylist()
    assert 0.3 < sum(not row["credit_code"] for row in grid) / len(grid) < 0.6
    assert any("分公司" in row["name"] for row in market)
