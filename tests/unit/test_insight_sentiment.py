"""The tone of a message, with the words that set it."""

from __future__ import annotations

import pytest

from civicgrid.insight.sentiment import LexiconSentiment

tone = LexiconSentiment().score


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("非常感谢社区工作人员及时解决了我们小区的停水问题", "positive"),
        ("楼下夜间施工噪音太大，投诉多次无人管，忍无可忍！！", "negative"),
        ("物业不作为，电梯经常停运，非常不满", "negative"),
        ("对处理结果不满意，问题没有解决", "negative"),
        ("反映多次一直没有回复", "negative"),
        ("咨询一下公积金提取需要哪些材料", "neutral"),
        ("希望尽快处理", "neutral"),  # a request, not praise
        ("工地已经不再扰民了，谢谢", "neutral"),  # thanks alone is politeness
        ("工地已经不再扰民了，非常满意", "positive"),
        ("A2区工地拖欠工资，态度恶劣，万分感谢", "negative"),
    ],
)
def test_the_tone_of_citizens_messages(text: str, label: str) -> None:
    assert tone(text).label == label


def test_the_words_are_shown_as_written_with_their_degree_and_negation() -> None:
    assert tone("物业不作为，电梯经常停运，非常不满").words == ("不作为", "非常不满")
    assert tone("不及时处理，太过分了").words == ("不及时", "太过分")


def test_feelings_weigh_more_than_naming_a_problem() -> None:
    assert tone("忍无可忍").score < tone("噪音扰民").score < 0


def test_the_score_stays_between_minus_one_and_one() -> None:
    furious = tone("愤怒！！忍无可忍，欺人太甚，绝望，走投无路，强烈不满" * 5)
    assert -1 <= furious.score < -0.95
    assert tone("衷心感谢" * 10).score <= 1
