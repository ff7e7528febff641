"""The shared shape of the guard-model test sets (Libra-Test, ShieldLM, BeaverTails, WildGuardTest): one row
per (prompt, response) with one safety label. Each of those readers is this loop plus its column names,
mapping rule and licence."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from flames.labels.mapping import ImportTally, MappingRule
from flames.labels.readers.base import (
    LabelReader,
    ReaderOptions,
    build,
    dimension_for,
    empty_field,
    text,
)
from flames.labels.readers.table import read_rows
from flames.labels.records import LabelFileError, LabelRecord
from flames.taxonomy import Dimension


@dataclass(frozen=True)
class PairFormat:
    source: str
    """The reader's name, written as every record's `source` and id prefix."""
    summary: str
    prompt: str
    response: str
    label: str
    rule: MappingRule
    license: str
    id: str | None = None
    """The id column (default: the row number)."""
    model: str | None = None
    """A column naming the model that answered, where the set has one."""
    meta: tuple[str, ...] = ()
    """Columns kept verbatim in `meta`."""
    provenance: str = "human"
    default_dimension: Dimension = Dimension.SAFETY
    notes: str = ""

    def reader(self) -> LabelReader:
        """The registry entry for this format."""
        return LabelReader(self.source, self.summary, self.license, (self.rule,), partial(read_pairs, self),
                           self.default_dimension, self.notes)  # fmt: skip


def read_pairs(fmt: PairFormat, target: str, options: ReaderOptions, tally: ImportTally) -> Iterator[LabelRecord]:
    """Records from a file in `fmt`; rows without prompt, response or label are dropped and counted. A file
    none of whose rows has one of the three columns is not in the format: LabelFileError (after the rows)."""
    path = Path(target)
    dimension = dimension_for(options, fmt.default_dimension, fmt.source, path)
    columns: set[str] = set()
    for line, row in read_rows(path, options.encoding, options.sheet):
        columns.update(row)
        prompt, response, native = text(row, fmt.prompt), text(row, fmt.response), text(row, fmt.label)
        if missing := empty_field(prompt=prompt, response=response, label=native):
            tally.drop(fmt.rule, missing)
            continue
        score = tally.apply(fmt.rule, row[fmt.label], dimension)
        if score is None:
            continue
        model = options.model or (text(row, fmt.model) if fmt.model else "") or None
        row_id = text(row, fmt.id) if fmt.id else ""
        yield build(
            path, line, id=f"{fmt.source}:{row_id or line}", dimension=dimension, prompt=prompt, response=response,
            label=score, model=model, source=fmt.source, native_label=native, mapping=fmt.rule.ref,
            provenance=fmt.provenance, license=fmt.license,
            meta={c: row[c] for c in fmt.meta if row.get(c) not in (None, "")},
        )  # fmt: skip
    if not columns:
        raise LabelFileError(path, "no rows found (the file is empty)")
    for needed in (fmt.prompt, fmt.response, fmt.label):
        if needed not in columns:  # per row, a missing cell is an empty one (Parquet leaves nulls out)
            found = ", ".join(sorted(columns)[:12])
            raise LabelFileError(path, f"no row has a {needed!r} column: not a {fmt.source} file (found {found})")
