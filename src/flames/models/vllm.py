"""`vllm:PATH_OR_HUB_ID` — vLLM's offline engine on GPUs (tensor parallel), with the model's chat template.

Prompts are rendered and tokenized here, exactly as for `hf:`, and handed to vLLM as token ids, so both
backends feed the model the same tokens (no second BOS from re-tokenizing rendered text). vLLM schedules
continuously inside `generate`; requests go in chunks so answers are committed while the run goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from flames.models.base import BackendError, BackendOptions, ChatRequest, GenerationConfig, Outcome
from flames.models.local import ThreadedBackend, chat_prompt_ids, render_prompts, resolve_chat_template
from flames.records import Completion

CHUNK = 256
"""Requests per `generate` call: big enough to keep the GPU busy, small enough to commit answers often."""


def sampling_params(config: GenerationConfig) -> dict[str, Any]:
    """vLLM `SamplingParams` arguments for a generation config (temperature 0 is greedy in vLLM)."""
    params: dict[str, Any] = {
        "max_tokens": config.max_new_tokens,
        "temperature": config.temperature,
        "top_p": 1.0 if config.top_p is None else config.top_p,
        "seed": config.seed,
    }
    return {**params, **config.extra}


def completion_from_output(output: Any, latency_s: float) -> Completion:
    """A vLLM `RequestOutput` (first sample) as a Completion."""
    sample = output.outputs[0]
    return Completion(
        text=sample.text,
        finish_reason=sample.finish_reason,
        prompt_tokens=len(output.prompt_token_ids or ()),
        completion_tokens=len(sample.token_ids),
        latency_s=latency_s,
    )


class VLLMBackend(ThreadedBackend):
    kind = "vllm"

    def __init__(self, target: str, options: BackendOptions) -> None:
        super().__init__(options)
        self.target = target
        self._llm: Any = None
        self._tokenizer: Any = None

    def _load(self) -> None:
        try:
            from vllm import LLM
        except ImportError as err:
            raise BackendError(
                "the vllm backend needs vLLM (Linux, CUDA GPU): pip install 'flames-eval[vllm]'"
            ) from err
        self._llm = LLM(
            model=self.target,
            tensor_parallel_size=self.options.tensor_parallel,
            dtype=self.options.dtype,
            trust_remote_code=self.options.trust_remote_code,
        )
        self._tokenizer = self._llm.get_tokenizer()
        own = getattr(self._tokenizer, "chat_template", None)
        self.template = resolve_chat_template(own, self.options.chat_template, self.target)

    def describe(self) -> dict[str, Any]:
        import vllm

        return {
            "model": self.target,
            "chat_template": self.template,
            "dtype": self.options.dtype,
            "tensor_parallel": self.options.tensor_parallel,
            "engine": f"vllm {vllm.__version__}",
        }

    async def close(self) -> None:
        self._llm = self._tokenizer = None

    def prompt_token_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """`PromptTokenizer`: the ids `stream` would feed the model for these messages."""
        return chat_prompt_ids(self._tokenizer, self.template, messages)

    def token_prompts(self, requests: Sequence[ChatRequest]) -> list[dict[str, list[int]]]:
        """Each request as vLLM token-id input: chat template applied, no special tokens added twice."""
        texts = render_prompts(self._tokenizer.apply_chat_template, requests, self.template)
        return [{"prompt_token_ids": self._tokenizer(t, add_special_tokens=False)["input_ids"]} for t in texts]

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        if self._llm is None:
            raise BackendError("VLLMBackend.stream called before start()")
        from vllm import SamplingParams

        prompts = self.token_prompts(requests)
        self._draining = False
        for start in range(0, len(requests), CHUNK):
            if self._draining:
                return
            chunk = range(start, min(start + CHUNK, len(requests)))
            params = [SamplingParams(**sampling_params(requests[i].config)) for i in chunk]
            t0 = time.perf_counter()
            outputs = await asyncio.to_thread(self._llm.generate, [prompts[i] for i in chunk], params, use_tqdm=False)
            latency = time.perf_counter() - t0
            for i, output in zip(chunk, outputs, strict=True):
                yield requests[i], completion_from_output(output, latency)
