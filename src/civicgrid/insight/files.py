"""Reading message tables: CSV in UTF-8 or GBK (as Excel in China saves it), or xlsx."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from civicgrid.core.errors import InvalidInput


@dataclass
class Table:
    header: list[str]
    rows: list[dict[str, str]]  # row numbers as a spreadsheet shows them: the header is row 1

    def require(self, *columns: str | None) -> None:
        missing = [c for c in columns if c is not None and c not in self.header]
        if missing:
            raise InvalidInput(
                "insight_missing_columns",
                columns=", ".join(missing),
                available=", ".join(self.header),
            )

    def texts(self, text_col: str, title_col: str | None = None) -> list[tuple[str, str]]:
        """(title, text) of every row; a row with neither is an error naming its number."""
        self.require(text_col, title_col)
        out = []
        for number, row in enumerate(self.rows, start=2):
            title = row.get(title_col, "") if title_col else ""
            body = row.get(text_col, "")
            if not title.strip() and not body.strip():
                raise InvalidInput("insight_empty_text", row=number, column=text_col)
            out.append((title, body))
        return out

    def labels(self, label_col: str) -> list[str]:
        self.require(label_col)
        out = []
        for number, row in enumerate(self.rows, start=2):
            label = row.get(label_col, "").strip()
            if not label:
                raise InvalidInput("insight_empty_label", row=number, column=label_col)
            out.append(label)
        return out


def read_table(path: Path) -> Table:
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _table(_xlsx_rows(path), path)
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise InvalidInput("file_encoding", path=str(path))
    return _table(csv.reader(io.StringIO(text)), path)


def _xlsx_rows(path: Path) -> Iterable[Sequence[object]]:
    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a file that is not xlsx
        raise InvalidInput("insight_bad_excel", path=str(path)) from exc
    sheet = book.worksheets[0]
    for row in sheet.iter_rows(values_only=True):
        yield ["" if v is None else str(v) for v in row]


def _table(rows: Iterable[Sequence[object]], path: Path) -> Table:
    iterator = iter(rows)
    header = [str(h).strip() for h in next(iterator, [])]
    if not any(header):
        raise InvalidInput("insight_empty_file", path=str(path))
    body = []
    for row in iterator:
        cells = [str(c) for c in row]
        if not any(c.strip() for c in cells):
            continue
        body.append(dict(zip(header, cells, strict=False)))
    if not body:
        raise InvalidInput("insight_empty_file", path=str(path))
    return Table(header, body)


def write_csv(path: Path, header: list[str], rows: Iterable[Mapping[str, object]]) -> None:
    """UTF-8 with a byte-order mark, so Excel opens the Chinese text correctly."""
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
