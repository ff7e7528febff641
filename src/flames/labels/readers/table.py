"""Rows of a label file, whatever its container: JSONL, JSON, CSV/TSV (any encoding), xlsx, Parquet.

The reading is `flames.rowfiles.iter_rows`, the tool's one reader of tabular files; label files differ from
prompt files only in keeping empty cells (as ''), so a reader can tell an empty answer from a missing
column. Row numbers count as a person sees them: file lines for JSONL and CSV, sheet rows for xlsx, item
positions (from 1) for JSON.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flames.labels.records import LabelFileError
from flames.rowfiles import PromptFileError, iter_rows, require_file

Row = tuple[int, dict[str, Any]]


def read_rows(path: Path | str, encoding: str | None = None, sheet: str | None = None) -> Iterator[Row]:
    """(row number, {column: value}) for every data row of `path`, read with `encoding` (`--encoding`; None:
    UTF-8, or GB18030 when the bytes are that) and, for a workbook, from `sheet` (`--sheet`; None: the
    first). Raises LabelFileError naming the file, row and field for a missing or unreadable file."""
    path = Path(path)
    require_file(path, LabelFileError)
    try:
        yield from iter_rows(path, encoding=encoding, sheet=sheet, keep_empty=True)
    except LabelFileError:
        raise
    except PromptFileError as err:
        raise LabelFileError(err.path, err.reason, err.line, err.field) from err
