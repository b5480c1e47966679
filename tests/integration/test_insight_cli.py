"""`civicgrid insight train / predict`: a round trip on a small file, and clear errors."""

import csv
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from civicgrid.cli import app as cli
from tests.unit.test_insight_classifier import LABELS, MESSAGES


def run(*args: str | Path) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def write(path: Path, rows: list[list[str]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def labelled(path: Path, encoding: str = "utf-8") -> Path:
    rows = [["主题", "详情", "分类"]] + [
        [t, x, y] for (t, x), y in zip(MESSAGES, LABELS, strict=True)
    ]
    return write(path, rows, encoding)


def test_train_then_predict_adds_predicted_and_confidence(tmp_path: Path) -> None:
    model = tmp_path / "model.joblib"
    trained = run(
        "insight", "train", "--input", labelled(tmp_path / "l.csv"), "--text-col", "详情",
        "--title-col", "主题", "--label-col", "分类", "--out", model, "--folds", "2",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.output
    assert model.exists() and (tmp_path / "model.joblib.json").exists()
    assert "macro-F1" in trained.output or "宏平均" in trained.output
    new = write(tmp_path / "new.csv", [["编号", "详情"], ["1", "公司拖欠工资三个月"]], "gbk")
    result = tmp_path / "pred.csv"
    predicted = run(
        "insight", "predict", "--model", model, "--input", new, "--text-col", "详情",
        "--out", result,
    )  # fmt: skip
    assert predicted.exit_code == 0, predicted.output
    rows = list(csv.DictReader(result.open(encoding="utf-8-sig")))
    assert rows[0]["编号"] == "1" and rows[0]["predicted"] == "劳动"
    assert 0 < float(rows[0]["confidence"]) <= 1


def test_a_gbk_training_file_is_read(tmp_path: Path) -> None:
    result = run(
        "insight", "train", "--input", labelled(tmp_path / "g.csv", "gbk"), "--text-col", "详情",
        "--label-col", "分类", "--out", tmp_path / "m.joblib", "--folds", "0",
    )  # fmt: skip
    assert result.exit_code == 0, result.output


def test_bad_input_is_explained(tmp_path: Path) -> None:
    source = labelled(tmp_path / "l.csv")
    missing = run(
        "insight", "train", "--input", source, "--text-col", "正文", "--label-col", "分类",
        "--out", tmp_path / "m.joblib",
    )  # fmt: skip
    assert missing.exit_code == 1 and "正文" in missing.output and "详情" in missing.output
    empty = write(tmp_path / "empty.csv", [["详情", "分类"]])
    nothing = run(
        "insight", "train", "--input", empty, "--text-col", "详情", "--label-col", "分类",
        "--out", tmp_path / "m.joblib",
    )  # fmt: skip
    assert nothing.exit_code == 1 and "没有数据行" in nothing.output
    no_model = run(
        "insight", "predict", "--model", tmp_path / "none.joblib", "--input", source,
        "--text-col", "详情", "--out", tmp_path / "p.csv",
    )  # fmt: skip
    assert no_model.exit_code == 1 and "none.joblib" in no_model.output


def test_hot_issues_from_a_file_and_a_bad_time(tmp_path: Path) -> None:
    rows = [["编号", "主题", "详情", "时间", "点赞数"]] + [
        [str(n), "阳光花园小区电梯故障困人", "电梯又坏了", f"2019/12/{n} 9:00:00", str(n)]
        for n in range(1, 4)
    ]
    source = write(tmp_path / "hot.csv", rows, "gbk")
    options = ["--text-col", "详情", "--title-col", "主题", "--time-col", "时间"]
    result = run(
        "insight", "hot", "--input", source, *options, "--likes-col", "点赞数",
        "--id-col", "编号", "--out", tmp_path / "hot_out.csv",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "阳光花园" in result.output and "2019年12月1日 – 2019年12月3日" in result.output
    assert len(list(csv.DictReader((tmp_path / "hot_out.csv").open(encoding="utf-8-sig")))) == 3
    bad = write(tmp_path / "bad.csv", [*rows[:2], ["9", "电梯", "坏了", "昨天", "0"]])
    wrong = run("insight", "hot", "--input", bad, *options)
    assert wrong.exit_code == 1 and "第 3 行" in wrong.output and "昨天" in wrong.output


def test_urgency_of_each_message_with_its_reasons(tmp_path: Path) -> None:
    rows = [["详情"], ["楼道里燃气泄漏，家里有老人"], ["路灯不亮"], ["物业不作为，非常不满"]]
    source = write(tmp_path / "u.csv", rows)
    result = run(
        "insight", "urgency", "--input", source, "--text-col", "详情", "--out", tmp_path / "o.csv"
    )
    assert result.exit_code == 0, result.output
    scored = list(csv.DictReader((tmp_path / "o.csv").open(encoding="utf-8-sig")))
    assert float(scored[0]["urgency"]) >= 0.6 and scored[0]["urgency_reasons"] == "燃气泄漏 老人"
    assert float(scored[1]["urgency"]) == 0 and scored[1]["urgency_reasons"] == ""
    assert (scored[2]["sentiment_label"], scored[2]["sentiment_words"]) == (
        "negative",
        "不作为 非常不满",
    )
    assert "负面 1 条" in result.output
