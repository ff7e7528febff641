"""Fine-tuning a transformers backbone with the five FLAMES heads (full or LoRA), in a plain PyTorch loop.

Every label trains only its dimension's head (and, through it, the shared backbone), with a weighted
cross-entropy (class weights per head). The input is the template encoded exactly as the scorer will
encode it (`encode_improved`: long answers cut inside the response, the template's ending kept), so
training and scoring never see different texts. AdamW with warmup and a linear, cosine or constant schedule;
gradient accumulation; gradient-norm clipping at 1; bfloat16 autocast and gradient checkpointing on GPU.
Dev macro-F1 is measured by the scorer's own prediction code at every evaluation; the best weights so far
are saved in the output folder, and training stops after `patience` evaluations without improvement.
A checkpoint at every evaluation lets `resume` continue an interrupted run where it stopped.
"""

from __future__ import annotations

import contextlib
import math
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from flames.labels.records import LabelRecord
from flames.records import Judgment
from flames.scorers.official.encode import TEMPLATES, PromptTooLong, encode_improved
from flames.scorers.trained.manifest import HeadSpec
from flames.scorers.trained.network import (
    Backbone,
    HeadedClassifier,
    HFTextEncoder,
    default_pooling,
    load_backbone,
    load_tokenizer,
    make_heads,
    quiet_transformers,
)
from flames.scorers.trained.scorer import (
    ADAPTER_DIR,
    BACKBONE_DIR,
    HEADS_FILE,
    TOKENIZER_DIR,
    TransformerPredictor,
    judge_items,
)
from flames.taxonomy import DIMENSIONS
from flames.training.config import TrainConfig, TrainingError
from flames.training.data import as_items, dev_metrics
from flames.training.events import EventSink, TrainEvent
from flames.training.resume import LoopState, has_checkpoint, load_checkpoint, remove_checkpoint, save_checkpoint

SCHEDULE_NAMES = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}
MAX_GRAD_NORM = 1.0


@dataclass(frozen=True)
class Example:
    ids: list[int]
    head: int
    target: int
    """Class index in the head's official order."""


@dataclass(frozen=True)
class TransformerOutcome:
    """What the loop leaves for the manifest: files written, where it stopped, the saved weights' dev metrics."""

    pooling: str
    files: list[str]
    loop: LoopState
    device: str
    bf16: bool
    gradient_checkpointing: bool
    skipped: int
    """Training labels left out because the prompt alone does not fit `max_length`."""
    dev: dict[str, Any] | None


def encode_examples(
    records: Sequence[LabelRecord], heads: Sequence[HeadSpec], encoder: HFTextEncoder, config: TrainConfig
) -> tuple[list[Example], int]:
    """Token ids, head and class of every label of a trained head; also how many did not fit at all."""
    template = TEMPLATES[config.template]
    examples, skipped = [], 0
    for r in records:
        head = DIMENSIONS.index(r.dimension)
        if not heads[head].trained:
            continue
        try:
            enc = encode_improved(encoder, r.prompt, r.response, config.max_length, template)
        except PromptTooLong:
            skipped += 1
            continue
        examples.append(Example(enc.ids, head, heads[head].scores.index(r.label)))
    return examples, skipped


def class_weights(heads: Sequence[HeadSpec], balanced: bool) -> list[torch.Tensor]:
    """Per head, the loss weight of each class: n / (k · n_class) over the classes present (1 otherwise)."""
    out = []
    for head in heads:
        counts = [head.label_counts.get(s, 0) for s in head.scores]
        present = [c for c in counts if c]
        total = sum(present)
        out.append(torch.tensor([total / (len(present) * c) if balanced and c else 1.0 for c in counts]))
    return out


