"""Bulk exports as files: CSV (UTF-8 with BOM, so Excel opens it), xlsx and Parquet,
written a chunk of rows at a time and handed on as bytes while the next chunk is read,
so an export of millions of rows never holds them all."""

from __future__ import annotations

import csv
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "parquet": "application/vnd.apache.parquet",
}
XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def csv_bytes(fields: list[str], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(fields)
    yield ("\ufeff" + buffer.getvalue()).encode()
    for rows in chunks:
        buffer.seek(0)
        buffer.truncate()
        writer.writerows([[_text(row.get(name)) for name in fields] for row in rows])
        yield buffer.getvalue().encode()


def parquet_bytes(fields: list[str], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    """Every column as text (masked values are text: 138****5678, 1985, a hash)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([(name, pa.string()) for name in fields])
    sink = io.BytesIO()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    try:
        for rows in chunks:
            columns = [[None if r.get(n) is None else str(r.get(n)) for r in rows] for n in fields]
            writer.write_table(
                pa.Table.from_arrays([pa.array(c, pa.string()) for c in columns], schema=schema)
            )
            data = sink.getvalue()
            if data:
                yield data
                sink.seek(0)
                sink.truncate()
    finally:
        writer.close()
    rest = sink.getvalue()
    if rest:
        yield rest


def xlsx_bytes(fields: list[str], chunks: Iterable[list[dict[str, Any]]]) -> Iterator[bytes]:
    """One sheet (xlsx has no streaming form: the workbook is written to a temporary file
    row by row in constant memory, then sent). Rows past a sheet's last are left out and
    the last row says so."""
    import xlsxwriter

    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        book = xlsxwriter.Workbook(path, {"constant_memory": True, "strings_to_numbers": False})
        sheet = book.add_worksheet("data")
        sheet.write_row(0, 0, fields)
        line = 1
        cut = False
        for rows in chunks:
            for row in rows:
                if line >= XLSX_MAX_ROWS:
                    cut = True
                    break
                sheet.write_row(line, 0, [_text(row.get(name)) for name in fields])
                line += 1
            if cut:
                break
        if cut:
            sheet.write_string(line, 0, "… (an xlsx sheet holds no more rows: use csv or parquet)")
        book.close()
        with open(path, "rb") as result:
            while block := result.read(1 << 20):
                yield block
    finally:
        os.unlink(path)


WRITERS = {"csv": csv_bytes, "xlsx": xlsx_bytes, "parquet": parquet_bytes}
