"""A transformers backbone with the five FLAMES heads: loading it safely, pooling, and reading the heads.

Any local transformers folder or Hub id serves as backbone. Encoders (BERT, RoBERTa…) are pooled at the
first token (`cls`) or by the masked mean; decoders (LLaMA, Qwen…) at the last real token, found from the
attention mask (never from the pad id, which a decoder's tokenizer often shares with EOS). The heads are
bias-free linear layers in the official order and sizes (3, 3, 3, 2, 2), as in the official scorer.
Nothing from a checkpoint is executed: `trust_remote_code` stays off, and pickled weights need an opt-in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from flames.scorers.base import ScorerError
from flames.scorers.official.checkpoint import PICKLE_RISK, CheckpointFiles, fingerprint, weight_files
from flames.taxonomy import DIMENSIONS, info

TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json", "spiece.model")
"""Files a tokenizer is read from, in the order one is picked to enter the backbone fingerprint."""
HUB_PATTERNS = ["*.json", "*.safetensors", "*.model", "*.txt", "*.tiktoken"]


class HFTextEncoder:
    """A transformers tokenizer as a `TextEncoder`: its own special tokens added (BOS, [CLS]/[SEP]…), while
    special-token strings inside the text are read as text (`split_special_tokens`), so an answer cannot
    forge an end-of-sequence or a separator."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        ids = self.tokenizer(text, add_special_tokens=True, split_special_tokens=True)["input_ids"]
        return list(ids)


@dataclass(frozen=True)
class Backbone:
    """A resolved backbone folder and what the manifest records about it."""

    root: Path
    spec: str
    model_type: str
    role: str
    """'encoder' or 'decoder'."""
    hidden_size: int
    max_positions: int | None = None
    """Longest input the position embeddings allow (None when the config does not say)."""

    def describe(self, fingerprint_value: str) -> dict[str, Any]:
        return {"spec": self.spec, "fingerprint": fingerprint_value, "model_type": self.model_type,
                "role": self.role, "hidden_size": self.hidden_size, "max_positions": self.max_positions}  # fmt: skip


def resolve_backbone(spec: str) -> Backbone:
    """A local transformers folder (recorded by its absolute path), or a Hub id fetched (config, tokenizer,
    safetensors; from the cache when offline).

    Raises ScorerError for a missing folder, an unreachable Hub id without cached copy, an encoder-decoder
    model, or a config without a hidden size.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        root = path.resolve()
        spec = str(root)
    elif spec.startswith((".", "/", "~")) or spec.count("/") != 1:
        raise ScorerError(f"{spec}: no such backbone folder, and not a Hub id of the form OWNER/NAME")
    else:
        root = _download(spec)
    try:
        config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ScorerError(f"{root}/config.json: cannot read the backbone's config ({err})") from err
    model_type = str(config.get("model_type", ""))
    if config.get("is_encoder_decoder"):
        raise ScorerError(f"{spec}: encoder-decoder models ({model_type}) are not supported; use an encoder or a "
                          "decoder-only model")  # fmt: skip
    hidden = config.get("hidden_size") or config.get("d_model") or config.get("n_embd")
    if not isinstance(hidden, int):
        raise ScorerError(f"{root}/config.json: no 'hidden_size' field; is {spec} a transformers model folder?")
    positions = config.get("max_position_embeddings") or config.get("n_positions")
    return Backbone(root, spec, model_type, backbone_role(model_type), hidden,
                    positions if isinstance(positions, int) else None)  # fmt: skip


def backbone_role(model_type: str) -> str:
    """'decoder' for model types that transformers knows only as causal LMs (LLaMA, Qwen2…), else 'encoder'
    (BERT-likes are both masked and causal LMs in its tables, and are encoders)."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    causal = model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_MASKED_LM_MAPPING_NAMES
    return "decoder" if causal else "encoder"


def default_pooling(role: str) -> str:
    return "last" if role == "decoder" else "cls"


def _download(repo_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download
    except ImportError as err:
        raise ScorerError("a Hub backbone needs huggingface_hub: pip install 'flames-eval[train]'") from err
    try:
        return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS))
    except Exception as err:  # offline or unreachable (the client raises many types): try the local cache
        try:
            return Path(snapshot_download(repo_id, allow_patterns=HUB_PATTERNS, local_files_only=True))
        except Exception:
            raise ScorerError(
                f"{repo_id}: cannot fetch it from the Hub ({err}) and no cached copy exists; pass a local folder"
            ) from err


