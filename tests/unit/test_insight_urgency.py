"""Urgency reads threats, danger, vulnerable people and anger, and says which words."""

from civicgrid.insight.urgency import LexiconUrgency

score = LexiconUrgency().score


def test_a_threat_alone_is_urgent() -> None:
    urgency = score("再不解决我就从楼上跳楼")
    assert urgency.score >= 0.6 and urgency.reasons == ("跳楼",)


def test_a_danger_to_children_is_urgent_a_danger_alone_is_not() -> None:
    assert score("小区燃气泄漏，孩子们还在楼下玩").score >= 0.6
    alone = score("路面塌陷")
    assert 0 < alone.score < 0.6 and alone.reasons == ("塌陷",)


def test_anger_raises_the_score_but_alone_is_not_urgent() -> None:
    assert 0 < score("物业不作为，忍无可忍").score < 0.6


def test_negated_danger_and_plain_complaints_are_calm() -> None:
    assert score("检查过了，没有安全隐患").score == 0
    assert score("楼下路灯不亮好几天了").score == 0


def test_reasons_are_not_repeated_inside_longer_words() -> None:
    assert score("发现燃气泄漏，十分危险").reasons == ("燃气泄漏", "危险")
