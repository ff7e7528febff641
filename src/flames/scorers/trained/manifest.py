"""`flames_scorer.json`: the manifest that makes a folder a trained FLAMES scorer (schema `flames-eval/scorer/v1`).

A trained scorer folder holds this manifest beside its weights. The manifest says what the scorer is
(`kind`: `tfidf` or `transformer`; backbone and its fingerprint; pooling; input template; max length), its
five heads in the official order and sizes (3, 3, 3, 2, 2) with their label maps and whether each was
trained, every weight file with its sha256 (checked when the scorer starts), how it was trained (data
sha256, split, configuration) and how it did on the dev set, and the library versions that wrote it.
The format is documented in `docs/training.md`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flames.scorers.base import ScorerError
from flames.scorers.official.encode import Template
from flames.taxonomy import DIMENSIONS, Dimension, info

MANIFEST_FILE = "flames_scorer.json"
SCHEMA = "flames-eval/scorer/v1"
KINDS = ("tfidf", "transformer")
POOLINGS = ("cls", "mean", "last")
"""Encoder pooling: the first token (`cls`) or the masked mean; decoders: the last real token (`last`)."""


@dataclass(frozen=True)
class HeadSpec:
    """One classification head: its dimension, the score of each class (official order), what trained it."""

    dimension: Dimension
    scores: tuple[int, ...]
    """Score of class i, best first: (3, 2, 1) or (3, 1), the official label map."""
    trained: bool
    """False when the training labels held fewer than two classes of this dimension: items are left unscored."""
    label_counts: dict[int, int] = field(default_factory=dict)
    """Training labels per score."""

    def to_json(self) -> dict[str, Any]:
        return {
            "dimension": self.dimension.value,
            "classes": len(self.scores),
            "label_map": {str(i): s for i, s in enumerate(self.scores)},
            "trained": self.trained,
            "label_counts": {str(s): n for s, n in sorted(self.label_counts.items(), reverse=True)},
        }


def official_heads(label_counts: dict[Dimension, dict[int, int]]) -> tuple[HeadSpec, ...]:
    """The five heads in official order; a head is trained when its dimension has labels of two or more scores."""
    return tuple(
        HeadSpec(d, info(d).scale, len(label_counts.get(d, {})) >= 2, dict(label_counts.get(d, {}))) for d in DIMENSIONS
    )


@dataclass(frozen=True)
class Manifest:
    """Everything `flames_scorer.json` says; see the module docstring and `docs/training.md`."""

    name: str
    kind: str
    heads: tuple[HeadSpec, ...]
    template: Template
    files: dict[str, str]
    """Relative path → sha256 of every weight/vocabulary file (the tokenizer folder's files included)."""
    backbone: dict[str, Any] = field(default_factory=dict)
    """tfidf: its feature settings; transformer: `spec`, `fingerprint`, `model_type`, `role`, `hidden_size`."""
    pooling: str | None = None
    max_length: int | None = None
    method: str = "tfidf"
    """`tfidf`, `full` (every weight fine-tuned, saved under `backbone/`) or `lora` (adapter under `adapter/`)."""
    training: dict[str, Any] = field(default_factory=dict)
    dev_metrics: dict[str, Any] | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created_at: str = ""

    def head(self, dimension: Dimension) -> HeadSpec:
        return self.heads[DIMENSIONS.index(dimension)]

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "kind": self.kind,
            "method": self.method,
            "backbone": self.backbone,
            "pooling": self.pooling,
            "template": {"name": self.template.name, "prefix": self.template.prefix,
                         "middle": self.template.middle, "suffix": self.template.suffix},
            "max_length": self.max_length,
            "heads": [h.to_json() for h in self.heads],
            "files": dict(sorted(self.files.items())),
            "training": self.training,
            "dev_metrics": self.dev_metrics,
            "versions": self.versions,
            "created_at": self.created_at,
        }  # fmt: skip


