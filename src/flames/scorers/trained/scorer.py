"""A trained scorer folder (`flames scorer train` output) as a `Scorer`: `--scorer flames:DIR`.

The folder's `flames_scorer.json` says what to load. On `start()` every file the manifest lists is checked
against its sha256, then the model is built: `tfidf` from its JSON vocabulary and npz weights, `transformer`
from safetensors only (`backbone/` after full fine-tuning; for LoRA the base backbone named in the manifest,
checked against its recorded fingerprint, plus `adapter/`), its tokenizer and `heads.safetensors`. Items of
a dimension whose head was never trained are unscored with that reason, never guessed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flames.records import Item, Judgment
from flames.scorers.base import ScorerError
from flames.scorers.official.encode import TRUNCATION_MARKER, Encoded, PromptTooLong, Template, encode_improved
from flames.scorers.trained.manifest import MANIFEST_FILE, HeadSpec, Manifest, file_sha256, read_manifest
from flames.taxonomy import DIMENSIONS, info

if TYPE_CHECKING:
    import numpy as np
    import torch

    from flames.scorers.trained.network import HeadedClassifier
    from flames.scorers.trained.tfidf import TfidfModel

HEADS_FILE = "heads.safetensors"
BACKBONE_DIR = "backbone"
ADAPTER_DIR = "adapter"
TOKENIZER_DIR = "tokenizer"
DEFAULT_BATCH_SIZE = {"tfidf": 256, "transformer": 16}


@dataclass(frozen=True)
class TrainedSettings:
    """How to run a trained scorer; None means the scorer's default."""

    root: Path
    allow_pickle: bool = False
    """LoRA scorers: allow a base backbone that has only pickled `.bin` weights."""
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_length: int | None = None
    """Transformer scorers: token window; None for the one it was trained with."""


class Predictor(Protocol):
    def judge(self, items: Sequence[Item]) -> Iterator[list[Judgment]]:
        """Judgments for items of trained heads, batch by batch."""


class ClassifierScorer:
    """A `Scorer` over a trained scorer folder (either kind); the manifest is read at construction."""

    kind = "model"

    def __init__(self, settings: TrainedSettings) -> None:
        self.settings = settings
        self.root = settings.root
        self.manifest: Manifest = read_manifest(settings.root)
        self.name = self.manifest.name
        self.batch_size = settings.batch_size or DEFAULT_BATCH_SIZE[self.manifest.kind]
        self.max_length = settings.max_length or self.manifest.max_length or 512
        positions = self.manifest.backbone.get("max_positions")
        if self.manifest.kind == "transformer" and isinstance(positions, int) and self.max_length > positions:
            raise ScorerError(f"max length {self.max_length} exceeds the backbone's {positions} positions")
        self._predictor: Predictor | None = None

    def config(self) -> dict[str, Any]:
        """What changes a verdict: the manifest (which holds every weight file's sha256), and precision."""
        m = self.manifest
        config: dict[str, Any] = {
            "manifest_sha256": file_sha256(self.root / MANIFEST_FILE),
            "kind": m.kind,
            "method": m.method,
            "template": m.template.name,
        }
        if m.kind == "transformer":
            config.update(max_length=self.max_length, pooling=m.pooling, dtype=self._dtype_name(),
                          truncation=f"inside response, marker {TRUNCATION_MARKER!r}")  # fmt: skip
        return config

    def _device(self) -> str:
        from flames.models.local import pick_device

        return pick_device(self.settings.device or "auto")

    def _dtype_name(self) -> str:
        if self.settings.dtype:
            return self.settings.dtype
        return "bfloat16" if self._device().startswith("cuda") else "float32"

    async def start(self) -> None:
        if self._predictor is None:
            self._predictor = await asyncio.to_thread(self._load)

    def _load(self) -> Predictor:
        for rel, digest in self.manifest.files.items():
            if file_sha256(self.root / rel) != digest:
                raise ScorerError(
                    f"{self.root / rel}: changed since training (sha256 differs from {MANIFEST_FILE}); retrain or "
                    "restore the file"
                )
        if self.manifest.kind == "tfidf":
            from flames.scorers.trained.tfidf import load_tfidf

            trained = [i for i, h in enumerate(self.manifest.heads) if h.trained]
            return TfidfPredictor(load_tfidf(self.root, trained), self.batch_size)
        return self._load_transformer()

    def _load_transformer(self) -> Predictor:
        import torch

        from flames.scorers.trained.network import HFTextEncoder, load_tokenizer

        dtype = getattr(torch, self._dtype_name(), None)
        if not isinstance(dtype, torch.dtype):
            raise ScorerError(f"--dtype {self.settings.dtype}: not a torch dtype; use float32, bfloat16 or float16")
        model = load_classifier(self.root, self.manifest, dtype=dtype, allow_pickle=self.settings.allow_pickle)
        model = model.to(self._device()).eval()
        tokenizer = load_tokenizer(self.root / TOKENIZER_DIR)
        return TransformerPredictor(model, HFTextEncoder(tokenizer), tokenizer.pad_token_id,
                                     self.manifest.template, self.max_length, self.batch_size)  # fmt: skip

    async def score(self, items: Sequence[Item]) -> AsyncIterator[Judgment]:
        """Judgments batch by batch; items of an untrained head come first, unscored with the reason."""
        if self._predictor is None:
            raise ScorerError(f"the scorer {self.name} was not started; call start() first")
        batches = judge_items(self._predictor, items, self.manifest.heads)
        while True:
            batch = await asyncio.to_thread(next, batches, None)
            if batch is None:
                return
            for judgment in batch:
                yield judgment

    async def close(self) -> None:
        """Drop the model and hand GPU memory back."""
        had_model = isinstance(self._predictor, TransformerPredictor)
        self._predictor = None
        if had_model:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()


