"""The message classifier on a few hand-made messages: it learns, ranks, saves and loads,
reads files in the encodings cities use, and names what is wrong with a file."""

from pathlib import Path

import pytest

from civicgrid.core.errors import InvalidInput
from civicgrid.insight.classifier import (
    MODEL_FORMAT,
    Settings,
    TextClassifier,
    cross_validate,
    evaluate,
    load_model,
    read_sidecar,
    save_model,
)
from civicgrid.insight.files import read_table

NOISE = [
    ("楼上装修噪音太大", "每天早上七点就开始电钻施工，吵得老人孩子无法休息"),
    ("广场舞噪音扰民", "小区广场舞音响声音太大，晚上十点还不停"),
    ("工地夜间施工噪音", "工地半夜还在打桩，噪音严重影响睡眠"),
    ("酒吧噪音", "楼下酒吧音乐声太吵，凌晨还有噪音"),
]
WAGES = [
    ("拖欠工资", "公司已经三个月没有发工资，老板一直拖欠"),
    ("农民工工资被拖欠", "工地包工头拖欠农民工工资，讨薪无门"),
    ("社保没有缴纳", "单位没有给员工缴纳社保，工资也拖欠"),
    ("要求支付加班工资", "公司长期加班不给加班工资，也不签劳动合同"),
]
SCHOOL = [
    ("学校乱收费", "学校以补课名义向学生收取费用"),
    ("幼儿园入学难", "孩子上幼儿园报名排不上，学位不够"),
    ("中学课业负担重", "学校布置作业太多，学生每天写到深夜"),
    ("学区划分不合理", "小区孩子被划到很远的小学上学"),
]
MESSAGES = NOISE + WAGES + SCHOOL
LABELS = ["噪音"] * 4 + ["劳动"] * 4 + ["教育"] * 4
SMALL = Settings(min_df=1, char_min_df=1, title_min_df=1)


@pytest.fixture(scope="module")
def model() -> TextClassifier:
    return TextClassifier(SMALL).fit(
        MESSAGES,
        LABELS,
        taxonomy={"教育": ["学校 教师 学生 招生"], "噪音": ["噪声 扰民"]},
        unlabelled=[("", "半夜装修电钻声音很吵"), ("", "老板欠薪不发工资")],
    )


def test_it_learns_the_categories_from_labelled_messages(model: TextClassifier) -> None:
    assert model.labels == ["劳动", "噪音", "教育"]
    predicted = model.predict(
        [("", "隔壁工地晚上施工噪音很大"), ("", "公司拖欠我两个月工资"), ("", "学校收费不合理")]
    )
    assert [label for label, _ in predicted] == ["噪音", "劳动", "教育"]
    assert all(0 < confidence <= 1 for _, confidence in predicted)


def test_the_taxonomy_teaches_words_no_message_used(model: TextClassifier) -> None:
    assert model.predict([("", "招生")])[0][0] == "教育"


def test_ranked_answers_every_label_best_first(model: TextClassifier) -> None:
    ranked = model.ranked(("", "拖欠工资"), limit=3)
    assert ranked[0][0] == "劳动"
    assert [s for _, s in ranked] == sorted((s for _, s in ranked), reverse=True)
    assert sum(s for _, s in ranked) == pytest.approx(1.0)


def test_a_saved_model_loads_with_its_sidecar(model: TextClassifier, tmp_path: Path) -> None:
    path = tmp_path / "m.joblib"
    save_model(model, path, counts={"噪音": 4, "劳动": 4, "教育": 4}, evaluation=None)
    again = load_model(path)
    assert again.predict([("", "拖欠工资")]) == model.predict([("", "拖欠工资")])
    meta = read_sidecar(path)
    assert meta["labels"] == model.labels and meta["format"] == MODEL_FORMAT == 2


def test_cross_validation_keeps_each_fold_out_of_its_training() -> None:
    seen: list[int] = []

    class Recorder:
        def fit(self, messages: list[tuple[str, str]], labels: list[str]) -> "Recorder":
            seen.append(len(messages))
            self.known = {m for m in messages}
            return self

        def predict(self, messages: list[tuple[str, str]]) -> list[tuple[str, float]]:
            assert not self.known & set(messages)
            return [("噪音", 1.0) for _ in messages]

    scores, predicted = cross_validate(Recorder, MESSAGES, LABELS, folds=4)
    assert seen == [9, 9, 9, 9] and len(predicted) == 12
    assert scores.accuracy == pytest.approx(4 / 12)


def test_scores_per_label() -> None:
    scores = evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"])
    assert scores.accuracy == 0.75
    assert scores.per_label["a"].recall == 0.5 and scores.per_label["b"].precision == 2 / 3
    assert scores.macro_f1 == pytest.approx((2 / 3 + 0.8) / 2)


def test_gbk_utf8_and_excel_files_read_alike(tmp_path: Path) -> None:
    from openpyxl import Workbook

    text = "标题,内容\n噪音,楼上太吵\n"
    (tmp_path / "u.csv").write_text(text, encoding="utf-8-sig")
    (tmp_path / "g.csv").write_bytes(text.encode("gbk"))
    book = Workbook()
    book.active.append(["标题", "内容"])
    book.active.append(["噪音", "楼上太吵"])
    book.save(tmp_path / "x.xlsx")
    for name in ("u.csv", "g.csv", "x.xlsx"):
        assert read_table(tmp_path / name).texts("内容", "标题") == [("噪音", "楼上太吵")]


def test_file_mistakes_name_the_column_or_row(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text("标题,内容,分类\n噪音,楼上太吵,噪音\n空,,\n", encoding="utf-8")
    table = read_table(path)
    with pytest.raises(InvalidInput) as missing:
        table.texts("正文")
    assert missing.value.message_key == "insight_missing_columns"
    assert missing.value.params["columns"] == "正文"
    with pytest.raises(InvalidInput) as empty_label:
        table.labels("分类")
    assert empty_label.value.params["row"] == 3
    (tmp_path / "e.csv").write_text("", encoding="utf-8")
    with pytest.raises(InvalidInput) as empty:
        read_table(tmp_path / "e.csv")
    assert empty.value.message_key == "insight_empty_file"