def backbone_fingerprint(root: Path, *, allow_pickle: bool) -> str:
    """The official scorer's fingerprint rule (config, tokenizer file, a sample of every tensor) on any folder."""
    tokenizer = next((root / n for n in TOKENIZER_FILES if (root / n).is_file()), None)
    if tokenizer is None:
        raise ScorerError(f"{root}: no tokenizer file ({', '.join(TOKENIZER_FILES)})")
    weights, pickled = weight_files(root)
    if pickled and not allow_pickle:
        raise ScorerError(f"{root}: only pickled weights found ({weights[0].name}); {PICKLE_RISK}")
    config = json.loads((root / "config.json").read_text(encoding="utf-8"))
    return fingerprint(CheckpointFiles(root, config, tokenizer, weights, pickled), allow_pickle=allow_pickle)


def load_tokenizer(root: Path) -> Any:
    """The tokenizer of a folder (no remote code); a pad token is set (EOS, else id 0) for batching only."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(root), trust_remote_code=False)
    except (OSError, ValueError) as err:
        raise ScorerError(f"{root}: cannot load the tokenizer ({err})") from err
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.convert_ids_to_tokens(0)
    return tokenizer


def load_backbone(root: Path, *, dtype: torch.dtype, allow_pickle: bool) -> nn.Module:
    """The bare backbone (`AutoModel`, no LM head) in `dtype`, safetensors only unless pickles are allowed."""
    from transformers import AutoModel

    try:
        with quiet_transformers():  # a causal LM's unused lm_head is reported as "unexpected": expected here
            model: nn.Module = AutoModel.from_pretrained(
                str(root), dtype=dtype, trust_remote_code=False, use_safetensors=None if allow_pickle else True
            )
    except (OSError, ValueError) as err:
        hint = f" If it ships only pickled .bin weights: {PICKLE_RISK}." if not allow_pickle else ""
        raise ScorerError(f"{root}: cannot load the backbone ({err}).{hint}") from err
    config = getattr(model, "config", None)
    if config is not None:
        config.use_cache = False
    return model


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """transformers without its load reports and tqdm bars (they would tear through our own progress bar)."""
    from transformers.utils import logging

    verbosity, bars = logging.get_verbosity(), logging.is_progress_bar_enabled()
    logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)
        if bars:
            logging.enable_progress_bar()  # type: ignore[no-untyped-call]


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """(batch, length, hidden) → (batch, hidden): first token, masked mean, or last real token.

    `last` takes, per row, the highest position whose mask is 1, so it is right for left and right padding
    and never depends on which id pads.
    """
    if pooling == "cls":
        return hidden[:, 0]
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)
    if pooling == "last":
        positions = torch.arange(1, attention_mask.shape[1] + 1, device=attention_mask.device)
        last = (attention_mask * positions).argmax(dim=1)
        return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
    raise ScorerError(f"unknown pooling {pooling!r}; expected cls, mean or last")


def make_heads(hidden_size: int) -> nn.ModuleList:
    """Five bias-free linear heads, official order and sizes (Fairness 3, Safety 3, Morality 3, Legality 2,
    Data protection 2)."""
    return nn.ModuleList(nn.Linear(hidden_size, info(d).n_classes, bias=False) for d in DIMENSIONS)


class HeadedClassifier(nn.Module):
    """Backbone + pooling + five heads; `forward` gives each row's logits from the head of its dimension."""

    def __init__(self, backbone: nn.Module, heads: nn.ModuleList, pooling: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = heads
        self.pooling = pooling

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """input_ids, attention_mask: (batch, length) → pooled hidden states (batch, hidden)."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return pool(hidden, attention_mask, self.pooling)

    def by_head(self, pooled: torch.Tensor, head_of: list[int]) -> dict[int, tuple[list[int], torch.Tensor]]:
        """Head index → (the rows it reads, their float32 logits (rows, classes)): one product per head."""
        out = {}
        for h in sorted(set(head_of)):
            rows = [i for i, x in enumerate(head_of) if x == h]
            head: nn.Linear = self.heads[h]  # type: ignore[assignment]
            out[h] = (rows, head(pooled[rows].to(head.weight.dtype)).float())
        return out

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, head_of: list[int]) -> list[torch.Tensor]:
        """Float32 logits per row, from head `head_of[row]`, in row order."""
        rows: dict[int, torch.Tensor] = {}
        for where, logits in self.by_head(self.pooled(input_ids, attention_mask), head_of).values():
            rows.update(zip(where, logits, strict=True))
        return [rows[i] for i in range(len(head_of))]
