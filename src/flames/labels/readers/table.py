"""Rows of a label file, whatever its container: JSONL, JSON array, CSV/TSV (any encoding), xlsx, Parquet.

Unlike prompt files, empty cells are kept (as ''), so a reader can tell an empty answer from a missing
column. Row numbers count as a person sees them: file lines for JSONL and CSV, sheet rows for xlsx, array
positions (from 1) for JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flames.labels.records import LabelFileError
from flames.rowfiles import decode_text, iter_rows

Row = tuple[int, dict[str, Any]]


def decode(path: Path, encoding: str | None) -> str:
    """The file as text: UTF-8 (BOM tolerated, with a hint naming the real encoding when it is not), or the
    given `encoding` (e.g. gb18030)."""
    data = path.read_bytes()
    if encoding is None:
        return decode_text(path, data)
    try:
        return data.decode(encoding)
    except LookupError:
        raise LabelFileError(path, f"unknown encoding {encoding!r} (try utf-8, gb18030, utf-16)") from None
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise LabelFileError(path, f"not valid {encoding} at byte {err.start}; check --encoding", line) from None


def read_rows(path: Path | str, encoding: str | None = None, sheet: str | None = None) -> Iterator[Row]:
    """(row number, {column: value}) for every data row; raises LabelFileError for unreadable files."""
    path = Path(path)
    if not path.is_file():
        raise LabelFileError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        yield from _xlsx(path, sheet)
    elif suffix in (".csv", ".tsv"):
        yield from _csv(decode(path, encoding), "\t" if suffix == ".tsv" else ",")
    elif suffix == ".json":
        yield from _json_array(path, decode(path, encoding))
    else:
        yield from iter_rows(path)


def _csv(text: str, delimiter: str) -> Iterator[Row]:
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    for row in reader:
        yield reader.line_num, {k.strip(): ("" if v is None else v) for k, v in row.items() if k is not None}


def _json_array(path: Path, text: str) -> Iterator[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise LabelFileError(path, f"not valid JSON ({err.msg} at line {err.lineno}); a .json file holds one"
                             " array of objects (use .jsonl for one object per line)", err.lineno) from None
    if not isinstance(data, list):
        raise LabelFileError(path, f"expected a JSON array of objects, got {type(data).__name__}")
    for n, obj in enumerate(data, 1):
        if not isinstance(obj, dict):
            raise LabelFileError(path, f"array element {n} is {type(obj).__name__}, not an object", n)
        yield n, obj


def _xlsx(path: Path, sheet: str | None) -> Iterator[Row]:
    try:
        import openpyxl
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise LabelFileError(path, "reading .xlsx needs openpyxl: pip install 'flames-eval[xlsx]'") from err
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise LabelFileError(path, f"no sheet {sheet!r}; sheets: {', '.join(book.sheetnames)}")
        ws = book[sheet] if sheet is not None else book.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = next(rows, None)
        if header is None:
            return
        names = [str(h).strip() if h is not None else "" for h in header]
        for n, values in enumerate(rows, 2):
            if all(v is None or str(v).strip() == "" for v in values):
                continue
            yield n, {k: ("" if v is None else v) for k, v in zip(names, values, strict=False) if k}
    finally:
        book.close()
