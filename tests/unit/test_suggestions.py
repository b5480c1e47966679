"""Category suggestions: one matching word is weak evidence, and only a sure suggestion is
chosen for the person (cases.ports.is_sure)."""

from __future__ import annotations

from civicgrid.cases.domain import Category
from civicgrid.cases.ports import SURE_CONFIDENCE, KeywordSuggester, is_sure


def category(code: str, name: str, keywords: str) -> Category:
    return Category(code=code, name=name, name_en=name, parent_code=code[:2], keywords=keywords)


CATEGORIES = [
    category("RD01", "道路破损", "坑 路面 破损 塌陷"),
    category("EL01", "养老服务", "老人 养老 助餐"),
]


def test_one_matching_word_is_never_sure() -> None:
    found = KeywordSuggester().suggest("老人说门口有点吵", CATEGORIES)
    assert [s.category_code for s in found] == ["EL01"]
    assert found[0].confidence == 0.5 < SURE_CONFIDENCE
    assert not is_sure([s.confidence for s in found])


def test_several_words_of_one_category_are_sure() -> None:
    found = KeywordSuggester().suggest("路面破损，一个大坑，还塌陷了", CATEGORIES)
    assert found[0].category_code == "RD01" and is_sure([s.confidence for s in found])


def test_a_close_second_keeps_the_choice_with_the_person() -> None:
    assert is_sure([0.9, 0.1]) and is_sure([0.7])
    assert not is_sure([0.65, 0.5]) and not is_sure([0.55]) and not is_sure([])