def judge_items(predictor: Predictor, items: Sequence[Item], heads: Sequence[HeadSpec]) -> Iterator[list[Judgment]]:
    """Judgments in batches: first the items of untrained heads (unscored, with the reason), then the others."""
    untrained = [i for i in items if not heads[DIMENSIONS.index(i.dimension)].trained]
    if untrained:
        yield [Judgment.unscored(i, f"this scorer was not trained on {i.dimension.value} labels") for i in untrained]
    yield from predictor.judge([i for i in items if heads[DIMENSIONS.index(i.dimension)].trained])


def load_classifier(root: Path, manifest: Manifest, *, dtype: torch.dtype, allow_pickle: bool) -> HeadedClassifier:
    """The trained network of a transformer scorer folder, on CPU in `dtype` (LoRA adapters merged).

    Raises ScorerError when the LoRA base backbone differs from the one the adapter was trained on, or a
    weight file does not fit the manifest.
    """
    from safetensors.torch import load_file

    from flames.scorers.trained.network import (
        HeadedClassifier,
        backbone_fingerprint,
        load_backbone,
        make_heads,
        resolve_backbone,
    )

    if manifest.method == "lora":
        from peft import PeftModel

        spec = str(manifest.backbone.get("spec", ""))
        base = resolve_backbone(spec)
        found = backbone_fingerprint(base.root, allow_pickle=allow_pickle)
        if found != manifest.backbone.get("fingerprint"):
            raise ScorerError(
                f"{root}: the LoRA adapter was trained on backbone {spec} with fingerprint "
                f"{str(manifest.backbone.get('fingerprint'))[:12]}…, but {base.root} has {found[:12]}…; give the "
                "original backbone"
            )
        backbone = load_backbone(base.root, dtype=dtype, allow_pickle=allow_pickle)
        adapter = root / ADAPTER_DIR
        if not (adapter / "adapter_model.safetensors").is_file():
            raise ScorerError(f"{adapter}: adapter_model.safetensors is missing (only safetensors adapters load)")
        backbone = PeftModel.from_pretrained(backbone, str(adapter), is_trainable=False).merge_and_unload()
    else:
        backbone = load_backbone(root / BACKBONE_DIR, dtype=dtype, allow_pickle=False)
    heads = make_heads(int(manifest.backbone["hidden_size"]))
    try:
        heads.load_state_dict(load_file(root / HEADS_FILE), strict=True)
    except RuntimeError as err:
        raise ScorerError(f"{root / HEADS_FILE}: does not fit the five heads ({err})") from err
    return HeadedClassifier(backbone, heads.to(dtype), str(manifest.pooling))


