"""National identifiers and addresses as the registry reads them from department files."""

from __future__ import annotations

from datetime import date

import pytest

from civicgrid.registry.addresses import AddressBook, chinese_number, parse_address
from civicgrid.registry.identifiers import (
    IdentifierError,
    IdentityHasher,
    credit_check_character,
    identity_check_character,
    parse_credit_code,
    parse_identity,
    parse_phone,
)

GB11643_EXAMPLE = "11010519491231002X"  # the standard's own example


def test_an_identity_number_gives_its_birth_date_sex_and_masked_form() -> None:
    number = parse_identity(" 110105 19491231 002x ")
    assert number.value == GB11643_EXAMPLE
    assert number.birth_date == date(1949, 12, 31)
    assert number.sex == "F"
    assert number.masked == "110105********002X"


def test_an_old_fifteen_digit_number_is_upgraded() -> None:
    assert parse_identity("110105491231002").value == GB11643_EXAMPLE


def test_full_width_digits_are_read() -> None:
    assert parse_identity("１１０１０５１９４９１２３１００２Ｘ").value == GB11643_EXAMPLE


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "registry_id_missing"),
        ("1101051949123100", "registry_id_length"),
        ("11010519491231002Y", "registry_id_characters"),
        ("99010519491231002X", "registry_id_region"),
        ("110105194902300023", "registry_id_birth_date"),  # 30 February
        ("110105299901010023", "registry_id_birth_date"),  # not born yet
        ("110105194912310021", "registry_id_check_digit"),
    ],
)
def test_wrong_identity_numbers_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as error:
        parse_identity(text, today=date(2026, 11, 22))
    assert error.value.reason == reason


def test_a_mistyped_digit_is_caught_by_the_check_character() -> None:
    mistyped = "11010519491231012X"
    with pytest.raises(IdentifierError) as error:
        parse_identity(mistyped)
    assert error.value.params["expected"] == identity_check_character(mistyped[:17])


def test_the_identity_hash_needs_the_secret() -> None:
    assert IdentityHasher("a")(GB11643_EXAMPLE) == IdentityHasher("a")(GB11643_EXAMPLE)
    assert IdentityHasher("a")(GB11643_EXAMPLE) != IdentityHasher("b")(GB11643_EXAMPLE)


def test_credit_codes_are_checked_by_their_mod_31_character() -> None:
    assert parse_credit_code("91350100m000100y43") == "91350100M000100Y43"
    assert credit_check_character("91350100M000100Y4") == "3"
    with pytest.raises(IdentifierError) as error:
        parse_credit_code("91350100M000100Y44")
    assert error.value.reason == "registry_credit_check_digit"
    assert error.value.params == {"value": "91350100M000100Y44", "given": "4", "expected": "3"}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("9135010M000100Y43", "registry_credit_length"),
        ("91350100M000100I43", "registry_credit_characters"),  # I is not in the alphabet
        ("B1350100M000100Y43", "registry_credit_authority"),
        ("91990100M000100Y43", "registry_credit_region"),
    ],
)
def test_wrong_credit_codes_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(IdentifierError) as error:
        parse_credit_code(text)
    assert error.value.reason == reason


def test_phones() -> None:
    assert parse_phone("+86 138-1234-5678") == "13812345678"
    assert parse_phone("(010)62345678") == "010-62345678"
    assert parse_phone("0571-87654321") == "0571-87654321"
    with pytest.raises(IdentifierError):
        parse_phone("12345")


def test_chinese_numerals() -> None:
    assert [chinese_number(t) for t in ("十二", "二十", "一百零五", "三零一")] == [12, 20, 105, 301]


def test_the_same_door_written_three_ways_is_one_address() -> None:
    full = parse_address("北京市东城区东华门街道南池子大街12号3号楼2单元501室")
    assert (full.district, full.street, full.road, full.number) == (
        "东城区",
        "东华门街道",
        "南池子大街",
        "12",
    )
    assert (full.building, full.unit, full.room) == ("3", "2", "501")
    short = parse_address("南池子大街十二号3-2-501")
    spelled = parse_address("南池子大街１２号３栋２单元５０１")
    assert full.door_key() == short.door_key() == spelled.door_key()
    assert full.text() == "东城区东华门街道南池子大街12号3栋2单元501室"


def test_estates_buildings_and_roads_that_look_like_villages() -> None:
    estate = parse_address("朝阳区望京街道望京西园三区302号楼1单元1201")
    assert (estate.estate, estate.building, estate.unit, estate.room) == (
        "望京西园三区",
        "302",
        "1",
        "1201",
    )
    tower = parse_address("海淀区中关村大街27号中关村大厦B座1205室")
    assert (tower.community, tower.road, tower.estate, tower.building, tower.room) == (
        "",
        "中关村大街",
        "中关村大厦",
        "B",
        "1205",
    )


def test_matching_free_text_to_standard_addresses() -> None:
    book = AddressBook(
        [
            (1, parse_address("东城区东华门街道南池子大街12号3栋2单元501室")),
            (2, parse_address("东城区东华门街道南池子大街12号3栋2单元502室")),
            (3, parse_address("西城区什刹海街道南池子大街12号3栋2单元501室")),  # same door words
        ]
    )
    assert book.match("东城区东华门街道南池子大街12号3号楼2单元501室").address_id == 1
    assert book.match("东城区东华门街道南池子大街12号3号楼2单元501室").how == "exact"
    assert book.match("南池子大街12号3-2-502").address_id == 2  # only one 502
    ambiguous = book.match("南池子大街12号3-2-501")  # 东城 or 西城: not guessed
    assert (ambiguous.address_id, ambiguous.how) == (None, "ambiguous")
    assert book.match("南池子大街99号").how == "none"


def test_every_identifier_reason_has_a_message_in_both_languages() -> None:
    import re
    from pathlib import Path

    from civicgrid.core.i18n import has_message, translate
    from civicgrid.registry import identifiers

    source = Path(identifiers.__file__).read_text(encoding="utf-8")
    reasons = set(re.findall(r'IdentifierError\(\s*"(registry_\w+)"', source))
    assert len(reasons) >= 10
    assert all(has_message(reason) for reason in reasons)
    try:
        parse_identity("110105194912310021")
    except IdentifierError as error:
        said = translate(error.reason, "en", error.params)
    assert said == (
        "Identity number '110105194912310021' fails its check: the last character "
        "should be X, not 1 (a digit may be mistyped)"
    )


@pytest.mark.parametrize("secret", ["k", "civicgrid-registry-identity:" + "s" * 48, "密钥" * 40])
def test_the_import_hasher_is_the_registry_hmac(secret: str) -> None:
    import hmac

    hasher = IdentityHasher(secret)
    for number in (GB11643_EXAMPLE, "110105194912310021"):
        expected = hmac.digest(secret.encode(), number.encode(), "sha256")[:16].hex()
        assert hasher(number) == expected