def train_transformer(
    train: Sequence[LabelRecord],
    dev: Sequence[LabelRecord],
    heads: Sequence[HeadSpec],
    backbone: Backbone,
    config: TrainConfig,
    out_dir: Path,
    *,
    identity: dict[str, Any],
    resume: bool,
    on_event: EventSink,
) -> TransformerOutcome:
    """Train, saving the best weights (or, without dev labels, the last) into `out_dir`.

    Raises TrainingError when no label fits or no head can be trained, or `resume` finds no checkpoint of
    this very run (`identity`: settings, data and backbone hashes).
    """
    from flames.models.local import pick_device

    if backbone.max_positions is not None and config.max_length > backbone.max_positions:
        raise TrainingError(f"max_length {config.max_length} exceeds the {backbone.max_positions} positions of "
                            f"{backbone.spec}; pass --max-length {backbone.max_positions} or less")  # fmt: skip
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    on_gpu = device.startswith("cuda")
    bf16 = config.bf16 if config.bf16 is not None else (on_gpu and torch.cuda.is_bf16_supported())
    checkpointing = config.gradient_checkpointing if config.gradient_checkpointing is not None else on_gpu
    pooling = config.pooling or default_pooling(backbone.role)
    tokenizer = load_tokenizer(backbone.root)
    encoder = HFTextEncoder(tokenizer)
    examples, skipped = encode_examples(train, heads, encoder, config)
    if not examples:
        raise TrainingError(f"no training label fits in max_length {config.max_length} tokens with its prompt")
    if skipped:
        on_event(TrainEvent("note", message=f"{skipped} training label(s) left out: the prompt alone exceeds "
                                            f"max_length {config.max_length}"))  # fmt: skip
    model = _build_model(backbone, config, pooling, bf16=bf16, checkpointing=checkpointing).to(device)
    optimizer = _optimizer(model, config)
    batches_per_epoch = math.ceil(len(examples) / config.batch_size)
    steps_per_epoch = math.ceil(batches_per_epoch / config.grad_accum)
    total = steps_per_epoch * config.epochs
    total = min(total, config.max_steps) if config.max_steps else total
    from transformers import get_scheduler

    scheduler = get_scheduler(SCHEDULE_NAMES[config.schedule], optimizer,
                              num_warmup_steps=int(config.warmup_ratio * total), num_training_steps=total)  # fmt: skip
    loop = LoopState()
    if resume:
        if not has_checkpoint(out_dir):
            raise TrainingError(f"{out_dir}: no checkpoint to resume from (the run stopped before its first "
                                "evaluation); delete the folder and start again without --resume")  # fmt: skip
        loop = load_checkpoint(out_dir, model, optimizer, scheduler, identity)
        on_event(TrainEvent("note", message=f"resumed at step {loop.step} (epoch {loop.epoch + 1})"))
    tokenizer.save_pretrained(str(out_dir / TOKENIZER_DIR))
    weights = [w.to(device) for w in class_weights(heads, config.class_weights == "balanced")]
    autocast = _autocast(device, bf16)
    predictor = TransformerPredictor(model, encoder, tokenizer.pad_token_id, TEMPLATES[config.template],
                                     config.max_length, batch_size=max(config.batch_size, 16))  # fmt: skip
    dev_items = as_items(dev)
    saved_files = [TOKENIZER_DIR, ADAPTER_DIR if config.method == "lora" else BACKBONE_DIR, HEADS_FILE]

    def evaluate() -> None:
        if dev:
            model.eval()
            with autocast():
                judgments: list[Judgment] = [j for batch in judge_items(predictor, dev_items, heads) for j in batch]
            model.train()
            metrics = dev_metrics(dev, judgments)
            f1 = metrics["overall"]["macro_f1"]
            improved = f1 is not None and (loop.best is None or f1 > loop.best)
            if improved:
                loop.best, loop.best_step, loop.bad_evals = f1, loop.step, 0
                loop.history.append({"step": loop.step, "epoch": loop.epoch, "dev": metrics, "best": True})
                _save_weights(model, out_dir, config.method)
            else:
                loop.bad_evals += 1
                loop.history.append({"step": loop.step, "epoch": loop.epoch, "dev": metrics, "best": False})
                loop.stopped_early = bool(config.patience) and loop.bad_evals >= config.patience
            on_event(TrainEvent("eval", step=loop.step, total_steps=total, epoch=loop.epoch, dev=metrics,
                                improved=improved))  # fmt: skip
        save_checkpoint(out_dir, model, optimizer, scheduler, loop, identity)

    on_event(TrainEvent("start", step=loop.step, total_steps=total, epoch=loop.epoch))
    model.train()
    finished = loop.step >= total or loop.stopped_early
    while not finished and loop.epoch < config.epochs:
        order = torch.randperm(len(examples), generator=torch.Generator().manual_seed(config.seed + loop.epoch))
        batches = [order[i : i + config.batch_size].tolist() for i in range(0, len(examples), config.batch_size)]
        for micro, step_loss in _steps(model, examples, batches, loop.batch, config.grad_accum, weights, autocast,
                                       tokenizer.pad_token_id, device):  # fmt: skip
            torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], MAX_GRAD_NORM)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            loop.step += 1
            loop.batch = micro
            on_event(TrainEvent("step", step=loop.step, total_steps=total, epoch=loop.epoch, loss=step_loss))
            finished = loop.step >= total
            epoch_end = micro == len(batches)
            if epoch_end:
                loop.epoch, loop.batch = loop.epoch + 1, 0
            due = loop.step % config.eval_every == 0 if config.eval_every else epoch_end
            if due or finished:
                evaluate()
            finished = finished or loop.stopped_early
            if finished:
                break
    if not dev:
        _save_weights(model, out_dir, config.method)
    remove_checkpoint(out_dir)
    best_dev = next((h["dev"] for h in reversed(loop.history) if h["best"]), None)
    on_event(TrainEvent("done", step=loop.step, total_steps=total, epoch=loop.epoch))
    return TransformerOutcome(pooling, saved_files, loop, device, bf16, checkpointing, skipped, best_dev)


