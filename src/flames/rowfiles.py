"""Rows from the files people have: JSONL, JSON (an array of objects, or an object keyed by index, "0",
"1", ..., as OpenCompass writes), CSV, TSV, Excel `.xlsx` and Parquet, each row a dict of field → value.
The one reader of tabular files in the tool: prompt files, results files, label files and prompt design
imports all come through `iter_rows`.

Every row comes with its `Position` (an int: line, item or sheet row number) whose `label` says where it
is in words, so that errors can name the file, the row and the field. Text files are UTF-8 (a BOM is
fine); GB18030/GBK files, as Excel saves "CSV (逗号分隔)" on Chinese Windows, are read too, and any other
encoding when the caller names it.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from flames.storable import describe_code_point, unstorable_in

SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm")
GB_ENCODINGS = {"gb2312", "gbk", "gb18030", "cp936"}


class Position(int):
    """A row's place in its file: the number errors print, with how to say it (`line 3`, `item 3`,
    `sheet 'Sheet1', row 3`, `key '2'`)."""

    label: str

    def __new__(cls, number: int, label: str) -> Position:
        pos = super().__new__(cls, number)
        pos.label = label
        return pos


def describe(line: int) -> str:
    """Where a row is, in words: its Position's label, or `line N` for a plain number."""
    return line.label if isinstance(line, Position) else f"line {line}"


class PromptFileError(ValueError):
    """A prompt or results file that cannot be read; the message says where and how to fix it."""

    def __init__(self, path: Path | str, message: str, line: int | None = None, field: str | None = None):
        self.path, self.line, self.field, self.reason = str(path), line, field, message
        where = self.path + (f", {describe(line)}" if line is not None else "")
        where += f", field {field!r}" if field else ""
        super().__init__(f"{where}: {message}")


def require_file(path: Path, error: type[PromptFileError] = PromptFileError) -> None:
    """Raise `error` naming `path` unless it is a file: "is a directory" (with a few of its files) or "file
    not found"."""
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.is_file() and not p.name.startswith("."))[:3]
        hint = f" (it holds {', '.join(inside)}{', …' if len(inside) == 3 else ''})" if inside else " (it is empty)"
        raise error(path, f"is a directory, not a file: give the path of a file in it{hint}")
    if not path.is_file():
        raise error(path, "file not found")


