"""`hf:PATH_OR_HUB_ID` — a local transformers model: chat template, left-padded length-sorted batches.

Generation runs on a worker thread so the event loop (progress bar, Ctrl-C, store writes) stays responsive;
a cancelled stream stops the running batch at the next token. The same class loads GGUF files through
transformers' GGUF reader when llama-cpp-python is absent (see `flames.models.gguf`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from flames.models.base import BackendError, BackendOptions, ChatRequest, Failure, GenerationConfig, Outcome
from flames.models.local import (
    ThreadedBackend,
    chat_prompt_ids,
    config_groups,
    length_sorted_batches,
    pick_device,
    pick_dtype,
    render_prompts,
    resolve_chat_template,
    sampling_settings,
)
from flames.records import Completion


class HFBackend(ThreadedBackend):
    """Batched generation with a transformers causal LM."""

    kind: str = "hf"

    def __init__(self, target: str, options: BackendOptions, gguf_file: str | None = None) -> None:
        super().__init__(options)
        self.target, self.gguf_file = target, gguf_file
        self.device = "cpu"
        self._model: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        try:
            import transformers
        except ImportError as err:
            raise BackendError(
                f"the {self.kind} backend needs torch and transformers: pip install 'flames-eval[hf]'"
            ) from err

        common: dict[str, Any] = {"trust_remote_code": self.options.trust_remote_code}
        if self.gguf_file:
            common["gguf_file"] = self.gguf_file
        where = f"{self.target}/{self.gguf_file}" if self.gguf_file else self.target
        looks_like_path = self.target.startswith(("/", ".", "~")) or self.target.count("/") > 1
        if looks_like_path and not Path(self.target).expanduser().is_dir():
            raise BackendError(f"{self.kind}:{self.target}: no such model directory (or give a Hub id: org/name)")
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(self.target, **common)
        except (OSError, ValueError) as err:
            raise BackendError(f"cannot load the tokenizer of {where}: {err}") from err
        self.template = resolve_chat_template(tokenizer.chat_template, self.options.chat_template, where)
        self.device = pick_device(self.options.device)
        safetensors_only = not (self.options.allow_pickle or self.gguf_file)
        try:
            model: Any = transformers.AutoModelForCausalLM.from_pretrained(
                self.target,
                dtype=pick_dtype(self.options.dtype, self.device),
                use_safetensors=True if safetensors_only else None,
                **common,
            )
        except (OSError, ValueError) as err:
            hint = (
                " If it only ships pickled .bin weights, loading them can run arbitrary code:"
                " pass --allow-pickle only if you trust the source."
                if safetensors_only
                else ""
            )
            raise BackendError(f"cannot load the model {where}: {err}.{hint}") from err
        tokenizer.padding_side = "left"
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        self._tokenizer, self._model = tokenizer, model.to(self.device).eval()

    def describe(self) -> dict[str, Any]:
        import transformers

        model_config = getattr(self._model, "config", None)
        return {
            "model": self.target + (f"/{self.gguf_file}" if self.gguf_file else ""),
            "revision": getattr(model_config, "_commit_hash", None),
            "chat_template": self.template,
            "dtype": str(getattr(self._model, "dtype", self.options.dtype)),
            "device": self.device,
            "batch_size": self.options.batch_size,
            "engine": f"transformers {transformers.__version__}",
        }

    async def close(self) -> None:
        self._model = self._tokenizer = None

    def prompt_token_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """`PromptTokenizer`: the ids `stream` would feed the model for these messages."""
        return chat_prompt_ids(self._tokenizer, self.template, messages)

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        """Batches of one config, longest prompts first; yield a batch's outcomes when it finishes."""
        if self._model is None:
            raise BackendError("HFBackend.stream called before start()")
        prompts = render_prompts(self._tokenizer.apply_chat_template, requests, self.template)
        ids = [self._tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        self._stop.clear()
        self._draining = False
        try:
            for group in config_groups(requests):
                config = requests[group[0]].config
                for batch in length_sorted_batches(group, [len(x) for x in ids], self.options.batch_size):
                    if self._draining:
                        return
                    outcomes = await asyncio.to_thread(self._generate, [ids[i] for i in batch], config)
                    for i, outcome in zip(batch, outcomes, strict=True):
                        yield requests[i], outcome
        finally:
            self._stop.set()  # a cancelled run stops the batch still generating at its next token

    def _generate(self, batch: list[list[int]], config: GenerationConfig) -> list[Completion | Failure]:
        import torch
        import transformers

        tok, model = self._tokenizer, self._model
        inputs = tok.pad({"input_ids": batch}, padding=True, return_tensors="pt").to(self.device)
        if config.seed is not None:
            transformers.set_seed(config.seed)
        stop = self._stop

        class _Cancelled(transformers.StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> bool:
                return stop.is_set()

        t0 = time.perf_counter()
        try:
            with torch.inference_mode():
                out = model.generate(
                    **inputs,
                    **sampling_settings(config),
                    pad_token_id=tok.pad_token_id,
                    stopping_criteria=transformers.StoppingCriteriaList([_Cancelled()]),
                )
        except torch.OutOfMemoryError as err:
            message = f"out of memory at batch size {len(batch)} (lower --batch-size): {err}"
            return [Failure(message) for _ in batch]
        latency = time.perf_counter() - t0
        eos = set(_as_list(model.generation_config.eos_token_id)) | set(_as_list(tok.eos_token_id))
        new_tokens = out[:, inputs["input_ids"].shape[1] :].tolist()
        results: list[Completion | Failure] = []
        for prompt_ids, tokens in zip(batch, new_tokens, strict=True):
            end = next((k for k, t in enumerate(tokens) if t in eos), None)
            answer = tokens if end is None else tokens[:end]
            results.append(
                Completion(
                    text=tok.decode(answer, skip_special_tokens=True),
                    finish_reason="length" if end is None else "stop",
                    prompt_tokens=len(prompt_ids),
                    completion_tokens=len(tokens) if end is None else end + 1,
                    latency_s=latency,
                    meta={"batch_size": len(batch)},
                )
            )
        return results


def _as_list(value: int | list[int] | None) -> list[int]:
    return [] if value is None else [value] if isinstance(value, int) else list(value)
