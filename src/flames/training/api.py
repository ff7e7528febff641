"""`train_scorer`: label records in, a scorer folder out (loadable with `--scorer flames:DIR`)."""

from __future__ import annotations

import platform
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from flames.labels.records import LabelRecord
from flames.provenance import git_commit, tool_version
from flames.scorers.official.encode import TEMPLATES
from flames.scorers.trained.manifest import (
    MANIFEST_FILE,
    HeadSpec,
    Manifest,
    hash_files,
    is_trained_scorer,
    official_heads,
    read_manifest,
    write_manifest,
)
from flames.scorers.trained.scorer import ClassifierScorer, TfidfPredictor, judge_items, make_scorer
from flames.training.config import TrainConfig, TrainingError
from flames.training.data import as_items, dev_metrics, label_counts, labels_sha256, split_summary
from flames.training.events import EventSink, TrainEvent, ignore

LIBRARIES = ("torch", "transformers", "peft", "tokenizers", "safetensors", "scikit-learn", "scipy", "numpy")


@dataclass(frozen=True)
class TrainedScorer:
    """A finished training: the scorer folder and its manifest."""

    root: Path
    manifest: Manifest

    @property
    def dev_metrics(self) -> dict[str, Any] | None:
        return self.manifest.dev_metrics

    def scorer(self, **options: Any) -> ClassifierScorer:
        """The folder as a `Scorer` (options as `scorers.trained.make_scorer`: device, dtype, batch_size…)."""
        return make_scorer(self.root, **options)


def train_scorer(
    train: Sequence[LabelRecord],
    dev: Sequence[LabelRecord] | None,
    config: TrainConfig,
    out_dir: Path,
    *,
    resume: bool = False,
    on_event: EventSink = ignore,
    sources: dict[str, str] | None = None,
    split: dict[str, Any] | None = None,
) -> TrainedScorer:
    """Train a scorer on `train` (early stopping and dev metrics on `dev`) and write it to `out_dir`.

    config.backbone `tfidf` fits the CPU preset; anything else is a transformers folder or Hub id, fine-tuned
    (full or LoRA) with the five official heads. `sources` (e.g. {"train": PATH, "dev": PATH}) is recorded in
    the manifest beside the data's sha256, and `split` (the `split.json` that `flames labels split` wrote) beside
    the computed split summary. `on_event` receives progress (`training.progress.TrainProgress`
    draws it). `resume` continues an interrupted transformer run from `out_dir/checkpoint`.

    Raises TrainingError for invalid settings, a non-empty `out_dir` (without `resume`), labels that train
    no head (a head needs two different scores), or a checkpoint of another run; ScorerError for a
    backbone that cannot be loaded safely.
    """
    config.check()
    dev = list(dev or [])
    if not train:
        raise TrainingError("no training labels")
    if resume and config.is_tfidf:
        raise TrainingError("--resume continues transformer training; the tfidf preset has no checkpoints (it trains "
                            "in seconds): drop --resume")  # fmt: skip
    _prepare(out_dir, resume=resume)
    counts = label_counts(train)
    heads = official_heads(counts)
    if not any(h.trained for h in heads):
        raise TrainingError("no dimension has training labels of two different scores, so no head can be trained")
    for head in heads:
        if head.label_counts and not head.trained:
            on_event(TrainEvent("note", message=f"{head.dimension.value}: all {sum(head.label_counts.values())} "
                                f"label(s) have one score; its head stays untrained (items unscored)"))  # fmt: skip
    started = time.perf_counter()
    data = {"train": _describe(train), "dev": _describe(dev) if dev else None}
    for key, path in (sources or {}).items():
        if data.get(key):
            data[key]["path"] = path  # type: ignore[index]
    summary = split_summary(train, dev) | ({"split_file": split} if split else {})
    training: dict[str, Any] = {"data": data, "split": summary, "config": config.to_json()}
    if config.is_tfidf:
        parts = _train_tfidf(train, dev, heads, config, out_dir, on_event)
    else:
        parts = _train_transformer(train, dev, heads, config, out_dir, training, resume, on_event)
    training.update(parts.pop("training"))
    training["seconds"] = round(time.perf_counter() - started, 2)
    manifest = Manifest(
        name=config.name or out_dir.resolve().name,
        heads=heads,
        template=TEMPLATES[config.template],
        files=hash_files(out_dir, parts.pop("files")),
        training=training,
        versions=library_versions(),
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        **parts,
    )
    write_manifest(out_dir, manifest)
    return TrainedScorer(out_dir, manifest)


