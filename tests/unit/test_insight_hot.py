"""Hot issues group messages about one problem in one place and rank them by heat."""

from datetime import datetime, timedelta
from pathlib import Path

from civicgrid.insight.hot import Post, hot_issues, place_of

DAY = datetime(2019, 12, 1)


def post(n: int, title: str, text: str = "", days: int = 0, likes: int = 0) -> Post:
    return Post(str(n), title, text or title, DAY + timedelta(days=days), likes)


def test_the_place_drops_the_city_and_district_and_words_that_are_no_place() -> None:
    assert place_of(post(1, "A3区丽发新城小区附近搅拌站扰民")) == "丽发新城"
    assert place_of(post(2, "投诉小区附近搅拌站噪音", "楼下太吵")) == "搅拌站"
    assert place_of(post(3, "工资拖欠", "老板不发工资")) == ""


def test_messages_about_one_problem_in_one_place_form_one_hot_issue() -> None:
    posts = [
        post(1, "A2区丽发新城小区旁搅拌站噪音扰民", days=0, likes=3),
        post(2, "丽发新城小区附近搅拌站噪音太大", days=5),
        post(3, "丽发新城小区搅拌站粉尘噪音严重", days=9, likes=1),
        post(4, "阳光花园小区电梯经常故障", days=1),
        post(5, "阳光花园小区电梯故障困人", days=2),
        post(6, "某路口红绿灯时间太短", days=3),
    ]
    issues = hot_issues(posts)
    assert [sorted(p.id for p in i.posts) for i in issues] == [["1", "2", "3"], ["4", "5"]]
    first = issues[0]
    assert first.place == "丽发新城" and first.count == 3 and first.likes == 4
    assert (first.first, first.last) == (DAY, DAY + timedelta(days=9))
    assert first.posts[0].id == "1"  # most liked first


def test_recent_and_liked_messages_are_hotter() -> None:
    old = [post(i, "青山小区垃圾站臭气熏天", days=0) for i in range(3)]
    new = [post(10 + i, "绿水花园垃圾站臭气熏天", days=90) for i in range(3)]
    assert hot_issues(old + new)[0].place == "绿水花园"
    liked = [post(20 + i, "青山小区垃圾站臭气熏天", days=90, likes=50) for i in range(3)]
    assert hot_issues(liked + new)[0].place == "青山小区"


def test_hot_issues_of_the_message_board(shared_data: Path) -> None:
    from typer.testing import CliRunner

    from civicgrid.cli import app as cli

    result = CliRunner().invoke(
        cli,
        [
            "insight", "hot", "--input", str(shared_data / "teddy2020/messages_with_votes.csv"),
            "--text-col", "留言详情", "--title-col", "留言主题", "--time-col", "留言时间",
            "--likes-col", "点赞数", "--id-col", "留言编号", "--top", "1",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "丽发新城" in result.output.splitlines()[0] or "丽发新城" in result.output
