"""Reply quality: a concrete, timely answer to what was asked beats boilerplate, a late
answer loses timeliness, and every score says which words drove it."""

from datetime import datetime

from civicgrid.core.i18n import has_message
from civicgrid.insight.replies import (
    ASPECTS,
    Exchange,
    ReplyScorer,
    distribution,
    own_words,
    question_points,
    reasons_text,
    score_replies,
    working_days,
)

ASKED = datetime(2019, 4, 1, 9, 30)  # a Monday
TITLE = "A2区景蓉华苑小区停车收费过高"
QUESTION = (
    "景蓉华苑业委会未召开业主大会就定了停车收费方案，每月300元。"
    "请问这个收费标准是否合法？业委会能否不经业主大会就定价？"
)
CONCRETE = (
    "网友您好！您的留言已收悉。经调查，景蓉华苑业委会于2019年4月10日至4月27日召开了业主大会，"
    "超过三分之二的业主同意收取停车管理费，停车收费标准不高于周边小区价格。根据《物业管理条例》"
    "第十一条规定，停车收费标准由业主大会决定。区住房和城乡建设局已责成业委会依法依规重新公示"
    "收费方案，如有疑问请致电0731-0000-00000000。感谢您对我们工作的支持！2019年4月3日"
)
BOILERPLATE = "网友：您好！留言已收悉。感谢您对我们工作的关心、监督与支持。已转相关部门处理。"
OTHER = [
    Exchange("K1区路灯不亮", "芙蓉路路灯坏了一个月", "已安排路灯所于5月2日修复。"),
    Exchange("学校门口拥堵", "上学时间堵车严重，希望安排交警", "已转相关部门。"),
]


def scored(reply: str, replied: datetime | None = datetime(2019, 4, 3, 10, 0)) -> list:  # type: ignore[type-arg]
    exchange = Exchange(TITLE, QUESTION, reply, ASKED, replied)
    return score_replies([exchange, *OTHER])


def test_a_concrete_answer_scores_far_above_boilerplate() -> None:
    good, bad = scored(CONCRETE)[0], scored(BOILERPLATE)[0]
    assert good.total >= 70 > 30 >= bad.total
    for aspect in ("relevance", "completeness", "concreteness"):
        assert getattr(good, aspect) > getattr(bad, aspect)
    assert bad.completeness == bad.concreteness == 0
    assert [r.kind for r in bad.reasons["concreteness"]] == ["boilerplate_only"]
    assert "留言已收悉" in bad.reasons["concreteness"][0].detail


def test_the_reasons_name_the_words_behind_each_score() -> None:
    good = scored(CONCRETE)[0]
    kinds = {aspect: {r.kind: r.detail for r in good.reasons[aspect]} for aspect in ASPECTS}
    assert "景蓉华苑" in kinds["relevance"].get("place", "") + kinds["relevance"].get("shared", "")
    assert kinds["completeness"]["points"].endswith("/2")
    assert "2019年4月10日" in kinds["concreteness"]["date"]
    assert "0731-0000-00000000" in kinds["concreteness"]["phone"]
    assert "《物业管理条例》" in kinds["concreteness"]["law"]
    assert "已责成" in kinds["concreteness"]["action"]
    assert "区住房和城乡建设局" in kinds["concreteness"]["unit"]
    assert kinds["timeliness"] == {"working_days": "2"}
    text = reasons_text(good.reasons["concreteness"], "en")
    assert "legal basis: 根据《物业管理条例》" in text
    for reason in (r for reasons in good.reasons.values() for r in reasons):
        assert has_message(f"reply.reason.{reason.kind}")


def test_a_late_answer_loses_timeliness_and_total() -> None:
    timely = scored(CONCRETE)[0]
    late = scored(CONCRETE, datetime(2019, 4, 22, 9, 0))[0]
    very_late = scored(CONCRETE, datetime(2019, 7, 1, 9, 0))[0]
    assert timely.timeliness == 1.0 > late.timeliness > very_late.timeliness == 0.0  # type: ignore[operator]
    assert timely.total > late.total > very_late.total
    assert late.relevance == timely.relevance and late.concreteness == timely.concreteness


def test_without_a_time_the_total_leaves_timeliness_out() -> None:
    unknown = scored(CONCRETE, None)[0]
    assert unknown.timeliness is None and unknown.working_days is None
    assert [r.kind for r in unknown.reasons["timeliness"]] == ["no_time"]
    parts = {"relevance": 0.25, "completeness": 0.25, "concreteness": 0.30}
    expected = 100 * sum(w * getattr(unknown, a) for a, w in parts.items()) / 0.8
    assert abs(unknown.total - expected) < 0.2


def test_an_answer_about_something_else_is_not_relevant() -> None:
    elsewhere = "经查，芙蓉路路灯已于2019年4月2日由路灯管理所修复，并安排专人每周巡查。"
    off, on = scored(elsewhere)[0], scored(CONCRETE)[0]
    assert off.relevance < on.relevance / 2
    assert any(r.kind == "missed" for r in off.reasons["relevance"])


def test_an_empty_reply_says_so() -> None:
    empty = scored("")[0]
    assert empty.completeness == empty.concreteness == 0
    assert empty.reasons["completeness"][0].kind == "no_reply"


def test_working_days_skip_weekends() -> None:
    friday, monday = datetime(2019, 4, 5, 17, 0), datetime(2019, 4, 8, 9, 0)
    assert working_days(friday, monday) == 1
    assert working_days(ASKED, datetime(2019, 4, 15)) == 10
    assert working_days(ASKED, ASKED) == 0
    assert working_days(None, ASKED) is None


def test_boilerplate_is_taken_out_and_questions_split_into_points() -> None:
    assert own_words(BOILERPLATE) == ""
    assert (
        own_words("您好！您的留言已收悉。经核实，路灯已修复。2019年4月3日")
        == "经核实，路灯已修复。"
    )
    points = question_points(Exchange(TITLE, QUESTION, ""))
    assert points == ["请问这个收费标准是否合法", "业委会能否不经业主大会就定价"]
    assert question_points(Exchange("路灯不亮", "路灯坏了。", "")) == ["路灯不亮"]


def test_a_scorer_fitted_once_scores_new_replies() -> None:
    scorer = ReplyScorer().fit([Exchange(TITLE, QUESTION, CONCRETE), *OTHER])
    assert scorer.score(Exchange(TITLE, QUESTION, CONCRETE, ASKED, ASKED)).total > 70


def test_distribution_in_bands_of_twenty() -> None:
    assert distribution([0, 19.9, 20, 55, 79.9, 80, 100]) == {
        "0–19": 2,
        "20–39": 1,
        "40–59": 1,
        "60–79": 1,
        "80–100": 2,
    }
