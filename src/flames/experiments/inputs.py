"""What an experiment records about its inputs, so a result says exactly what was measured: runs (model,
generation config hash, prompt set sha256), scorers (name and config hash), label files (sha256, source and
caveats from the import manifest)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flames.labels.importer import labels_info
from flames.labels.records import LabelRecord
from flames.report.tables import run_json
from flames.store import RunInfo, ScorerInfo, Store


def scorer_label(scorer: ScorerInfo) -> str:
    """`name@hash8`, the spelling `--scorer` accepts in reports."""
    return f"{scorer.name}@{scorer.config_hash[:8]}"


def scorer_input(scorer: ScorerInfo) -> dict[str, Any]:
    """A scorer's identity: name, label, kind, config hash and config."""
    return {"name": scorer.name, "label": scorer_label(scorer), "kind": scorer.kind,
            "config_hash": scorer.config_hash, "config": scorer.config}  # fmt: skip


def run_input(store: Store, run: RunInfo, scorer: ScorerInfo | None = None) -> dict[str, Any]:
    """A run's provenance (model, generation config and its hash, prompt set sha256, answers stored) and,
    when given, the scorer whose judgments were used."""
    counts = store.counts(run)
    out = {**run_json(run), "config_hash": run.config_hash, "answers": counts.ok, "expected": counts.expected}
    if scorer is not None:
        out["scorer"] = scorer_input(scorer)
    return out


def labels_input(path: Path | str, records: Sequence[LabelRecord]) -> dict[str, Any]:
    """A label file's path, sha256, size and the caveats of its import manifest."""
    info = labels_info(path, len(records))
    info["models"] = sorted({r.model for r in records if r.model})
    return info