def _build_model(
    backbone: Backbone, config: TrainConfig, pooling: str, *, bf16: bool, checkpointing: bool
) -> HeadedClassifier:
    """Backbone (LoRA-wrapped or not) + fresh heads; parameters created in a seeded, fixed order."""
    # Under LoRA the frozen backbone may live in bf16 (half the memory); full fine-tuning keeps float32
    # master weights and relies on autocast.
    dtype = torch.bfloat16 if bf16 and config.method == "lora" else torch.float32
    net = load_backbone(backbone.root, dtype=dtype, allow_pickle=config.allow_pickle)
    if checkpointing:
        # transformers 5 renamed gradient checkpointing to activation checkpointing; older releases have only
        # the first name.
        enable = getattr(net, "activation_checkpointing_enable", None)
        older = getattr(net, "gradient_checkpointing_enable", None)
        if enable is not None:
            enable(activation_checkpointing_kwargs={"use_reentrant": False})
        elif older is not None:
            older(gradient_checkpointing_kwargs={"use_reentrant": False})
        else:
            raise TrainingError(f"{backbone.spec}: this model type does not support gradient checkpointing")
    if config.method == "lora":
        from peft import LoraConfig, TaskType, get_peft_model

        lora = LoraConfig(task_type=TaskType.FEATURE_EXTRACTION, r=config.lora_r, lora_alpha=config.lora_alpha,
                          lora_dropout=config.lora_dropout, target_modules="all-linear")  # fmt: skip
        net = get_peft_model(net, lora)
    return HeadedClassifier(net, make_heads(backbone.hidden_size), pooling)


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW; weight decay on matrices only (not on biases and norms)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in trainable if p.ndim >= 2]
    rest = [p for p in trainable if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr)


def _autocast(device: str, bf16: bool) -> Any:
    def context() -> Any:
        if not bf16:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)

    return context


def _steps(
    model: HeadedClassifier,
    examples: list[Example],
    batches: list[list[int]],
    first: int,
    grad_accum: int,
    weights: list[torch.Tensor],
    autocast: Any,
    pad_id: int,
    device: str,
) -> Iterator[tuple[int, float]]:
    """Forward and backward over batches[first:]; after every `grad_accum` of them (and after the last),
    yield (batches consumed in this epoch, the mean loss of the step) for the caller to take the step."""
    from flames.scorers.official.scorer import right_pad

    total, parts = 0.0, 0
    for index in range(first, len(batches)):
        rows = [examples[i] for i in batches[index]]
        ids, mask = right_pad([r.ids for r in rows], pad_id)
        targets = torch.tensor([r.target for r in rows], device=device)
        with autocast():
            pooled = model.pooled(ids.to(device), mask.to(device))
            loss = torch.zeros((), device=device)
            for head, (where, logits) in model.by_head(pooled, [r.head for r in rows]).items():
                loss = loss + nn.functional.cross_entropy(logits, targets[where], weight=weights[head],
                                                          reduction="sum")  # fmt: skip
        (loss / len(rows) / grad_accum).backward()  # type: ignore[no-untyped-call]
        total, parts = total + loss.item() / len(rows), parts + 1
        if parts == grad_accum or index == len(batches) - 1:
            yield index + 1, total / parts
            total, parts = 0.0, 0


def _save_weights(model: HeadedClassifier, out_dir: Path, method: str) -> None:
    """The scorer's weights: `backbone/` (full) or `adapter/` (LoRA) via save_pretrained, and the heads;
    each written beside the old copy and swapped in."""
    target = out_dir / (ADAPTER_DIR if method == "lora" else BACKBONE_DIR)
    tmp = target.with_name(target.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    with quiet_transformers():
        model.backbone.save_pretrained(str(tmp))  # type: ignore[operator]  # safetensors (transformers 5, peft)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    heads = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in model.heads.state_dict().items()}
    save_file(heads, out_dir / (HEADS_FILE + ".part"))
    (out_dir / (HEADS_FILE + ".part")).replace(out_dir / HEADS_FILE)
