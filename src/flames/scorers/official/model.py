"""The scorer network: transformers' own LLaMA decoder (attention bias on) plus the five FLAMES heads.

InternLM-chat-7B v1 is a LLaMA decoder with bias on q/k/v/o (docs/benchmark.md §4), so no checkpoint code is
needed. Loading is strict both ways: every tensor in the checkpoint must land in the model (only the
rotary `inv_freq` buffers, which the model recomputes, may be left) and every parameter must be filled.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from flames.scorers.base import ScorerError
from flames.taxonomy import DIMENSIONS, info

MODEL_TYPE = "internlm"
IGNORED_KEY = re.compile(r"model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq")
"""The only checkpoint tensors allowed to stay unused: RoPE frequencies, recomputed from the config."""
BACKBONE_PREFIX = "model."
HEAD_PREFIX = "classifiers."


@dataclass(frozen=True)
class Architecture:
    """The backbone dimensions read from config.json, checked against what the scorer can run."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    max_positions: int
    rms_norm_eps: float
    rope_theta: float
    bos_id: int
    pad_id: int

    @classmethod
    def from_config(cls, config: dict[str, Any], source: str) -> Architecture:
        """Validate an InternLM config.json; every refusal names the field and what was expected."""
        if config.get("model_type") != MODEL_TYPE:
            raise ScorerError(
                f"{source}: model_type is {config.get('model_type')!r}, expected {MODEL_TYPE!r} "
                "(the FLAMES scorer is an InternLM-chat-7B v1 classifier)"
            )
        if config.get("bias", True) is not True:
            raise ScorerError(f"{source}: 'bias' is false, but the FLAMES scorer has q/k/v/o projection biases")
        if config.get("hidden_act", "silu") != "silu":
            raise ScorerError(f"{source}: hidden_act {config['hidden_act']!r}, expected 'silu'")
        rotary = config.get("rotary") or {}
        try:
            return cls(
                vocab_size=int(config["vocab_size"]),
                hidden_size=int(config["hidden_size"]),
                intermediate_size=int(config["intermediate_size"]),
                num_layers=int(config["num_hidden_layers"]),
                num_heads=int(config["num_attention_heads"]),
                num_kv_heads=int(config.get("num_key_value_heads") or config["num_attention_heads"]),
                max_positions=int(config.get("max_position_embeddings", 2048)),
                rms_norm_eps=float(config.get("rms_norm_eps", 1e-6)),
                rope_theta=float(rotary.get("base", config.get("rope_theta", 10000.0))),
                bos_id=int(config.get("bos_token_id", 1)),
                pad_id=int(config.get("pad_token_id", 2)),
            )
        except KeyError as err:
            raise ScorerError(f"{source}: config.json lacks the field {err.args[0]!r}") from err
        except (TypeError, ValueError) as err:
            raise ScorerError(f"{source}: config.json has a field of the wrong type ({err})") from err


class FlamesScorerModel(nn.Module):
    """Backbone + heads; `forward` returns each row's logits from the head of its dimension."""

    def __init__(self, backbone: nn.Module, heads: nn.ModuleList) -> None:
        super().__init__()
        self.backbone = backbone
        self.heads = heads

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, pool_at: torch.Tensor, head_of: list[int]
    ) -> list[torch.Tensor]:
        """Logits (float32) per row, pooled at `pool_at[row]` and read by head `head_of[row]`."""
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(hidden.shape[0], device=hidden.device)
        pooled = hidden[rows, pool_at]
        return [self.heads[h](pooled[i]).float() for i, h in enumerate(head_of)]


def build_model(
    arch: Architecture, state: dict[str, torch.Tensor], *, device: str, dtype: torch.dtype, source: str
) -> FlamesScorerModel:
    """Place checkpoint tensors into a LlamaModel and the heads, refusing any unused or missing tensor."""
    from transformers import LlamaConfig, LlamaModel
    from transformers.models.llama.modeling_llama import LlamaRotaryEmbedding

    config = LlamaConfig(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        intermediate_size=arch.intermediate_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        num_key_value_heads=arch.num_kv_heads,
        hidden_act="silu",
        max_position_embeddings=arch.max_positions,
        rms_norm_eps=arch.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": arch.rope_theta},
        attention_bias=True,
        mlp_bias=False,
        tie_word_embeddings=False,
        bos_token_id=arch.bos_id,
        pad_token_id=arch.pad_id,
        use_cache=False,
    )
    backbone_state, head_state = _split(state, source)
    with torch.device("meta"):  # no time or memory spent on random weights that are overwritten next
        backbone = LlamaModel(config)
        heads = nn.ModuleList(nn.Linear(arch.hidden_size, info(d).n_classes, bias=False) for d in DIMENSIONS)
    _check_keys(set(backbone.state_dict()), set(backbone_state), BACKBONE_PREFIX, source)
    _check_keys(set(heads.state_dict()), set(head_state), HEAD_PREFIX, source)
    _check_shapes(backbone, backbone_state, BACKBONE_PREFIX, source)
    _check_shapes(heads, head_state, HEAD_PREFIX, source)
    backbone.load_state_dict({k: v.to(device=device, dtype=dtype) for k, v in backbone_state.items()}, assign=True)
    heads.load_state_dict({k: v.to(device=device, dtype=dtype) for k, v in head_state.items()}, assign=True)
    # Buffers are not in the checkpoint: rebuild RoPE for real, in float32 (its precision matters).
    backbone.rotary_emb = LlamaRotaryEmbedding(config).to(device)
    return FlamesScorerModel(backbone, heads).eval()


def _split(state: dict[str, torch.Tensor], source: str) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    backbone: dict[str, torch.Tensor] = {}
    heads: dict[str, torch.Tensor] = {}
    unused = []
    for key, tensor in state.items():
        if key.startswith(BACKBONE_PREFIX) and not IGNORED_KEY.fullmatch(key):
            backbone[key.removeprefix(BACKBONE_PREFIX)] = tensor
        elif key.startswith(HEAD_PREFIX):
            heads[key.removeprefix(HEAD_PREFIX)] = tensor
        elif not IGNORED_KEY.fullmatch(key):
            unused.append(key)
    if unused:
        raise ScorerError(f"{source}: checkpoint tensors the scorer does not use: {_sample(unused)}")
    return backbone, heads


def _check_keys(expected: set[str], found: set[str], prefix: str, source: str) -> None:
    missing, unused = expected - found, found - expected
    if missing:
        raise ScorerError(f"{source}: checkpoint lacks tensors: {_sample(prefix + k for k in missing)}")
    if unused:
        raise ScorerError(
            f"{source}: checkpoint tensors the scorer does not use: {_sample(prefix + k for k in unused)}"
        )


def _check_shapes(module: nn.Module, state: dict[str, torch.Tensor], prefix: str, source: str) -> None:
    for key, param in module.state_dict().items():
        if tuple(state[key].shape) != tuple(param.shape):
            raise ScorerError(
                f"{source}: {prefix}{key} has shape {tuple(state[key].shape)}, config.json implies {tuple(param.shape)}"
            )


def _sample(keys: Any) -> str:
    ordered = sorted(keys)
    more = f" and {len(ordered) - 5} more" if len(ordered) > 5 else ""
    return ", ".join(ordered[:5]) + more