def decode_text(path: Path, data: bytes, encoding: str | None = None) -> str:
    """Decode UTF-8 (BOM tolerated) or, when the bytes are GB18030 (GBK, GB2312), that; name the encoding
    and the fix for anything else (UTF-16, Big5, ...). With `encoding` (a Python codec name, e.g.
    `gb18030`), exactly that; PromptFileError says where the bytes are not valid in it."""
    if encoding is not None:
        try:
            return data.decode(encoding)
        except LookupError:
            raise PromptFileError(path, f"unknown encoding {encoding!r} (try utf-8, gb18030, utf-16)") from None
        except UnicodeDecodeError as err:
            line = data[: err.start].count(b"\n") + 1
            raise PromptFileError(path, f"not valid {encoding} at byte {err.start}; check --encoding", line) from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise PromptFileError(
            path, "file is UTF-16 encoded; convert it to UTF-8 (e.g. `iconv -f UTF-16 -t UTF-8 IN > OUT`)"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        from charset_normalizer import from_bytes

        best = from_bytes(data).best()
        guess = best.encoding if best else "unknown"
        if guess.lower() in GB_ENCODINGS:
            try:
                return data.decode("gb18030")
            except UnicodeDecodeError:
                pass
        if guess.lower() in {"hz", "big5", "utf_16", "utf_16_le", "utf_16_be"}:
            hint = f"it looks like {guess.upper()}; convert it with `iconv -f {guess.upper()} -t UTF-8 IN > OUT`"
        else:
            hint = f"it is not valid UTF-8 (best guess: {guess}); save it as UTF-8"
        raise PromptFileError(path, f"cannot decode as UTF-8 at byte {err.start}: {hint}", line) from err


def iter_rows(
    path: Path, *, encoding: str | None = None, sheet: str | None = None, keep_empty: bool = False
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (position, row) from a JSONL, JSON, CSV, TSV, `.xlsx` or Parquet file, positions counting from 1
    (file lines for JSONL, CSV and TSV; sheet rows for `.xlsx`, whose row 1 is the header; items for JSON).

    - `encoding`: of a text file (`decode_text`); None reads UTF-8, or GB18030 when the bytes are that.
    - `sheet`: the `.xlsx` sheet to read, by name (None: the first); ignored for other files.
    - `keep_empty`: empty cells of CSV, TSV and spreadsheets are kept as `""`, so a reader can tell an empty
      answer from a missing column; by default they are left out of the row. Rows whose every cell is empty
      are skipped either way; Parquet nulls are always left out.

    Raises PromptFileError naming the file and row for a file that is not of its kind.
    """
    for pos, row in _rows(path, encoding, sheet, keep_empty):
        for key, value in row.items():
            if (bad := unstorable_in(key) or unstorable_in(value)) is not None:
                pair = " (in JSON, `\\ud83d\\ude00` is one emoji; half of such a pair alone is no character)"
                raise PromptFileError(
                    path, f"invalid character {describe_code_point(bad)}; delete it, or write the character meant"
                    + (pair if bad != "\x00" else ""), pos, str(key),
                )  # fmt: skip
        yield pos, row


def _rows(
    path: Path, encoding: str | None, sheet: str | None, keep_empty: bool
) -> Iterator[tuple[int, dict[str, Any]]]:
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        yield from _iter_parquet(path)
        return
    if suffix in SPREADSHEET_SUFFIXES:
        yield from _iter_xlsx(path, sheet, keep_empty)
        return
    if suffix == ".xls":
        raise PromptFileError(path, "the old Excel .xls format is not read; save the sheet as .xlsx or CSV UTF-8")
    text = decode_text(path, path.read_bytes(), encoding)
    if suffix in (".csv", ".tsv"):
        yield from _table(path, text, "\t" if suffix == ".tsv" else ",", keep_empty)
        return
    head = text.lstrip()[:1]
    if head == "[":
        yield from _json_array(path, text)
    elif head == "{" and (keyed := _keyed_object(text)) is not None:
        yield from _keyed_rows(path, keyed)
    else:
        yield from _jsonl(path, text)


def _table(path: Path, text: str, delimiter: str, keep_empty: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """CSV or TSV rows, read strictly: a quoted value never closed, or text after a closing quote, is an error
    naming the row and column (read leniently, the first swallows the rest of the file into one value)."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    end = 0
    try:
        end = reader.line_num if reader.fieldnames is not None else 0  # the header is read here
        for row in reader:  # extra values sit under the key None, missing ones are None: neither is a cell
            end = reader.line_num
            cells = _cells(((k.strip(), v) for k, v in row.items() if k is not None), keep_empty)
            if cells is not None:
                yield reader.line_num, cells
    except csv.Error:
        start = end + 1
        column, problem = _quote_problem(text.split("\n")[start - 1 :], delimiter)
        names = list(reader.fieldnames or []) if end else []
        name = names[column].strip() if column is not None and column < len(names) else None
        raise PromptFileError(path, f"{problem}; a quote inside a value is written twice (\"\") and the"
                              " whole value quoted", start, name) from None  # fmt: skip


def _quote_problem(lines: list[str], delimiter: str) -> tuple[int | None, str]:
    """(column index, what is wrong) for the CSV record starting at `lines[0]` that the csv module refused."""
    column, quoted, after_quote, i = 0, False, False, 0
    text = "\n".join(lines)
    while i < len(text):
        c = text[i]
        if quoted:
            if c == '"' and text[i + 1 : i + 2] == '"':
                i += 1
            elif c == '"':
                quoted, after_quote = False, True
        elif c == delimiter:
            column, after_quote = column + 1, False
        elif c in "\r\n":
            break
        elif after_quote:
            return column, "text after the closing quote of a quoted value"
        elif c == '"' and (i == 0 or text[i - 1] == delimiter):
            quoted = True
        i += 1
    if quoted:
        return column, "a quoted value is opened here and never closed (the rest of the file would be read into it)"
    return None, "a malformed quoted value"


def _jsonl(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    # split on \n only: str.splitlines() also breaks at U+2028/U+2029 and other characters JSON allows in strings
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as err:
            raise PromptFileError(
                path,
                f"invalid JSON ({err.msg} at column {err.colno}); each line must be one JSON object (JSONL),"
                " or the whole file one JSON array of objects",
                n,
            ) from err
        if not isinstance(obj, dict):
            raise PromptFileError(path, f"expected a JSON object, got {type(obj).__name__}", n)
        yield n, obj


def _json_array(path: Path, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        items = json.loads(text)
    except json.JSONDecodeError as err:
        raise PromptFileError(path, f"invalid JSON ({err.msg} at column {err.colno})", err.lineno) from err
    if not isinstance(items, list):  # e.g. `[...] [...]`: json.loads already refused it
        raise PromptFileError(path, "expected one JSON array of objects")
    for n, obj in enumerate(items, start=1):
        pos = Position(n, f"item {n}")
        if not isinstance(obj, dict):
            raise PromptFileError(path, f"expected a JSON object, got {type(obj).__name__}", pos)
        yield pos, obj


def _keyed_object(text: str) -> dict[str, dict[str, Any]] | None:
    """The whole text as one JSON object keyed by index whose values are objects (OpenCompass:
    {"0": {...}, "1": {...}}), else None (one JSONL row, or JSONL with several lines)."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return None
    if isinstance(obj, dict) and obj and all(k.isdigit() and isinstance(v, dict) for k, v in obj.items()):
        return obj
    return None


def _keyed_rows(path: Path, obj: dict[str, dict[str, Any]]) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, (key, row) in enumerate(obj.items(), start=1):
        yield Position(n, f"key {key!r}"), row


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _cells(pairs: Iterable[tuple[str, Any]], keep_empty: bool) -> dict[str, Any] | None:
    """A table row from its (column, value) pairs, or None when every cell is empty. Cells of unnamed
    columns are dropped; empty ones (None, "") are kept as "" with `keep_empty`, else left out."""
    named = [(k, v) for k, v in pairs if k]
    if all(_blank(v) for _, v in named):
        return None
    if keep_empty:
        return {k: "" if v is None else v for k, v in named}
    return {k: v for k, v in named if v is not None and v != ""}


def _iter_xlsx(path: Path, sheet_name: str | None, keep_empty: bool) -> Iterator[tuple[int, dict[str, Any]]]:
    """The sheet named `sheet_name` (None: the first); its first row names the fields. Cached values are
    read for formula cells."""
    try:
        from openpyxl import load_workbook
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise PromptFileError(path, "reading .xlsx needs openpyxl: pip install 'flames-eval[xlsx]'") from err
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as err:  # openpyxl raises zipfile, KeyError and its own errors for a broken file
        raise PromptFileError(path, f"not a readable .xlsx workbook ({type(err).__name__}: {err})") from err
    try:
        if sheet_name is not None and sheet_name not in book.sheetnames:
            raise PromptFileError(path, f"no sheet {sheet_name!r}; sheets: {', '.join(book.sheetnames)}")
        sheet = book[sheet_name] if sheet_name is not None else book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        seen = [h for h in header if h]
        if not seen:
            raise PromptFileError(path, f"sheet {sheet.title!r}: the first row must name the columns", 1)
        if dupes := sorted({h for h in seen if seen.count(h) > 1}):
            raise PromptFileError(path, f"sheet {sheet.title!r}: column {dupes[0]!r} appears twice in the header", 1)
        for n, values in enumerate(rows, start=2):
            row = _cells(zip(header, values, strict=False), keep_empty)
            if row is not None:
                yield Position(n, f"sheet {sheet.title!r}, row {n}"), row
    finally:
        book.close()


def _iter_parquet(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        import pyarrow.parquet as pq
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise PromptFileError(path, "reading Parquet needs pyarrow: pip install 'flames-eval[parquet]'") from err
    for n, row in enumerate(pq.read_table(path).to_pylist(), start=1):
        yield Position(n, f"row {n}"), {k: v for k, v in row.items() if v is not None}
