"""`civicgrid insight replies`: every reply of a file scored with its reasons, a summary,
clear errors; and the official replies of the shared data."""

import csv
from pathlib import Path

from tests.integration.test_insight_cli import run, write
from tests.unit.test_insight_replies import BOILERPLATE, CONCRETE, QUESTION, TITLE

HEADER = ["留言编号", "留言主题", "留言详情", "答复意见", "留言时间", "答复时间"]


def test_each_reply_gets_scores_and_reasons_and_a_summary(tmp_path: Path) -> None:
    rows = [
        HEADER,
        ["1", TITLE, QUESTION, CONCRETE, "2019/4/1 9:30:00", "2019/4/3 10:00:00"],
        ["2", TITLE, QUESTION, BOILERPLATE, "2019/4/1 9:30:00", "2019/6/3"],
        ["3", "路灯不亮", "芙蓉路路灯坏了一个月", "已安排路灯所于5月2日修复。", "2019-04-01", ""],
    ]
    source = write(tmp_path / "replies.csv", rows, "gbk")
    out = tmp_path / "scored.csv"
    result = run("insight", "replies", "--input", source, "--out", out)
    assert result.exit_code == 0, result.output
    assert "3 条答复" in result.output and "最差的答复" in result.output
    assert out.read_bytes().startswith(b"\xef\xbb\xbf")  # Excel reads the BOM as UTF-8
    scored = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert [r["留言编号"] for r in scored] == ["1", "2", "3"]
    good, bad, undated = scored
    assert float(good["reply_quality"]) > 70 > 30 > float(bad["reply_quality"])
    assert "2019年4月10日" in good["concreteness_reasons"]
    assert "只有套话" in bad["concreteness_reasons"]
    assert good["working_days"] == "2" and good["timeliness"] == "1.000"
    assert undated["timeliness"] == "" and "缺少" in undated["timeliness_reasons"]


def test_other_column_names_and_clear_errors(tmp_path: Path) -> None:
    rows = [["问", "答", "提问", "回复"], [QUESTION, CONCRETE, "2019-04-01", "明天"]]
    source = write(tmp_path / "other.csv", rows)
    options = ["--question-col", "问", "--reply-col", "答", "--title-col", ""]
    missing = run("insight", "replies", "--input", source, *options, "--out", tmp_path / "o.csv")
    assert missing.exit_code == 1 and "留言时间" in missing.output and "提问" in missing.output
    times = ["--asked-col", "提问", "--replied-col", "回复"]
    bad = run(
        "insight", "replies", "--input", source, *options, *times, "--out", tmp_path / "o.csv"
    )
    assert bad.exit_code == 1
    assert "第 2 行" in bad.output and "回复" in bad.output and "明天" in bad.output


def test_the_official_replies_of_the_shared_data(shared_data: Path, tmp_path: Path) -> None:
    source = shared_data / "teddy2020" / "messages_with_replies.csv"
    out = tmp_path / "scored.csv"
    result = run("insight", "replies", "--input", source, "--out", out)
    assert result.exit_code == 0, result.output
    scored = list(csv.DictReader(out.open(encoding="utf-8-sig")))
    assert len(scored) == 2816
    totals = sorted(float(r["reply_quality"]) for r in scored)
    assert 40 < sum(totals) / len(totals) < 60
    bare = [
        float(r["reply_quality"])
        for r in scored
        if r["答复意见"].strip() == "网友：您好！留言已收悉"
    ]
    assert bare and max(bare) < 25
    best = max(scored, key=lambda r: float(r["reply_quality"]))
    assert float(best["concreteness"]) > 0.7 and int(best["working_days"]) <= 10
