"""`civicgrid insight …`: train and apply the message classifier on files, and retrain the
platform's category suggestions from closed cases."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table as RichTable

from civicgrid.console import DbOption, friendly_errors, locale, out, platform, progress_bar
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import N_, format_date, translate
from civicgrid.insight.classifier import (
    Evaluation,
    ModelFileError,
    TextClassifier,
    cross_validate,
    load_model,
    save_model,
)
from civicgrid.insight.files import read_table, write_csv
from civicgrid.insight.warnings.cli import warnings_cli

insight_cli = typer.Typer(
    help="Public-sentiment intelligence: message classification, hot issues, suggestions."
)
insight_cli.add_typer(warnings_cli, name="warnings")

InputOption = Annotated[Path, typer.Option("--input", help="CSV (UTF-8 or GBK) or xlsx file")]
TextCol = Annotated[str, typer.Option("--text-col", help="column with the message text")]
TitleCol = Annotated[
    str | None, typer.Option("--title-col", help="column with the message title (optional)")
]
CHUNK = 500


@insight_cli.command("train")
def train(
    input: InputOption,
    text_col: TextCol,
    label_col: Annotated[str, typer.Option("--label-col", help="column with the category")],
    out_path: Annotated[Path, typer.Option("--out", help="where to save the model")],
    title_col: TitleCol = None,
    unlabelled: Annotated[
        list[Path] | None,
        typer.Option(help="more messages without labels (same text/title columns)"),
    ] = None,
    taxonomy: Annotated[
        Path | None,
        typer.Option(help="CSV whose first column is a label and the others its terms"),
    ] = None,
    folds: Annotated[int, typer.Option(help="cross-validation folds for the scores (0: none)")] = 5,
) -> None:
    """Learn categories from labelled messages; saves MODEL and MODEL.json (labels, counts,
    cross-validated scores)."""
    with friendly_errors():
        table = read_table(input)
        messages = table.texts(text_col, title_col)
        labels = table.labels(label_col)
        if len(set(labels)) < 2:
            raise InvalidInput("insight_too_few_labels", labels=", ".join(sorted(set(labels))))
        extra = [
            m for path in unlabelled or [] for m in read_table(path).texts(text_col, title_col)
        ]
        terms = _taxonomy(taxonomy) if taxonomy else None
    options = {"taxonomy": terms, "unlabelled": extra}  # for each fold's model too
    evaluation: Evaluation | None = None
    with progress_bar() as progress:
        steps = progress.add_task("training", total=(folds if folds > 1 else 0) + 1)

        def say(stage: str) -> None:
            progress.update(steps, description=f"training: {stage}")

        def fold(stage: str) -> None:
            say(stage)
            progress.advance(steps)

        if folds > 1:
            evaluation, _ = cross_validate(
                TextClassifier,
                messages,
                labels,
                folds=folds,
                fit_options=options,
                progress=fold,
            )
        model = TextClassifier().fit(
            messages, labels, taxonomy=terms, unlabelled=extra, progress=say
        )
        progress.advance(steps)
    save_model(model, out_path, counts=Counter(labels), evaluation=evaluation)
    lang = locale()
    if evaluation:
        out.print(_scores_line(evaluation))
        out.print(per_label_table(evaluation))
    out.print(
        translate(
            "insight_trained",
            lang,
            {"count": len(messages), "labels": len(model.labels), "path": out_path},
        )
    )


@insight_cli.command("predict")
def predict(
    model_path: Annotated[Path, typer.Option("--model", help="a model saved by `train`")],
    input: InputOption,
    text_col: TextCol,
    out_path: Annotated[Path, typer.Option("--out", help="CSV to write")],
    title_col: TitleCol = None,
) -> None:
    """Add the columns `predicted` and `confidence` to every row of the file."""
    with friendly_errors():
        model = _load(model_path)
        table = read_table(input)
        messages = table.texts(text_col, title_col)
    results: list[tuple[str, float]] = []
    with progress_bar() as progress:
        task = progress.add_task("predicting", total=len(messages))
        for start in range(0, len(messages), CHUNK):
            chunk = messages[start : start + CHUNK]
            results.extend(model.predict(chunk))
            progress.advance(task, len(chunk))
    header = [*table.header, *(c for c in ("predicted", "confidence") if c not in table.header)]
    rows = [
        {**row, "predicted": label, "confidence": f"{confidence:.3f}"}
        for row, (label, confidence) in zip(table.rows, results, strict=True)
    ]
    write_csv(out_path, header, rows)
    out.print(translate("insight_predicted", locale(), {"count": len(rows), "path": out_path}))


def _load(path: Path) -> TextClassifier:
    try:
        return load_model(path)
    except (ModelFileError, OSError, EOFError, ValueError) as exc:
        raise InvalidInput("insight_model_missing", path=str(path), reason=str(exc)) from exc


def _taxonomy(path: Path) -> dict[str, list[str]]:
    table = read_table(path)
    first, rest = table.header[0], table.header[1:]
    terms: dict[str, list[str]] = defaultdict(list)
    for row in table.rows:
        words = " ".join(row.get(c, "") for c in rest).strip()
        if row.get(first, "").strip() and words:
            terms[row[first].strip()].append(words)
    return dict(terms)


def _scores_line(evaluation: Evaluation) -> str:
    return translate(
        "insight_scores",
        locale(),
        {
            "folds": evaluation.folds,
            "count": sum(score.support for score in evaluation.per_label.values()),
            "macro_f1": f"{evaluation.macro_f1:.3f}",
            "accuracy": f"{evaluation.accuracy:.3f}",
        },
    )


def per_label_table(evaluation: Evaluation, names: dict[str, str] | None = None) -> RichTable:
    table = RichTable("label", "messages", "precision", "recall (accuracy)", "F1")
    for label, score in sorted(evaluation.per_label.items()):
        shown = f"{label} {names[label]}" if names and label in names else label
        table.add_row(
            shown,
            str(score.support),
            f"{score.precision:.3f}",
            f"{score.recall:.3f}",
            f"{score.f1:.3f}",
        )
    return table


@insight_cli.command("retrain")
def retrain(
    db: DbOption = None,
    out_path: Annotated[
        Path | None,
        typer.Option("--out", help="default: $CIVICGRID_SUGGESTION_MODEL_PATH"),
    ] = None,
    folds: Annotated[int, typer.Option(help="cross-validation folds (0: no scores)")] = 5,
) -> None:
    """Retrain the category suggestions of intake from the closed cases (their final
    category, dispatchers' corrections included); prints the accuracy per category."""
    from civicgrid.core.db import UnitOfWork
    from civicgrid.core.permissions import SYSTEM
    from civicgrid.insight import services

    with platform(db) as built, UnitOfWork(built.session_factory) as uow, friendly_errors():
        path = out_path or Path(built.settings.suggestion_model_path)
        with progress_bar() as progress:
            task = progress.add_task("retraining", total=None)
            done = services.retrain_suggestions(
                uow,
                SYSTEM,
                path,
                folds=folds,
                progress=lambda stage: progress.update(task, description=f"retraining: {stage}"),
            )
    if done.evaluation:
        out.print(_scores_line(done.evaluation))
        out.print(per_label_table(done.evaluation, done.names))
    out.print(
        translate(
            "insight_retrained",
            locale(),
            {"count": done.count, "corrected": done.corrected, "path": done.path},
        )
    )


@insight_cli.command("hot")
def hot(
    input: InputOption,
    text_col: TextCol,
    title_col: TitleCol = None,
    time_col: Annotated[str | None, typer.Option("--time-col", help="when it was written")] = None,
    likes_col: Annotated[
        str | None, typer.Option("--likes-col", help="likes / supporters (点赞数)")
    ] = None,
    id_col: Annotated[str | None, typer.Option("--id-col", help="message number")] = None,
    top: Annotated[int, typer.Option(help="how many hot issues to print")] = 5,
    messages: Annotated[int, typer.Option(help="messages printed per hot issue")] = 5,
    half_life: Annotated[
        float, typer.Option(help="days after which a message's heat halves (from the newest)")
    ] = 30.0,
    out_path: Annotated[
        Path | None, typer.Option("--out", help="CSV of every hot issue's messages")
    ] = None,
) -> None:
    """Group messages about the same problem (same place, same complaint) into hot issues,
    ranked by heat (volume, likes, recency), and print the hottest with their messages."""
    from civicgrid.insight.hot import Post, hot_issues

    with friendly_errors():
        table = read_table(input)
        texts = table.texts(text_col, title_col)
        table.require(time_col, likes_col, id_col)
        posts = [
            Post(
                id=row.get(id_col, "") if id_col else str(number),
                title=title,
                text=text,
                at=_when(row.get(time_col, ""), number, time_col) if time_col else None,
                likes=_count(row.get(likes_col, ""), number, likes_col) if likes_col else 0,
            )
            for number, (row, (title, text)) in enumerate(
                zip(table.rows, texts, strict=True), start=2
            )
        ]
    with progress_bar() as progress:
        progress.add_task("grouping", total=None)
        issues = hot_issues(posts, half_life_days=half_life)
    lang = locale()
    for rank, issue in enumerate(issues[:top], start=1):
        # The file's own times, as written in it (no zone to convert from).
        span = (
            f"{format_date(issue.first.date(), lang)} – {format_date(issue.last.date(), lang)}"
            if issue.first and issue.last
            else "-"
        )
        out.print(
            translate(
                "insight_hot_issue",
                lang,
                {
                    "rank": rank,
                    "title": issue.title,
                    "place": issue.place or "-",
                    "span": span,
                    "count": issue.count,
                    "likes": issue.likes,
                    "heat": f"{issue.heat:.2f}",
                },
            )
        )
        for post in issue.posts[:messages]:
            when = format_date(post.at.date(), lang) if post.at else ""
            out.print(f"    {post.id}  {when}  👍{post.likes}  {post.title or post.text[:40]}")
    out.print(translate("insight_hot_summary", lang, {"issues": len(issues), "count": len(posts)}))
    if out_path:
        write_csv(
            out_path,
            ["rank", "hot_issue", "place", "heat", "id", "time", "likes", "title"],
            (
                {
                    "rank": rank,
                    "hot_issue": issue.title,
                    "place": issue.place,
                    "heat": issue.heat,
                    "id": post.id,
                    "time": post.at.isoformat(sep=" ") if post.at else "",
                    "likes": post.likes,
                    "title": post.title,
                }
                for rank, issue in enumerate(issues, start=1)
                for post in issue.posts
            ),
        )


def _when(value: str, row: int, column: str | None) -> datetime:
    text = value.strip()
    for pattern in (
        "%Y/%m/%d %H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
        "%Y/%m/%d %H:%M",
        "%Y/%m/%d",
        "%Y-%m-%d",
    ):
        try:
            return datetime.strptime(text, pattern)
        except ValueError:
            continue
    try:
        return datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInput("insight_bad_time", row=row, column=column, value=value) from exc


def _count(value: str, row: int, column: str | None) -> int:
    try:
        return int(float(value or 0))
    except ValueError as exc:
        raise InvalidInput("insight_bad_number", row=row, column=column, value=value) from exc


@insight_cli.command("urgency")
def urgency(
    input: InputOption,
    text_col: TextCol,
    out_path: Annotated[Path, typer.Option("--out", help="CSV to write")],
    title_col: TitleCol = None,
    threshold: Annotated[float, typer.Option(help="score from which a message is urgent")] = 0.6,
) -> None:
    """Add the columns `urgency` (0–1) and `urgency_reasons` (the words that raised it:
    threats, danger, vulnerable people, anger, time pressure), `sentiment` (−1 angry … 1
    grateful), `sentiment_label` and `sentiment_words` to every row of the file."""
    from civicgrid.insight.urgency import LexiconUrgency

    with friendly_errors():
        table = read_table(input)
        messages = table.texts(text_col, title_col)
    scorer = LexiconUrgency()
    scores = [scorer.score(f"{title} {text}") for title, text in messages]
    added = ("urgency", "urgency_reasons", "sentiment", "sentiment_label", "sentiment_words")
    extra = [c for c in added if c not in table.header]
    write_csv(
        out_path,
        [*table.header, *extra],
        (
            {
                **row,
                "urgency": f"{s.score:.3f}",
                "urgency_reasons": " ".join(s.reasons),
                "sentiment": f"{s.sentiment:.3f}",
                "sentiment_label": s.sentiment_label,
                "sentiment_words": " ".join(s.sentiment_words),
            }
            for row, s in zip(table.rows, scores, strict=True)
        ),
    )
    urgent = sum(1 for s in scores if s.score >= threshold)
    out.print(
        translate(
            "insight_urgency_done",
            locale(),
            {"count": len(scores), "urgent": urgent, "path": out_path},
        )
    )
    tones = Counter(s.sentiment_label for s in scores)
    out.print(
        translate(
            "insight_sentiment_done",
            locale(),
            {t: tones.get(t, 0) for t in ("negative", "neutral", "positive")},
        )
    )


@insight_cli.command("replies")
def replies(
    input: InputOption,
    out_path: Annotated[Path, typer.Option("--out", help="CSV to write")],
    question_col: Annotated[
        str, typer.Option("--question-col", help="column with the question's text")
    ] = "留言详情",
    title_col: Annotated[
        str | None, typer.Option("--title-col", help="column with the question's title")
    ] = "留言主题",
    reply_col: Annotated[
        str, typer.Option("--reply-col", help="column with the reply")
    ] = "答复意见",
    asked_col: Annotated[
        str | None, typer.Option("--asked-col", help="when it was asked (empty: unknown)")
    ] = "留言时间",
    replied_col: Annotated[
        str | None, typer.Option("--replied-col", help="when it was answered (empty: unknown)")
    ] = "答复时间",
    examples: Annotated[int, typer.Option(help="best and worst replies printed")] = 3,
) -> None:
    """Score every reply: relevance, completeness, concreteness and timeliness (0–1 each),
    a total 0–100 and the words behind each score; prints the mean, the distribution and
    the best and worst replies."""
    from statistics import mean, median

    from civicgrid.insight.replies import (
        ASPECTS,
        Exchange,
        ReplyScore,
        distribution,
        reasons_text,
    )
    from civicgrid.insight.replies import score_replies as score_all

    title_col, asked_col, replied_col = title_col or None, asked_col or None, replied_col or None
    with friendly_errors():
        table = read_table(input)
        table.require(question_col, title_col, reply_col, asked_col, replied_col)
        exchanges = [
            Exchange(
                title=row.get(title_col, "") if title_col else "",
                question=row.get(question_col, ""),
                reply=row.get(reply_col, ""),
                asked_at=_optional_time(row, number, asked_col),
                replied_at=_optional_time(row, number, replied_col),
            )
            for number, row in enumerate(table.rows, start=2)
        ]
    with progress_bar() as progress:
        progress.add_task("scoring", total=None)
        scores = score_all(exchanges)
    lang = locale()
    columns = ["reply_quality", *ASPECTS, "working_days", *(f"{a}_reasons" for a in ASPECTS)]
    extra = [c for c in columns if c not in table.header]

    def cells(score: ReplyScore) -> dict[str, object]:
        values: dict[str, object] = {"reply_quality": f"{score.total:.1f}"}
        for aspect, value in score.sub_scores().items():
            values[aspect] = "" if value is None else f"{value:.3f}"
            values[f"{aspect}_reasons"] = reasons_text(score.reasons[aspect], lang)
        values["working_days"] = "" if score.working_days is None else score.working_days
        return values

    write_csv(
        out_path,
        [*table.header, *extra],
        ({**row, **cells(score)} for row, score in zip(table.rows, scores, strict=True)),
    )
    totals = [s.total for s in scores]
    out.print(
        translate(
            "insight_replies_done",
            lang,
            {
                "count": len(scores),
                "mean": f"{mean(totals):.1f}",
                "median": f"{median(totals):.1f}",
                "path": out_path,
            },
        )
    )
    for aspect in ASPECTS:
        values = [v for s in scores if (v := s.sub_scores()[aspect]) is not None]
        if values:
            out.print(f"  {translate(f'reply.aspect.{aspect}', lang)}: {mean(values):.3f}")
    for band, count in distribution(totals).items():
        share = 100 * count / len(totals)
        out.print(f"  {band:>7}  {count:>6}  {share:5.1f}%  {'█' * round(share / 2)}")
    ranked = sorted(range(len(scores)), key=lambda i: scores[i].total)
    for key, picked in (
        (N_("insight_replies_best"), list(reversed(ranked))[:examples]),
        (N_("insight_replies_worst"), ranked[:examples]),
    ):
        if not picked:
            continue
        out.print(translate(key, lang))
        for i in picked:
            exchange, score = exchanges[i], scores[i]
            out.print(
                translate(
                    "insight_replies_example",
                    lang,
                    {
                        "row": i + 2,
                        "total": f"{score.total:.1f}",
                        "title": (exchange.title or exchange.question)[:30],
                        "reply": " ".join(exchange.reply.split())[:60],
                    },
                )
            )


def _optional_time(row: dict[str, str], number: int, column: str | None) -> datetime | None:
    """The time in COLUMN; None when the column is not used or the cell is empty."""
    if column is None or not row.get(column, "").strip():
        return None
    return _when(row[column], number, column)