def train_or_reuse(
    train: Sequence[LabelRecord], dev: Sequence[LabelRecord] | None, config: TrainConfig, out_dir: Path, *,
    on_event: EventSink = ignore,
) -> TrainedScorer:  # fmt: skip
    """`train_scorer` for experiments that resume: when `out_dir` already holds a scorer trained on the same
    training and dev labels (sha256) with the same settings — an earlier, interrupted call finished it — that
    scorer is returned untouched; an interrupted transformer training there resumes from its checkpoint.
    Raises TrainingError when `out_dir` holds a scorer trained on other labels or settings (and what
    `train_scorer` raises)."""
    if is_trained_scorer(out_dir):
        manifest = read_manifest(out_dir)
        data = manifest.training.get("data") or {}
        found = ((data.get("train") or {}).get("sha256"), (data.get("dev") or {}).get("sha256"),
                 manifest.training.get("config"))  # fmt: skip
        wanted = (labels_sha256(train), labels_sha256(dev) if dev else None, config.to_json())
        if found != wanted:
            raise TrainingError(f"{out_dir}: holds a scorer trained on other labels or settings; use another folder")
        return TrainedScorer(out_dir, manifest)
    resume = not config.is_tfidf and out_dir.is_dir() and any(out_dir.iterdir())
    return train_scorer(train, dev, config, out_dir, resume=resume, on_event=on_event)


def _describe(records: Sequence[LabelRecord]) -> dict[str, Any]:
    """sha256, count and provenance counts (`construction` labels say how data was built, not what people judged)."""
    return {"sha256": labels_sha256(records), "n": len(records),
            "provenance": dict(sorted(Counter(r.provenance for r in records).items()))}  # fmt: skip


def _prepare(out_dir: Path, *, resume: bool) -> None:
    if (out_dir / MANIFEST_FILE).exists():
        raise TrainingError(f"{out_dir}: already holds a trained scorer ({MANIFEST_FILE}); choose a new folder")
    if out_dir.exists() and any(out_dir.iterdir()) and not resume:
        raise TrainingError(f"{out_dir}: not empty; choose a new folder, or pass --resume to continue a run there")
    out_dir.mkdir(parents=True, exist_ok=True)


def _train_tfidf(
    train: Sequence[LabelRecord], dev: list[LabelRecord], heads: tuple[HeadSpec, ...], config: TrainConfig,
    out_dir: Path, on_event: EventSink,
) -> dict[str, Any]:  # fmt: skip
    from flames.scorers.trained.tfidf import save_tfidf
    from flames.training.tfidf import fit_tfidf

    model = fit_tfidf(train, heads, config, on_event)
    files = save_tfidf(out_dir, model)
    metrics = None
    if dev:
        predictor = TfidfPredictor(model, batch_size=256)
        metrics = dev_metrics(dev, [j for batch in judge_items(predictor, as_items(dev), heads) for j in batch])
        on_event(TrainEvent("eval", step=sum(h.trained for h in heads), dev=metrics, improved=True))
    on_event(TrainEvent("done"))
    backbone = {"spec": "tfidf", "analyzer": "char", "ngram_range": [1, config.tfidf_ngram_max],
                "max_features_per_field": config.tfidf_max_features, "min_df": config.tfidf_min_df,
                "fields": ["prompt", "response"]}  # fmt: skip
    return {"kind": "tfidf", "method": "tfidf", "backbone": backbone, "files": files, "dev_metrics": metrics,
            "training": {}}  # fmt: skip


def _train_transformer(
    train: Sequence[LabelRecord], dev: list[LabelRecord], heads: tuple[HeadSpec, ...], config: TrainConfig,
    out_dir: Path, training: dict[str, Any], resume: bool, on_event: EventSink,
) -> dict[str, Any]:  # fmt: skip
    from flames.scorers.trained.network import backbone_fingerprint, resolve_backbone
    from flames.training.transformer import train_transformer

    backbone = resolve_backbone(config.backbone)
    fingerprint = backbone_fingerprint(backbone.root, allow_pickle=config.allow_pickle)
    identity = {"config": config.to_json(), "data": training["data"], "backbone": fingerprint}
    outcome = train_transformer(train, dev, heads, backbone, config, out_dir, identity=identity, resume=resume,
                                on_event=on_event)  # fmt: skip
    loop = outcome.loop
    summary = {"device": outcome.device, "bf16": outcome.bf16, "gradient_checkpointing": outcome.gradient_checkpointing,
               "steps": loop.step, "epochs_run": loop.epoch, "best_step": loop.best_step,
               "stopped_early": loop.stopped_early, "skipped_prompt_too_long": outcome.skipped,
               "history": [{"step": h["step"], "epoch": h["epoch"], "dev_macro_f1": h["dev"]["overall"]["macro_f1"],
                            "dev_accuracy": h["dev"]["overall"]["accuracy"]} for h in loop.history]}  # fmt: skip
    return {"kind": "transformer", "method": config.method, "backbone": backbone.describe(fingerprint),
            "pooling": outcome.pooling, "max_length": config.max_length, "files": outcome.files,
            "dev_metrics": outcome.dev, "training": summary}  # fmt: skip


def library_versions() -> dict[str, str]:
    """flames-eval (and its git commit), Python, and the installed versions of the libraries training uses."""
    versions = {"flames-eval": tool_version(), "python": platform.python_version()}
    commit = git_commit()
    if commit:
        versions["flames-eval-commit"] = commit
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions
