"""`flames labels import`: any supported source → a normalised label file plus its manifest.

The manifest (`LABELS.manifest.json` beside `LABELS.jsonl`, schema `flames-eval/labels-manifest/v1`) says
where the labels came from, under which licence, what every mapping rule kept, collapsed and dropped, and
whether the set can validate FLAMES's 3-vs-2 boundary at all (binary safe/unsafe sets cannot).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from flames.labels.mapping import ImportTally
from flames.labels.readers import get_reader
from flames.labels.readers.base import LabelReader, ReaderOptions
from flames.labels.records import LabelFileError, LabelRecord, write_labels
from flames.prompts import sha256_file
from flames.provenance import tool_version

MANIFEST_SCHEMA = "flames-eval/labels-manifest/v1"


@dataclass(frozen=True)
class ImportResult:
    reader: LabelReader
    target: str
    records: list[LabelRecord]
    tally: ImportTally

    @property
    def validates_3_vs_2(self) -> bool:
        """Only labels that use the score 2 can tell whether a scorer separates 3 from 2."""
        return caveats(self.records)["validates_3_vs_2"]


def import_labels(source: str, path: str | Path | None, options: ReaderOptions | None = None) -> ImportResult:
    """Read `path` (or, for `annotation:PROJECT`, the project) with the reader `source` names.

    Raises ValueError for an unknown source, LabelFileError for unreadable input, repeated ids, or an
    import that keeps no label at all (the message lists what each rule dropped).
    """
    options = options or ReaderOptions()
    name, _, arg = source.partition(":")
    reader = get_reader(name)
    if name == "annotation":
        if not arg or path is not None:
            raise ValueError("give the project as annotation:PROJECT, without a PATH (the store is --db)")
        target = arg
    else:
        if arg or path is None:
            raise ValueError(f"{name} reads a file: flames labels import {name} PATH -o LABELS.jsonl")
        target = str(path)
    tally = ImportTally()
    records = list(reader.read(target, options, tally))
    seen: dict[str, int] = {}
    for n, r in enumerate(records, 1):
        if r.id in seen:
            raise LabelFileError(target, f"two labels get the id {r.id!r} (records {seen[r.id]} and {n}); give the"
                                 " rows unique ids")  # fmt: skip
        seen[r.id] = n
    if not records:
        raise LabelFileError(target, "no label was kept: " + " / ".join(tally.lines()))
    return ImportResult(reader, target, records, tally)


def manifest_path(labels: Path | str) -> Path:
    """`labels.jsonl` → `labels.manifest.json` (same folder)."""
    labels = Path(labels)
    return labels.with_name(labels.name.removesuffix(".jsonl") + ".manifest.json")


def counts(records: Sequence[LabelRecord]) -> dict[str, dict[str, int]]:
    """Label counts by dimension, label, model and provenance (for manifests and split summaries)."""
    return {
        "dimensions": dict(Counter(r.dimension.value for r in records)),
        "labels": {str(k): v for k, v in sorted(Counter(r.label for r in records).items(), reverse=True)},
        "models": dict(Counter(r.model or "(unknown)" for r in records)),
        "provenance": dict(Counter(r.provenance for r in records)),
    }


def manifest(result: ImportResult, labels: Path, options: ReaderOptions) -> dict[str, Any]:
    """The manifest of a label file written from `result`."""
    target = Path(result.target)
    reader = result.reader
    return {
        "schema": MANIFEST_SCHEMA,
        "labels_file": labels.name,
        "labels_sha256": sha256_file(labels),
        "n": len(result.records),
        "source": {
            "reader": reader.name,
            "summary": reader.summary,
            "input": result.target,
            "input_sha256": sha256_file(target) if target.is_file() else None,
            "license": sorted({r.license for r in result.records}),
            "options": {"dimension": options.dimension.value if options.dimension else None, "model": options.model},
        },
        "notes": reader.notes,
        **caveats(result.records),
        "mapping": result.tally.to_json(),
        "counts": counts(result.records),
        "tool_version": tool_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def caveats(records: Sequence[LabelRecord]) -> dict[str, bool]:
    """What a label set can validate: `binary` (only 3 and 1) and `validates_3_vs_2` (some label is 2)."""
    return {"binary": all(r.label in (3, 1) for r in records), "validates_3_vs_2": any(r.label == 2 for r in records)}


def write_manifest(labels: Path | str, content: dict[str, Any]) -> Path:
    """Write `content` as the manifest beside the label file `labels` (atomically); returns its path."""
    path = manifest_path(labels)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(content, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def write_import(result: ImportResult, out: Path | str, options: ReaderOptions) -> Path:
    """Write the label file and its manifest (both atomically); returns the manifest's path."""
    out = Path(out)
    write_labels(result.records, out)
    return write_manifest(out, manifest(result, out, options))


def part_manifest(
    parent: Path | str, part: Path, records: Sequence[LabelRecord], split: dict[str, Any]
) -> dict[str, Any]:
    """The manifest of `part`, a file of some of the labels of `parent` (a split): the parent manifest's
    source, notes and licence carried over (what the labels are did not change), the caveats and counts
    of the part's own records, and `derived_from` naming the parent file and the split."""
    found = read_manifest(parent) or {}
    return {
        "schema": MANIFEST_SCHEMA,
        "labels_file": part.name,
        "labels_sha256": sha256_file(part),
        "n": len(records),
        "source": found.get("source"),
        "notes": found.get("notes"),
        **caveats(records),
        "counts": counts(records),
        "derived_from": {"labels_file": Path(parent).name, "labels_sha256": sha256_file(Path(parent)),
                         "manifest": manifest_path(parent).name if found else None, **split},
        "tool_version": tool_version(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }  # fmt: skip


def read_manifest(labels: Path | str) -> dict[str, Any] | None:
    """The manifest beside a label file, or None when there is none (labels written by hand)."""
    path = manifest_path(labels)
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def labels_info(labels: Path | str, n: int) -> dict[str, Any]:
    """What reports record about a label file of `n` records: path, sha256, and the import manifest's
    source, notes and caveats (binary, validates_3_vs_2) when it has one."""
    found = read_manifest(labels) or {}
    return {
        "path": str(labels), "sha256": sha256_file(Path(labels)), "n": n,
        "source": found.get("source", {}).get("reader"), "notes": found.get("notes") or None,
        "binary": found.get("binary"), "validates_3_vs_2": found.get("validates_3_vs_2"),
    }  # fmt: skip
