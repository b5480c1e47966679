"""The monthly report as Excel (a sheet per scheme, each with its chart) and as PDF (the
filters printed on every page, a chart and the ranking per scheme, long tables carried
over pages with their headings, in an embedded Chinese font)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from civicgrid.assess.domain import ObjectScore
from civicgrid.assess.ports import find_font
from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import N_, Locale, format_datetime, translate

if TYPE_CHECKING:
    from civicgrid.assess.services import Ranking

MONTH_STATES = {"open": N_("assess.month.open"), "frozen": N_("assess.month.frozen")}
TREND_MARKS = {"up": "↑", "down": "↓", "same": "→", "new": "·"}
CHART_ROWS = 15


@dataclass(frozen=True)
class Header:
    """What the report is of, printed on it: the area, the month and how it was computed."""

    area_code: str
    area_name: str
    month: str
    version: int
    revision: int
    state: str
    generated_at: datetime
    timezone: str
    engine: str
    by: str

    def lines(self, locale: Locale) -> list[str]:
        t = _t(locale)
        return [
            t(
                "assess.report.filters",
                area=f"{self.area_name} ({self.area_code})",
                month=self.month,
            ),
            t(
                "assess.report.basis",
                state=t(MONTH_STATES.get(self.state, self.state)),
                version=self.version,
                revision=self.revision,
                engine=self.engine,
                at=format_datetime(self.generated_at, locale, self.timezone),
                by=self.by,
            ),
        ]


def _t(locale: Locale) -> Any:
    def t(key: str, **params: Any) -> str:
        return translate(key, locale, params)

    return t


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _columns(ranking: Ranking, locale: Locale) -> list[str]:
    t = _t(locale)
    return [
        t("assess.report.rank"),
        t("assess.report.trend"),
        t("assess.report.object"),
        t("assess.report.score"),
        t("assess.report.grade"),
        *[ranking.indicators[i.indicator].name(locale) for i in ranking.scheme.items],
    ]


def _cells(ranking: Ranking, row: ObjectScore) -> list[str]:
    figures = [row.figures.get(i.indicator) for i in ranking.scheme.items]
    return [
        str(row.rank),
        TREND_MARKS[row.trend],
        ranking.name_of(row.object_code),
        f"{row.score:.1f}",
        row.grade,
        *[
            f"{percent(f.rate)} ({f.numerator}/{f.denominator})" if f is not None else "—"
            for f in figures
        ],
    ]


# ------------------------------------------------------------------ Excel


def excel(header: Header, rankings: Sequence[Ranking], locale: Locale) -> bytes:
    import xlsxwriter

    t = _t(locale)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    bold = book.add_format({"bold": True})
    title = book.add_format({"bold": True, "font_size": 14})
    pct = book.add_format({"num_format": "0.0%"})
    about = book.add_worksheet(t("assess.report.about_sheet")[:31])
    about.write(0, 0, t("assess.report.title", area=header.area_name, month=header.month), title)
    for n, line in enumerate(header.lines(locale), start=2):
        about.write(n, 0, line)
    about.set_column(0, 0, 100)
    used: set[str] = set()
    numerator_word = t(N_("assess.report.numerator"))
    denominator_word = t(N_("assess.report.denominator"))
    for ranking in rankings:
        name = "".join(c for c in ranking.scheme.name(locale) if c not in "[]:*?/\\")[:31]
        while name in used:
            name = name[:28] + f"~{len(used)}"
        used.add(name)
        sheet = book.add_worksheet(name)
        sheet.write(0, 0, ranking.scheme.name(locale), title)
        sheet.write(1, 0, header.lines(locale)[0])
        sheet.write(2, 0, header.lines(locale)[1])
        top = 4
        headings = [
            t("assess.report.rank"),
            t("assess.report.trend"),
            t("assess.report.code"),
            t("assess.report.object"),
            t("assess.report.score"),
            t("assess.report.grade"),
        ]
        for item in ranking.scheme.items:
            label = ranking.indicators[item.indicator].name(locale)
            headings += [
                label,
                f"{label} {numerator_word}",
                f"{label} {denominator_word}",
            ]
        sheet.write_row(top, 0, headings, bold)
        for n, row in enumerate(ranking.rows, start=top + 1):
            values: list[Any] = [
                row.rank,
                TREND_MARKS[row.trend],
                row.object_code,
                ranking.name_of(row.object_code),
                row.score,
                row.grade,
            ]
            sheet.write_row(n, 0, values)
            column = len(values)
            for item in ranking.scheme.items:
                figure = row.figures.get(item.indicator)
                if figure is not None and figure.rate is not None:
                    sheet.write_number(n, column, figure.rate, pct)
                else:
                    sheet.write(n, column, "—")
                sheet.write_number(n, column + 1, figure.numerator if figure else 0)
                sheet.write_number(n, column + 2, figure.denominator if figure else 0)
                column += 3
        sheet.freeze_panes(top + 1, 4)
        sheet.set_column(0, 2, 8)
        sheet.set_column(3, 3, 24)
        sheet.set_column(4, len(headings), 12)
        if ranking.rows:
            shown = min(len(ranking.rows), 20)
            chart = book.add_chart({"type": "bar"})
            chart.add_series(
                {
                    "name": t("assess.report.score"),
                    "categories": [name, top + 1, 3, top + shown, 3],
                    "values": [name, top + 1, 4, top + shown, 4],
                }
            )
            chart.set_title({"name": t("assess.report.chart", scheme=ranking.scheme.name(locale))})
            chart.set_legend({"none": True})
            chart.set_y_axis({"reverse": True})
            chart.set_x_axis({"min": 0, "max": 100})
            chart.set_size({"width": 640, "height": 24 * shown + 80})
            sheet.insert_chart(top, len(headings) + 1, chart)
    book.close()
    return buffer.getvalue()


# ------------------------------------------------------------------ PDF

FONT = "cjk"


def pdf(
    header: Header, rankings: Sequence[Ranking], locale: Locale, font_setting: str = ""
) -> bytes:
    from fpdf import FPDF

    font = find_font(font_setting)
    if font is None:
        raise InvalidInput("assess_pdf_font_missing", field="format")
    t = _t(locale)
    lines = header.lines(locale)
    title = t("assess.report.title", area=header.area_name, month=header.month)

    class Document(FPDF):
        def header(self) -> None:
            self.set_font(FONT, size=13)
            self.cell(0, 7, title, new_x="LMARGIN", new_y="NEXT")
            self.set_font(FONT, size=8)
            for line in lines:
                self.cell(0, 4.5, line, new_x="LMARGIN", new_y="NEXT")
            self.ln(2)

        def footer(self) -> None:
            self.set_y(-10)
            self.set_font(FONT, size=8)
            self.cell(0, 5, t("assess.report.page", page=self.page_no(), pages="{nb}"), align="C")

    document = Document(orientation="L", unit="mm", format="A4")
    document.set_title(title)
    document.set_creator("CivicGrid")
    document.add_font(FONT, fname=font[0], collection_font_number=font[1])
    document.set_auto_page_break(True, margin=14)
    document.alias_nb_pages()
    for ranking in rankings:
        document.add_page()
        document.set_font(FONT, size=12)
        document.cell(0, 8, ranking.scheme.name(locale), new_x="LMARGIN", new_y="NEXT")
        _chart(document, ranking, locale)
        columns = _columns(ranking, locale)
        document.set_font(FONT, size=8)
        if not ranking.rows:
            document.cell(0, 6, t("assess.report.nothing"), new_x="LMARGIN", new_y="NEXT")
            continue
        fixed = [12, 10, 50, 16, 12]
        rest = max(20.0, (document.epw - sum(fixed)) / max(1, len(columns) - len(fixed)))
        widths = [*fixed, *([rest] * (len(columns) - len(fixed)))]
        _table(document, widths, columns, [_cells(ranking, row) for row in ranking.rows])
    return bytes(document.output())


ROW_HEIGHT = 5.0


def _table(document: Any, widths: list[float], headings: list[str], rows: list[list[str]]) -> None:
    """Rows of cells, the headings again at the top of every page the table runs onto
    (drawn cell by cell: several times faster than a layout engine's table)."""

    def heading() -> None:
        document.set_fill_color(225, 232, 240)
        for width, text in zip(widths, headings, strict=True):
            document.cell(width, ROW_HEIGHT + 1, text, border=1, fill=True)
        document.ln(ROW_HEIGHT + 1)

    heading()
    for n, row in enumerate(rows):
        if document.will_page_break(ROW_HEIGHT):
            document.add_page()
            heading()
        document.set_fill_color(*((246, 248, 251) if n % 2 else (255, 255, 255)))
        for width, text in zip(widths, row, strict=True):
            document.cell(width, ROW_HEIGHT, text, border="B", fill=True)
        document.ln(ROW_HEIGHT)


def _chart(document: Any, ranking: Ranking, locale: Locale) -> None:
    """A bar per object (the best CHART_ROWS), 0–100 points across."""
    rows = ranking.rows[:CHART_ROWS]
    if not rows:
        return
    left = document.l_margin
    label_width, bar_width, height = 55.0, 150.0, 4.0
    document.set_font(FONT, size=7)
    top = document.get_y() + 1
    document.set_draw_color(180, 180, 180)
    for n, row in enumerate(rows):
        y = top + n * (height + 1)
        document.set_xy(left, y)
        document.cell(label_width, height, ranking.name_of(row.object_code)[:24])
        document.set_fill_color(*_grade_colour(row.grade))
        document.rect(
            left + label_width, y, bar_width * max(0.0, min(row.score, 100)) / 100, height, "F"
        )
        document.set_xy(left + label_width + bar_width + 2, y)
        document.cell(20, height, f"{row.score:.1f} {row.grade}")
    document.line(left + label_width, top - 0.5, left + label_width, top + len(rows) * (height + 1))
    document.set_fill_color(255, 255, 255)
    document.set_y(top + len(rows) * (height + 1) + 3)


def _grade_colour(grade: str) -> tuple[int, int, int]:
    return {
        "A": (46, 125, 50),
        "B": (104, 159, 56),
        "C": (251, 192, 45),
        "D": (245, 124, 0),
    }.get(grade, (198, 40, 40))
