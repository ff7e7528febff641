"""What the local backends (hf, vllm, gguf) share: chat templating, device/dtype choice, batching.

Prompts are rendered with the model's own chat template (or one the user gives), because answering the
raw prompt without it makes an instruct model a different model; a model without any template is an error,
not a silent fallback.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from flames.models.base import BackendError, BackendOptions, ChatRequest, GenerationConfig


class ThreadedBackend:
    """What every local backend shares: weights load and generation run on a worker thread, so the event
    loop (progress bar, Ctrl-C, store writes) stays live; `drain` ends a stream after the batch in flight,
    and `_stop` lets a cancelled stream interrupt the batch itself."""

    def __init__(self, options: BackendOptions) -> None:
        self.options = options
        self.template = ""
        self._stop = threading.Event()
        self._draining = False

    async def start(self) -> None:
        await asyncio.to_thread(self._load)

    def _load(self) -> None:
        raise NotImplementedError

    def drain(self) -> None:
        self._draining = True


def resolve_chat_template(own: str | None, override: str | None, model: str) -> str:
    """The template to use: `override` (Jinja text or a file path), else the model's own, else an error."""
    if override:
        path = Path(override)
        return path.read_text(encoding="utf-8") if "{" not in override and path.is_file() else override
    if own:
        return own
    raise BackendError(
        f"{model} has no chat template (its tokenizer defines none), so its answers would not be what a chat"
        " user sees. Pass one with --chat-template FILE (a Jinja template, e.g. from the base model's"
        " tokenizer_config.json), or pick the model's -Instruct/-Chat version."
    )


def template_switches(config: GenerationConfig) -> dict[str, Any]:
    """Extra variables for the chat template: `enable_thinking` when the config sets it (`--thinking`)."""
    return {} if config.enable_thinking is None else {"enable_thinking": config.enable_thinking}


def template_with_switches(template: str, config: GenerationConfig) -> str:
    """`template` with the config's switches set at its top (`{%- set enable_thinking = false -%}`), for
    engines that pass no extra variables to a chat template (llama-cpp-python)."""
    head = "".join(
        "{%- set " + name + " = " + str(value).lower() + " -%}\n" for name, value in template_switches(config).items()
    )
    return head + template


def render_prompts(apply_template: Callable[..., Any], requests: Sequence[ChatRequest], template: str) -> list[str]:
    """Each request's messages through `tokenizer.apply_chat_template`, ending with the assistant turn, with
    the config's template switches (`enable_thinking`) passed as template variables."""
    return [
        str(
            apply_template(
                list(r.messages), chat_template=template, tokenize=False, add_generation_prompt=True,
                **template_switches(r.config),
            )
        )
        for r in requests
    ]  # fmt: skip


def chat_prompt_ids(tokenizer: Any, template: str, messages: Sequence[dict[str, str]]) -> list[int]:
    """Token ids of one chat prompt, rendered and tokenized as `hf:` and `vllm:` feed prompts to the model."""
    request = ChatRequest("", tuple(messages), GenerationConfig())
    text = render_prompts(tokenizer.apply_chat_template, [request], template)[0]
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def config_groups(requests: Sequence[ChatRequest]) -> list[list[int]]:
    """Indices of requests grouped by identical generation config (a batch shares one config)."""
    groups: dict[str, list[int]] = {}
    for i, r in enumerate(requests):
        groups.setdefault(repr(sorted(r.config.as_dict().items())), []).append(i)
    return list(groups.values())


def length_sorted_batches(indices: Sequence[int], lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Batches of similar-length prompts (longest first), so left padding wastes little compute and an
    out-of-memory error shows up in the first batch rather than the last."""
    order = sorted(indices, key=lambda i: -lengths[i])
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def pick_device(device: str) -> str:
    """'auto' → cuda if available, else mps, else cpu; anything else is checked to exist."""
    import torch

    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if torch.backends.mps.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendError(f"--device {device}: no CUDA GPU is visible to torch; use --device cpu")
    if device == "mps" and not torch.backends.mps.is_available():
        raise BackendError("--device mps: Apple's Metal backend is not available; use --device cpu")
    return device


def pick_dtype(dtype: str, device: str) -> Any:
    """'auto' → bfloat16 on CUDA, float16 on MPS, float32 on CPU (half precision is slow or unsupported)."""
    import torch

    if dtype == "auto":
        dtype = {"cuda": "bfloat16", "mps": "float16"}.get(device.split(":")[0], "float32")
    value = getattr(torch, dtype, None)
    if not isinstance(value, torch.dtype):
        raise BackendError(f"--dtype {dtype}: not a torch dtype; use auto, float32, bfloat16 or float16")
    return value


def cpu_threads() -> int:
    """Cores this process may use (respects taskset/cgroup affinity)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def sampling_settings(config: GenerationConfig) -> dict[str, Any]:
    """Decoding settings common to local engines: greedy at temperature 0, sampling otherwise."""
    settings: dict[str, Any] = {"max_new_tokens": config.max_new_tokens}
    if config.temperature > 0:
        settings.update(do_sample=True, temperature=config.temperature)
        if config.top_p is not None:
            settings["top_p"] = config.top_p
    else:
        settings["do_sample"] = False
    return {**settings, **config.extra}
