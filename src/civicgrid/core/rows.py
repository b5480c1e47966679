"""Reading an import row by row, every bad row named: "row N, field F: problem".

Shared by every domain that takes in files (the taxonomy and the authority list, Open311's
attribute list and exports, the registry's records): where a problem is, how it reads in
either language, the rejected rows written back for correction, and the CSV basics.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Generic, TypeVar

from civicgrid.core.errors import InvalidInput
from civicgrid.core.i18n import Locale, translate

TRUE_WORDS = {"1", "true", "yes", "y", "是", "t"}
FALSE_WORDS = {"", "0", "false", "no", "n", "否", "f"}


@dataclass
class RowProblem:
    row: int  # as a spreadsheet counts: the header is row 1
    column: str
    key: str
    params: dict[str, Any] = field(default_factory=dict)

    def message(self, locale: Locale = "zh") -> str:
        reason = translate(self.key, locale, self.params)
        return translate(
            "row_problem", locale, {"row": self.row, "field": self.column, "reason": reason}
        )


T = TypeVar("T")


@dataclass
class Parsed(Generic[T]):
    items: list[tuple[int, T]] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    rows: dict[int, dict[str, str]] = field(default_factory=dict)

    def bad_rows(self) -> list[dict[str, str]]:
        """The rejected rows as read, each with an `_errors` column, for correction."""
        bad: dict[int, list[str]] = {}
        for problem in self.problems:
            bad.setdefault(problem.row, []).append(problem.message())
        return [{**self.rows[row], "_errors": "; ".join(msgs)} for row, msgs in sorted(bad.items())]


# The encodings files come in: UTF-8 (with or without a BOM), else GB18030, the superset
# of the GBK that Excel in China saves CSV as.
ENCODINGS = ("utf-8", "gb18030")
ENCODING_NAMES = {"utf-8": "UTF-8", "gb18030": "GB18030 (GBK)"}


@dataclass(frozen=True)
class Encoding:
    """What a file is written in, and whether every line of it is: a UTF-8 export with a
    row pasted in from a GBK one is UTF-8 with that line named, not GB18030 mojibake."""

    name: str  # "utf-8" or "gb18030"
    whole: bool
    lines: int


def file_encoding(path: Path) -> Encoding:
    """UTF-8 when the whole file decodes as such (read in blocks: the common case). Else
    the file is read line by line, as GB18030 decodes nearly any bytes, UTF-8 Chinese
    included: UTF-8 when most of its non-ASCII lines are, else GB18030; whole=False names
    the lines that are not (decoded_lines). A file mostly neither is refused."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    lines = 0
    try:
        with path.open("rb") as handle:
            while block := handle.read(1 << 20):
                decoder.decode(block)
                lines += block.count(b"\n")
            decoder.decode(b"", final=True)
        return Encoding("utf-8", True, lines)
    except UnicodeDecodeError:
        pass
    read = dict.fromkeys(ENCODINGS, 0)
    lines = mixed = 0
    with path.open("rb") as handle:
        for line in handle:
            lines += 1
            if line.isascii():
                continue
            mixed += 1
            for name in ENCODINGS:
                try:
                    line.decode(name)
                except UnicodeDecodeError:
                    continue
                read[name] += 1
    if read["utf-8"] * 2 > mixed:
        return Encoding("utf-8", False, lines)
    if read["gb18030"] * 2 <= mixed:
        raise InvalidInput("file_encoding", path=str(path))
    return Encoding("gb18030", read["gb18030"] == mixed, lines)


def decoded_lines(handle: BinaryIO, encoding: str, undecodable: dict[int, int]) -> Iterator[str]:
    """HANDLE's lines as text, each decoded on its own; a line that is not ENCODING is read
    with U+FFFD in place of what is not, and UNDECODABLE gets its number (1 = the first)
    → the byte offset in the file of its first such byte."""
    codec = "utf-8-sig" if encoding == "utf-8" else encoding
    offset = 0
    for number, line in enumerate(handle, start=1):
        try:
            text = line.decode(codec)
        except UnicodeDecodeError as exc:
            undecodable[number] = offset + exc.start
            text = line.decode(codec, errors="replace")
        offset += len(line)
        codec = encoding  # a BOM only ever starts the file
        yield text


@dataclass
class DecodedFile:
    text: str
    encoding: Encoding
    undecodable: dict[int, int] = field(default_factory=dict)  # line → byte offset

    def row_problem(self, row: int, lines: range) -> RowProblem | None:
        """The problem of row ROW, read from the file's LINES, when one of them is not in
        the file's encoding (the row was read with U+FFFD in its place)."""
        offsets = [self.undecodable[n] for n in lines if n in self.undecodable]
        return row_encoding_problem(row, offsets[0], self.encoding.name) if offsets else None

    def line_problem(self, path: Path) -> InvalidInput | None:
        """The file's first line that is not in its encoding, as an error naming it."""
        if not self.undecodable:
            return None
        line, offset = min(self.undecodable.items())
        return InvalidInput(
            "file_line_encoding",
            path=str(path),
            line=line,
            offset=offset,
            encoding=ENCODING_NAMES[self.encoding.name],
        )


def read_csv_file(path: Path) -> DecodedFile:
    """The file's text in its encoding (file_encoding), its undecodable lines named."""
    if not path.exists():
        raise InvalidInput("file_not_found", path=str(path))
    encoding = file_encoding(path)
    decoded = DecodedFile("", encoding)
    with path.open("rb") as handle:
        decoded.text = "".join(decoded_lines(handle, encoding.name, decoded.undecodable))
    return decoded


def read_csv_text(path: Path) -> str:
    """The text of a file imported all or nothing: a line not in the file's encoding
    refuses it, naming the line and the byte."""
    decoded = read_csv_file(path)
    problem = decoded.line_problem(path)
    if problem is not None:
        raise problem
    return decoded.text


def row_encoding_problem(row: int, offset: int, encoding: str) -> RowProblem:
    return RowProblem(
        row, "*", "row_encoding", {"offset": offset, "encoding": ENCODING_NAMES[encoding]}
    )


def csv_rows(text: str, required: list[str]) -> list[tuple[int, dict[str, str]]]:
    """(row number, cells by column) of each data row, names and cells stripped; cells
    beyond the header are dropped. A missing REQUIRED column rejects the whole file."""
    reader = csv.DictReader(io.StringIO(text))
    header = [(h or "").strip() for h in reader.fieldnames or []]
    missing = [c for c in required if c not in header]
    if missing:
        raise InvalidInput("csv_missing_columns", columns=", ".join(missing))
    return [
        (number, {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None})
        for number, row in enumerate(reader, start=2)
    ]


def read_flag(value: str, row: int, column: str, problems: list[RowProblem]) -> bool:
    """A yes/no cell ("是", "yes", "1", "" …); anything else is named in PROBLEMS (and reads
    as no)."""
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered not in FALSE_WORDS:
        problems.append(RowProblem(row, column, "csv_not_a_flag", {"value": value}))
    return False


def write_rejected_rows(path: Path, rows: list[dict[str, str]]) -> Path:
    target = path.with_name(path.stem + ".rejected.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        if rows:
            writer = csv.DictWriter(handle, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(rows)
    return target
