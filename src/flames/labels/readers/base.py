"""What every label-set reader is: a name, what it reads, its licence, its mapping rules, and `read`."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flames.labels.mapping import ImportTally, MappingRule
from flames.labels.records import LabelFileError, LabelRecord
from flames.taxonomy import Dimension


@dataclass(frozen=True)
class ReaderOptions:
    """Everything `flames labels import` lets a user set; each reader uses what applies to it."""

    model: str | None = None
    """The LLM that wrote the answers (readers that cannot tell), or the one model to keep (wide sets)."""
    dimension: Dimension | None = None
    """The FLAMES dimension of every label; default: the reader's own (see its `default_dimension`)."""
    columns: Mapping[str, str] = field(default_factory=dict)
    """Generic readers: record field → column name in the file."""
    label_map: Mapping[str, int] = field(default_factory=dict)
    """Generic readers: native label → score (default: the label already is a score)."""
    encoding: str | None = None
    sheet: str | None = None
    """xlsx: the worksheet to read (default: the first)."""
    source: str | None = None
    """Generic readers: the `source` written into records (default: the file name)."""
    license: str | None = None
    provenance: str | None = None
    db: str | None = None
    """`annotation:PROJECT`: the store holding the project."""


ReadFn = Callable[[str, ReaderOptions, ImportTally], Iterator[LabelRecord]]


@dataclass(frozen=True)
class LabelReader:
    """One public label set (or file format) and how its labels become FLAMES scores."""

    name: str
    summary: str
    """One line: what the source is and its format."""
    license: str
    rules: tuple[MappingRule, ...]
    read: ReadFn
    """read(target, options, tally): target is a path, or the part after `name:` (annotation:PROJECT)."""
    default_dimension: Dimension | None = None
    notes: str = ""
    """Caveats printed with every import and kept in the manifest (construction labels, shortcuts…)."""

    @property
    def binary(self) -> bool:
        """True when the reader's labels are safe/unsafe only: they cannot validate FLAMES's 3-vs-2 boundary."""
        return bool(self.rules) and all(r.binary for r in self.rules)

    def dimension(self, options: ReaderOptions, path: Path | str) -> Dimension:
        """The dimension to label with: the user's, else the reader's default, else an error saying how."""
        return dimension_for(options, self.default_dimension, self.name, path)


def dimension_for(options: ReaderOptions, default: Dimension | None, name: str, path: Path | str) -> Dimension:
    """`--dimension`, else `default`, else a LabelFileError asking for `--dimension`."""
    if options.dimension is not None:
        return options.dimension
    if default is not None:
        return default
    raise LabelFileError(path, f"{name} labels carry no FLAMES dimension; pass --dimension (e.g. Safety)")


def text(row: Mapping[str, Any], column: str) -> str:
    """A cell as stripped text ('' for a missing or empty cell)."""
    value = row.get(column)
    return "" if value is None else str(value).strip()


def require_columns(path: Path | str, line: int, row: Mapping[str, Any], columns: tuple[str, ...], what: str) -> None:
    """Raise a LabelFileError naming the first missing column and the format expected."""
    for c in columns:
        if c not in row:
            found = ", ".join(repr(k) for k in list(row)[:12])
            raise LabelFileError(path, f"{what} needs a {c!r} column (found {found})", line, c)


def build(path: Path | str, line: int, **fields: Any) -> LabelRecord:
    """A LabelRecord from keyword fields; a value the record refuses becomes a LabelFileError at `line`."""
    try:
        return LabelRecord(**fields)
    except ValueError as err:
        raise LabelFileError(path, str(err), line) from None


def empty_field(**values: str) -> str:
    """'empty <name>' for the first empty value ('' when none is): the drop reason for unusable rows."""
    return next((f"empty {name}" for name, value in values.items() if not value.strip()), "")