class TfidfPredictor:
    """Judgments from a TF-IDF model, `batch_size` items at a time (training reuses it for dev metrics)."""

    def __init__(self, model: TfidfModel, batch_size: int) -> None:
        self.model, self.batch_size = model, batch_size

    def judge(self, items: Sequence[Item]) -> Iterator[list[Judgment]]:
        for start in range(0, len(items), self.batch_size):
            batch = items[start : start + self.batch_size]
            x = self.model.transform([i.prompt for i in batch], [i.response for i in batch])
            out = []
            for head in {DIMENSIONS.index(i.dimension) for i in batch}:
                rows = [n for n, i in enumerate(batch) if DIMENSIONS.index(i.dimension) == head]
                probs = self.model.predict_proba(x[rows], head)
                out += [_judgment(batch[n], p) for n, p in zip(rows, probs, strict=True)]
            yield out


class TransformerPredictor:
    """Judgments from a `HeadedClassifier`: the template encoded with the improved truncation, batches sorted by
    length and right-padded, probabilities from each row's head (training reuses it for dev metrics)."""

    def __init__(
        self, model: HeadedClassifier, encoder: Any, pad_id: int, template: Template, max_length: int, batch_size: int
    ) -> None:
        self.model, self.encoder, self.pad_id = model, encoder, pad_id
        self.template, self.max_length, self.batch_size = template, max_length, batch_size

    def judge(self, items: Sequence[Item]) -> Iterator[list[Judgment]]:
        import torch

        from flames.scorers.official.scorer import right_pad

        encoded: list[tuple[Item, Encoded]] = []
        unscored: list[Judgment] = []
        for item in items:
            try:
                enc = encode_improved(self.encoder, item.prompt, item.response, self.max_length, self.template)
                encoded.append((item, enc))
            except PromptTooLong as err:
                unscored.append(Judgment.unscored(item, str(err)))
        if unscored:
            yield unscored
        encoded.sort(key=lambda pair: len(pair[1].ids))
        device = next(self.model.parameters()).device
        for start in range(0, len(encoded), self.batch_size):
            batch = encoded[start : start + self.batch_size]
            ids, mask = right_pad([enc.ids for _, enc in batch], self.pad_id)
            heads = [DIMENSIONS.index(item.dimension) for item, _ in batch]
            with torch.inference_mode():
                logits = self.model(ids.to(device), mask.to(device), heads)
            yield [
                _judgment(item, row.softmax(dim=-1).cpu().numpy(), enc)
                for (item, enc), row in zip(batch, logits, strict=True)
            ]


def _judgment(item: Item, probs: np.ndarray, enc: Encoded | None = None) -> Judgment:
    values = [float(p) for p in probs]
    best = max(range(len(values)), key=values.__getitem__)
    meta: dict[str, Any] = {}
    if enc is not None:
        meta = {"tokens": len(enc.ids), "truncated": enc.truncated}
        if enc.kept_chars is not None:
            meta["kept_chars"] = enc.kept_chars
    return Judgment(
        key=item.key, dimension=item.dimension, score=info(item.dimension).class_to_score(best),
        probs=tuple(values), raw=json.dumps([round(p, 6) for p in values]), meta=meta,
    )  # fmt: skip


def make_scorer(
    root: Path,
    *,
    allow_pickle: bool = False,
    device: str | None = None,
    dtype: str | None = None,
    batch_size: int | None = None,
    max_length: int | None = None,
) -> ClassifierScorer:
    """The scorer for `--scorer flames:DIR` when DIR holds a `flames_scorer.json` (read now, loaded on start).

    device: 'cuda', 'cpu'…, None or 'auto' for CUDA when available; dtype: None or 'auto' for bfloat16 on
    CUDA, float32 elsewhere; batch_size: None for 256 (tfidf) or 16 (transformer); max_length: None for the
    training window (transformer scorers); allow_pickle: let a LoRA
    scorer load a base backbone that has only pickled weights. Raises ScorerError for a bad manifest.
    """
    if batch_size is not None and batch_size < 1:
        raise ScorerError(f"batch size must be at least 1, got {batch_size}")
    auto = ("auto", None)
    return ClassifierScorer(TrainedSettings(root, allow_pickle, None if device in auto else device,
                                            None if dtype in auto else dtype, batch_size, max_length))  # fmt: skip
