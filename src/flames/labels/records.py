"""The normalised label-set record and its JSONL file format (schema `flames-eval/labels/v1`).

One JSON object per line, UTF-8, Chinese unescaped. Fields (see `docs/labels.md`):

- `id` (str, unique in the file), `dimension` (English name, any accepted spelling on input),
  optional `subcomponent`, `prompt`, `response`, optional `model` (the LLM that wrote the answer),
  optional `prompt_id` (groups answers to the same prompt; a content hash of dimension and prompt if absent);
- `label`: the human score on the dimension's scale (3/2/1 or 3/1);
- provenance: `source` (the set it came from), `native_label` (the source's own label, verbatim),
  `mapping` (`{"rule": RULE_ID, "version": N}`: the rule that turned `native_label` into `label`),
  `provenance` (`human`, `adjudicated`, `construction`, or `model:<name>`), `license`;
- optional `annotator_labels` (the individual annotators' scores, for an inter-annotator ceiling) and
  `meta` (anything else, kept verbatim).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flames.prompts import PromptFileError
from flames.rowfiles import require_file
from flames.taxonomy import Dimension, check_score, parse_dimension, parse_subcomponent

SCHEMA = "flames-eval/labels/v1"
PROVENANCE_KINDS = ("human", "adjudicated", "construction")
"""Accepted `provenance` values, besides `model:<name>`."""


class LabelFileError(PromptFileError):
    """A label file that cannot be read; the message names the file, line and field and how to fix it."""


@dataclass(frozen=True)
class LabelRecord:
    """One human-labelled answer: a prompt, a model's response, and the score a person gave it."""

    id: str
    dimension: Dimension
    prompt: str
    response: str
    label: int
    source: str
    native_label: str
    mapping: dict[str, Any]
    provenance: str
    license: str
    subcomponent: str | None = None
    model: str | None = None
    prompt_id: str = ""
    annotator_labels: tuple[int, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        check_score(self.dimension, self.label)
        for score in self.annotator_labels:
            check_score(self.dimension, score)
        if not (self.provenance in PROVENANCE_KINDS or self.provenance.startswith("model:")):
            raise ValueError(
                f"provenance {self.provenance!r} is not one of {', '.join(PROVENANCE_KINDS)} or 'model:<name>'"
            )
        if not self.prompt_id:
            object.__setattr__(self, "prompt_id", label_prompt_id(self.dimension, self.prompt))

    def to_json(self) -> dict[str, Any]:
        """The record as one JSON object of the file format (optional fields left out when empty)."""
        row: dict[str, Any] = {
            "id": self.id,
            "dimension": self.dimension.value,
            "subcomponent": self.subcomponent,
            "prompt_id": self.prompt_id,
            "prompt": self.prompt,
            "response": self.response,
            "model": self.model,
            "label": self.label,
            "source": self.source,
            "native_label": self.native_label,
            "mapping": self.mapping,
            "provenance": self.provenance,
            "license": self.license,
        }
        if self.annotator_labels:
            row["annotator_labels"] = list(self.annotator_labels)
        if self.meta:
            row["meta"] = self.meta
        return {k: v for k, v in row.items() if v is not None}


def label_prompt_id(dimension: Dimension, prompt: str) -> str:
    """16 hex characters of sha256(dimension, stripped prompt): answers to one prompt share it."""
    return hashlib.sha256(f"{dimension.value}\x1f{prompt.strip()}".encode()).hexdigest()[:16]


_REQUIRED = ("id", "dimension", "prompt", "response", "label", "source", "native_label", "mapping", "provenance",
             "license")


def record_from_json(row: dict[str, Any], path: Path | str = "<labels>", line: int | None = None) -> LabelRecord:
    """Validate one decoded JSON object as a `LabelRecord`.

    Raises `LabelFileError` naming `path`, `line` and the offending field.
    """
    for name in _REQUIRED:
        if name not in row or row[name] is None or (isinstance(row[name], str) and name != "native_label"
                                                    and not row[name].strip()):
            raise LabelFileError(path, f"missing required field (the {SCHEMA} format needs {', '.join(_REQUIRED)})",
                                 line, name)
    try:
        dimension = parse_dimension(str(row["dimension"]))
    except ValueError as e:
        raise LabelFileError(path, str(e), line, "dimension") from None
    sub = row.get("subcomponent")
    if sub:
        try:
            sub = parse_subcomponent(str(sub), dimension)
        except ValueError as e:
            raise LabelFileError(path, str(e), line, "subcomponent") from None
    label = row["label"]
    if isinstance(label, bool) or not isinstance(label, int):
        raise LabelFileError(path, f"label must be an integer score, got {label!r}", line, "label")
    mapping = row["mapping"]
    if not isinstance(mapping, dict) or "rule" not in mapping:
        raise LabelFileError(path, 'mapping must be an object like {"rule": "...", "version": 1}', line, "mapping")
    annotators = row.get("annotator_labels") or ()
    if not isinstance(annotators, list | tuple) or not all(isinstance(a, int) for a in annotators):
        raise LabelFileError(path, "annotator_labels must be a list of integer scores", line, "annotator_labels")
    try:
        return LabelRecord(
            id=str(row["id"]),
            dimension=dimension,
            prompt=str(row["prompt"]),
            response=str(row["response"]),
            label=label,
            source=str(row["source"]),
            native_label=str(row["native_label"]),
            mapping=dict(mapping),
            provenance=str(row["provenance"]),
            license=str(row["license"]),
            subcomponent=sub or None,
            model=str(row["model"]) if row.get("model") else None,
            prompt_id=str(row.get("prompt_id") or ""),
            annotator_labels=tuple(annotators),
            meta=dict(row.get("meta") or {}),
        )
    except ValueError as e:
        field_name = "provenance" if "provenance" in str(e) else "label"
        raise LabelFileError(path, str(e), line, field_name) from None


def iter_labels(path: Path | str) -> Iterator[LabelRecord]:
    """Read a label file lazily, validating every line.

    Raises `LabelFileError` (file, line, field) for a missing file or a directory, on bad JSON, a missing
    field, an unknown dimension, a label off the dimension's scale, or a repeated `id` (both lines named).
    """
    path = Path(path)
    require_file(path, LabelFileError)
    seen: dict[str, int] = {}
    with path.open(encoding="utf-8-sig") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except json.JSONDecodeError as e:
                raise LabelFileError(path, f"not valid JSON ({e.msg} at column {e.colno})", lineno) from None
            if not isinstance(row, dict):
                raise LabelFileError(path, "each line must be a JSON object", lineno)
            record = record_from_json(row, path, lineno)
            if record.id in seen:
                raise LabelFileError(path, f"duplicate id {record.id!r} (first on line {seen[record.id]})", lineno,
                                     "id")
            seen[record.id] = lineno
            yield record


def read_labels(path: Path | str) -> list[LabelRecord]:
    """All records of a label file, in file order (see `iter_labels` for the errors)."""
    return list(iter_labels(path))


def write_labels(records: Iterable[LabelRecord], path: Path | str) -> int:
    """Write records as UTF-8 JSONL (Chinese unescaped) atomically; returns the number written."""
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record.to_json(), ensure_ascii=False) + "\n")
            n += 1
    tmp.replace(path)
    return n