def file_sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_files(root: Path, relative: list[str]) -> dict[str, str]:
    """sha256 of each named file (and of every file inside each named folder), keyed by path relative to root."""
    out: dict[str, str] = {}
    for rel in relative:
        target = root / rel
        paths = sorted(p for p in target.rglob("*") if p.is_file()) if target.is_dir() else [target]
        for path in paths:
            out[path.relative_to(root).as_posix()] = file_sha256(path)
    return out


def write_manifest(root: Path, manifest: Manifest) -> Path:
    """Write `root/flames_scorer.json` (UTF-8, Chinese unescaped) atomically; returns its path."""
    path = root / MANIFEST_FILE
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(manifest.to_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def is_trained_scorer(path: Path) -> bool:
    """True when `path` is a folder with a `flames_scorer.json`."""
    return (path / MANIFEST_FILE).is_file()


def read_manifest(root: Path) -> Manifest:
    """Read and validate `root/flames_scorer.json`.

    Raises ScorerError naming the file and field for: invalid JSON, another schema, an unknown kind or
    pooling, heads not in the official order and sizes, a label map other than the official one, or a listed
    file that is missing.
    """
    path = root / MANIFEST_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise ScorerError(f"{path}: missing; {root} is not a trained scorer folder") from err
    except json.JSONDecodeError as err:
        raise ScorerError(f"{path}: line {err.lineno}: not valid JSON ({err.msg})") from err
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise ScorerError(f"{path}: field 'schema' must be {SCHEMA!r} (this flames-eval reads only that version)")
    kind = data.get("kind")
    if kind not in KINDS:
        raise ScorerError(f"{path}: field 'kind' is {kind!r}, expected one of {', '.join(KINDS)}")
    pooling = data.get("pooling")
    if kind == "transformer" and pooling not in POOLINGS:
        raise ScorerError(f"{path}: field 'pooling' is {pooling!r}, expected one of {', '.join(POOLINGS)}")
    try:
        template = Template(**{k: str(data["template"][k]) for k in ("name", "prefix", "middle", "suffix")})
        heads = tuple(_head(row, i, path) for i, row in enumerate(data["heads"]))
        files = {str(k): str(v) for k, v in data["files"].items()}
    except (KeyError, TypeError, AttributeError) as err:
        raise ScorerError(f"{path}: malformed or missing field ({err}); rewrite it with `flames scorer train`") from err
    if len(heads) != len(DIMENSIONS):
        raise ScorerError(f"{path}: field 'heads' has {len(heads)} heads, expected {len(DIMENSIONS)} (official order)")
    missing = [rel for rel in files if not (root / rel).is_file()]
    if missing:
        raise ScorerError(f"{path}: field 'files' names missing file(s): {', '.join(missing[:5])}")
    max_length = data.get("max_length")
    return Manifest(
        name=str(data.get("name") or root.name),
        kind=kind,
        heads=heads,
        template=template,
        files=files,
        backbone=dict(data.get("backbone") or {}),
        pooling=pooling,
        max_length=int(max_length) if max_length is not None else None,
        method=str(data.get("method") or kind),
        training=dict(data.get("training") or {}),
        dev_metrics=data.get("dev_metrics"),
        versions=dict(data.get("versions") or {}),
        created_at=str(data.get("created_at") or ""),
    )


def _head(row: dict[str, Any], index: int, path: Path) -> HeadSpec:
    expected = DIMENSIONS[index] if index < len(DIMENSIONS) else None
    if expected is None or row["dimension"] != expected.value:
        raise ScorerError(
            f"{path}: heads[{index}] is {row['dimension']!r}, expected "
            f"{expected.value if expected else 'no head'} (official order: {', '.join(d.value for d in DIMENSIONS)})"
        )
    scale = info(expected).scale
    label_map = tuple(int(row["label_map"][str(i)]) for i in range(int(row["classes"])))
    if label_map != scale:
        raise ScorerError(f"{path}: heads[{index}] label_map {label_map} differs from the official {scale}")
    counts = {int(s): int(n) for s, n in dict(row.get("label_counts") or {}).items()}
    return HeadSpec(expected, scale, bool(row["trained"]), counts)
