"""`jsonl`, `csv`, `xlsx`: a user's own label file, any column names.

Columns default to the record's field names (`id`, `dimension`, `subcomponent`, `prompt`, `response`,
`model`, `label`, `prompt_id`); `--column FIELD=COLUMN` renames them, and `annotator_labels=C1,C2` names the
columns of individual annotators' scores. Labels are scores already (3/2/1) unless `--label-map NATIVE=SCORE`
says how the file's own labels map (e.g. `safe=3 unsafe=1`). A row that already is a complete record of the
normalised format is kept as it is.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flames.labels.mapping import ImportTally, MappingRule, native_key
from flames.labels.readers.base import LabelReader, ReaderOptions, build, empty_field, text
from flames.labels.readers.table import read_rows
from flames.labels.records import LabelFileError, LabelRecord, record_from_json
from flames.taxonomy import parse_dimension, parse_subcomponent

FIELDS = ("id", "dimension", "subcomponent", "prompt", "response", "model", "label", "prompt_id", "annotator_labels")
IDENTITY = MappingRule("score-as-is", 1, "the label is a FLAMES score already", {"3": 3, "2": 2, "1": 1})
AS_IS = MappingRule("normalised-record", 1, "rows already in the flames-eval/labels/v1 format, kept as they are", {})
_COMPLETE = ("id", "dimension", "prompt", "response", "label", "source", "native_label", "mapping", "provenance",
             "license")


def user_rule(label_map: dict[str, int]) -> MappingRule:
    """The rule `--label-map` describes (its version is 1: the mapping itself is in every record's meta)."""
    desc = ", ".join(f"{k} → {v}" for k, v in label_map.items())
    return MappingRule("user-label-map", 1, f"--label-map {desc}", {native_key(k): v for k, v in label_map.items()})


def _cell(row: dict[str, Any], options: ReaderOptions, name: str) -> str:
    return text(row, options.columns.get(name, name))


def read(target: str, options: ReaderOptions, tally: ImportTally) -> Iterator[LabelRecord]:
    """Records of a user's file with the column and label mapping of `options` (see the module docstring)."""
    path = Path(target)
    unknown = set(options.columns) - set(FIELDS)
    if unknown:
        raise LabelFileError(path, f"--column names unknown field(s) {', '.join(sorted(unknown))}; fields: "
                             + ", ".join(FIELDS))
    rule = user_rule(dict(options.label_map)) if options.label_map else IDENTITY
    source = options.source or path.name
    label_col = options.columns.get("label", "label")
    found: set[str] = set()
    for line, row in read_rows(path, options.encoding, options.sheet):
        found.update(row)
        if not options.columns and not options.label_map and all(row.get(k) not in (None, "") for k in _COMPLETE):
            tally.keep(AS_IS, "record kept as is")
            yield record_from_json(row, path, line)
            continue
        if label_col not in row:
            raise LabelFileError(path, f"no label column {label_col!r}; name it with --column label=COLUMN", line,
                                 label_col)
        dim_name = _cell(row, options, "dimension")
        try:
            dimension = parse_dimension(dim_name) if dim_name else options.dimension
        except ValueError as err:
            raise LabelFileError(path, str(err), line, options.columns.get("dimension", "dimension")) from None
        if dimension is None:
            raise LabelFileError(path, "no dimension: add a dimension column or pass --dimension", line, "dimension")
        prompt, response, native = _cell(row, options, "prompt"), _cell(row, options, "response"), row[label_col]
        if missing := empty_field(prompt=prompt, response=response, label=native_key(native)):
            tally.drop(rule, missing)
            continue
        score = tally.apply(rule, native, dimension)
        if score is None:
            continue
        sub = _cell(row, options, "subcomponent")
        try:
            sub = parse_subcomponent(sub, dimension) if sub else ""
        except ValueError as err:
            raise LabelFileError(path, str(err), line, options.columns.get("subcomponent", "subcomponent")) from None
        annotator_cols = options.columns.get("annotator_labels", "")
        annotators = [tally.map_only(rule, row.get(c.strip()), dimension) for c in annotator_cols.split(",") if c]
        yield build(
            path, line,
            id=_cell(row, options, "id") or f"{source}:{line}",
            dimension=dimension, subcomponent=sub or None,
            prompt=prompt, response=response, label=score,
            model=_cell(row, options, "model") or options.model,
            prompt_id=_cell(row, options, "prompt_id"),
            source=source, native_label=str(native), mapping=rule.ref,
            provenance=options.provenance or "human", license=options.license or "unspecified",
            annotator_labels=tuple(a for a in annotators if a is not None),
            meta={"label_map": dict(options.label_map)} if options.label_map else {},
        )  # fmt: skip
    for name in ("prompt", "response"):
        column = options.columns.get(name, name)
        if found and column not in found:
            columns = ", ".join(sorted(found))
            raise LabelFileError(path, f"no row has a {column!r} column (the {name}); found {columns}; "
                                 f"name it with --column {name}=COLUMN", field=column)  # fmt: skip


def _reader(name: str, what: str) -> LabelReader:
    return LabelReader(name, f"your own {what} file: columns as options, labels as scores or --label-map",
                       "set with --license", (IDENTITY,), read)  # fmt: skip


JSONL = _reader("jsonl", "JSONL (or .json array or index-keyed object, .parquet)")
CSV = _reader("csv", "CSV/TSV (any --encoding)")
XLSX = _reader("xlsx", "Excel .xlsx (--sheet)")
