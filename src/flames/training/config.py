"""Training settings: one frozen dataclass, recorded verbatim in the trained scorer's manifest."""

from __future__ import annotations

import types
import typing
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from flames.scorers.base import ScorerError
from flames.scorers.official.encode import TEMPLATES
from flames.scorers.trained.manifest import POOLINGS

TFIDF = "tfidf"
METHODS = ("full", "lora")
SCHEDULES = ("linear", "cosine", "constant")
CLASS_WEIGHTS = ("balanced", "none")
DEFAULT_LR = {"full": 2e-5, "lora": 2e-4}


class TrainingError(ScorerError):
    """Training cannot start or resume (bad settings, unusable labels, a foreign output folder); the message
    says which option or file and the fix."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train a scorer. `backbone` is `tfidf` (the CPU preset) or a transformers folder / Hub id.

    Units: learning rates per optimizer step (AdamW); `batch_size` in examples per forward pass, so one
    optimizer step sees `batch_size × grad_accum` labels; `max_length` in tokens; `warmup_ratio` is the
    share of all optimizer steps spent warming up; `patience` counts dev evaluations without a better dev
    macro-F1 before training stops (0: never stop early); `eval_every` is in optimizer steps (None: once
    per epoch).
    """

    backbone: str = TFIDF
    name: str | None = None
    """The scorer's name in the store and reports; default the output folder's name."""
    # transformer backbones
    method: str = "full"
    pooling: str | None = None
    """cls, mean (encoders) or last (decoders); None picks cls for encoders and last for decoders."""
    template: str = "official"
    max_length: int = 512
    epochs: int = 3
    batch_size: int = 8
    grad_accum: int = 1
    learning_rate: float | None = None
    """None: 2e-5 for full fine-tuning, 2e-4 for LoRA."""
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    schedule: str = "linear"
    class_weights: str = "balanced"
    """balanced: each head's classes weighted n / (k · n_class) in the loss (tfidf: in the logistic loss)."""
    patience: int = 2
    eval_every: int | None = None
    max_steps: int | None = None
    """Stop after this many optimizer steps (None: all epochs)."""
    seed: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    device: str = "auto"
    bf16: bool | None = None
    """bfloat16 autocast (and a bf16 frozen backbone under LoRA); None: on when the GPU supports it, off on CPU."""
    gradient_checkpointing: bool | None = None
    """None: on for GPU training, off on CPU."""
    allow_pickle: bool = False
    """Allow a backbone that has only pickled .bin weights (unpickling can run arbitrary code)."""
    # tfidf
    tfidf_ngram_max: int = 3
    tfidf_max_features: int = 100_000
    tfidf_min_df: int = 2
    """An n-gram is kept only when at least this many training texts contain it."""
    tfidf_c: float = 4.0
    """Inverse L2 regularisation strength of the logistic heads."""

    @property
    def is_tfidf(self) -> bool:
        return self.backbone == TFIDF

    @property
    def lr(self) -> float:
        return self.learning_rate if self.learning_rate is not None else DEFAULT_LR[self.method]

    def check(self) -> TrainConfig:
        """Return self, or raise TrainingError naming the option and its allowed values."""
        choices = {
            "method": (self.method, METHODS),
            "template": (self.template, tuple(TEMPLATES)),
            "schedule": (self.schedule, SCHEDULES),
            "class_weights": (self.class_weights, CLASS_WEIGHTS),
        }
        if self.pooling is not None:
            choices["pooling"] = (self.pooling, POOLINGS)
        for name, (value, allowed) in choices.items():
            if value not in allowed:
                raise TrainingError(f"{name} {value!r} is not one of {', '.join(allowed)}")
        positive = {"max_length": self.max_length, "epochs": self.epochs, "batch_size": self.batch_size,
                    "grad_accum": self.grad_accum, "lora_r": self.lora_r, "tfidf_ngram_max": self.tfidf_ngram_max,
                    "tfidf_max_features": self.tfidf_max_features, "tfidf_min_df": self.tfidf_min_df}  # fmt: skip
        for name, number in positive.items():
            if number < 1:
                raise TrainingError(f"{name} must be at least 1, got {number}")
        if self.max_length < 16:
            raise TrainingError(f"max_length {self.max_length} is too small to hold the input template")
        if self.lr <= 0 or self.tfidf_c <= 0:
            raise TrainingError("learning_rate and tfidf_c must be positive")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.lora_dropout < 1 or self.patience < 0:
            raise TrainingError("warmup_ratio and lora_dropout must be in [0, 1), patience at least 0")
        for name, steps in (("eval_every", self.eval_every), ("max_steps", self.max_steps)):
            if steps is not None and steps < 1:
                raise TrainingError(f"{name} must be at least 1 optimizer step, got {steps}")
        return self

    def with_options(self, options: dict[str, str]) -> TrainConfig:
        """A copy with settings given as text (`{"method": "lora", "epochs": "2", "bf16": "false"}`), converted to
        each field's type (`none` for an optional one); raises TrainingError naming an unknown key or bad value."""
        hints = typing.get_type_hints(TrainConfig)
        names = {f.name for f in fields(self)}
        changes: dict[str, Any] = {}
        for key, text in options.items():
            name = key.strip().replace("-", "_")
            if name not in names:
                raise TrainingError(f"unknown training setting {key!r}; known: {', '.join(sorted(names))}")
            changes[name] = _parse(name, text.strip(), hints[name])
        return replace(self, **changes).check()

    def to_json(self) -> dict[str, Any]:
        """Every setting; for tfidf only those that matter to it."""
        data = asdict(self)
        if self.is_tfidf:
            return {k: data[k] for k in ("backbone", "name", "class_weights", "seed", "tfidf_ngram_max",
                                         "tfidf_max_features", "tfidf_min_df", "tfidf_c")}  # fmt: skip
        data["learning_rate"] = self.lr
        return {k: v for k, v in data.items() if not k.startswith("tfidf_")}


def _parse(name: str, text: str, hint: Any) -> Any:
    """Text → a value of the field's type (`X | None` accepts `none`)."""
    optional = isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)
    if optional and text.lower() in ("none", "null"):
        return None
    kind = next(t for t in typing.get_args(hint) if t is not type(None)) if optional else hint
    try:
        if kind is bool:
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        return kind(text)
    except ValueError:
        raise TrainingError(f"training setting {name}: {text!r} is not a {kind.__name__}") from None
