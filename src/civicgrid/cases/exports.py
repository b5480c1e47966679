"""A list of cases as an Excel workbook (xlsxwriter), from what services.export_cases
gives: its columns and rows already in the reader's language, masked for her, with times
in the city's time zone."""

from __future__ import annotations

import io
from collections.abc import Sequence

from civicgrid.cases.services import CaseExport

# Column widths (characters) by the columns' order in services.EXPORT_COLUMNS.
WIDTHS = (8, 36, 14, 10, 8, 8, 10, 18, 28, 11, 11, 22, 17, 17, 6, 12, 14, 60)


def workbook(export: CaseExport, title: str, notes: Sequence[str]) -> bytes:
    """One sheet: TITLE and NOTES above a header row with a filter, frozen under it; times
    as Excel dates (yyyy-mm-dd hh:mm), so they sort and filter as times."""
    import xlsxwriter

    buffer = io.BytesIO()
    # constant_memory writes row by row: a hundred thousand cases stay small in memory.
    book = xlsxwriter.Workbook(
        buffer, {"in_memory": True, "constant_memory": True, "strings_to_numbers": False}
    )
    bold = book.add_format({"bold": True, "bg_color": "#E8EEF9", "border": 1})
    heading = book.add_format({"bold": True, "font_size": 13})
    when = book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    sheet = book.add_worksheet("cases")
    for column, width in enumerate(WIDTHS[: len(export.columns)]):
        sheet.set_column(column, column, width)
    sheet.write_string(0, 0, title, heading)
    for n, note in enumerate(notes, start=1):
        sheet.write_string(n, 0, note)
    top = len(notes) + 2
    sheet.write_row(top, 0, export.columns, bold)
    for n, row in enumerate(export.rows, start=top + 1):
        for column, value in enumerate(row):
            if value is None or value == "":
                continue
            if column in export.datetime_columns:
                sheet.write_datetime(n, column, value, when)
            elif isinstance(value, int | float):
                sheet.write_number(n, column, value)
            else:
                # Text as typed: a title that starts with "=" is not a formula.
                sheet.write_string(n, column, str(value))
    sheet.freeze_panes(top + 1, 1)
    last = top + max(len(export.rows), 1)
    sheet.autofilter(top, 0, last, len(export.columns) - 1)
    book.close()
    return buffer.getvalue()
