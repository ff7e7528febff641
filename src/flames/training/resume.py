"""The last training checkpoint, for `--resume`: trainable weights, optimizer, schedule, loop position, RNG.

Written to `OUT/checkpoint/` at every dev evaluation (once per epoch by default) and removed when training
ends. Nothing is pickled: tensors (weights, AdamW moments, RNG states) go to safetensors files, everything
else (parameter groups, the learning-rate schedule's counters, the loop position, best dev score, history)
to `state.json`, together with the run's identity (settings, data sha256, backbone fingerprint), so a
checkpoint is never resumed with other data or settings.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from flames.training.config import TrainingError

CHECKPOINT_DIR = "checkpoint"
STATE_FILE = "state.json"
TRAINABLE_FILE = "trainable.safetensors"
OPTIMIZER_FILE = "optimizer.safetensors"


@dataclass
class LoopState:
    """Where the training loop stands: epoch, next batch in it, optimizer steps, early-stopping counters."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    best: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    history: list[dict[str, Any]] = field(default_factory=list)


def trainable_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that training changes (all for full fine-tuning; LoRA matrices and heads for LoRA)."""
    return {n: p.detach().to("cpu", copy=True).contiguous() for n, p in model.named_parameters() if p.requires_grad}


def save_checkpoint(
    out_dir: Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    loop: LoopState,
    identity: dict[str, Any],
) -> None:
    """Write the checkpoint next to the old one, then swap it in, so a crash mid-write keeps the old one."""
    final = out_dir / CHECKPOINT_DIR
    tmp = out_dir / (CHECKPOINT_DIR + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_file(trainable_state(model), tmp / TRAINABLE_FILE)
    opt = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, Any] = {}
    for pid, slots in opt["state"].items():
        for name, value in slots.items():
            if torch.is_tensor(value):
                tensors[f"{pid}.{name}"] = value.detach().to("cpu", copy=True).contiguous()
            else:
                scalars[f"{pid}.{name}"] = value
    tensors["rng.cpu"] = torch.get_rng_state()
    if torch.cuda.is_available():
        for i, rng in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = rng
    save_file(tensors, tmp / OPTIMIZER_FILE)
    state = {"identity": identity, "loop": asdict(loop), "param_groups": opt["param_groups"],
             "optimizer_scalars": scalars, "scheduler": scheduler.state_dict()}  # fmt: skip
    (tmp / STATE_FILE).write_text(json.dumps(state, ensure_ascii=False, indent=1), encoding="utf-8")
    old = out_dir / (CHECKPOINT_DIR + ".old")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def has_checkpoint(out_dir: Path) -> bool:
    return (out_dir / CHECKPOINT_DIR / STATE_FILE).is_file()


def load_checkpoint(
    out_dir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler: Any, identity: dict[str, Any]
) -> LoopState:
    """Restore a checkpoint into freshly built objects; raises TrainingError when it belongs to another run."""
    root = out_dir / CHECKPOINT_DIR
    state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
    if state["identity"] != identity:
        differs = sorted(k for k in identity if state["identity"].get(k) != identity[k])
        raise TrainingError(
            f"{root}: the checkpoint was written by a run with other {', '.join(differs)}; resume with the same "
            "labels and options, or train into a new folder"
        )
    weights = load_file(root / TRAINABLE_FILE)
    params = dict(model.named_parameters())
    if set(weights) != {n for n, p in params.items() if p.requires_grad}:
        raise TrainingError(f"{root / TRAINABLE_FILE}: does not match the model's trainable parameters")
    with torch.no_grad():
        for name, tensor in weights.items():
            params[name].copy_(tensor)
    tensors = load_file(root / OPTIMIZER_FILE)
    slots: dict[int, dict[str, Any]] = {}
    for key, tensor in tensors.items():
        if not key.startswith("rng."):
            pid, name = key.split(".", 1)
            slots.setdefault(int(pid), {})[name] = tensor
    for key, value in state["optimizer_scalars"].items():
        pid, name = key.split(".", 1)
        slots.setdefault(int(pid), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": state["param_groups"]})
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(tensors["rng.cpu"])
    cuda_keys = sorted((k for k in tensors if k.startswith("rng.cuda.")), key=lambda k: int(k.rsplit(".", 1)[1]))
    cuda = [tensors[k] for k in cuda_keys]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    return LoopState(**state["loop"])


def remove_checkpoint(out_dir: Path) -> None:
    shutil.rmtree(out_dir / CHECKPOINT_DIR, ignore_errors=True)
