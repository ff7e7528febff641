"""The model backend interface shared by collection and LLM judges.

A backend turns chat requests into completions and reports each one as soon as it finishes, so the caller
can commit it at once (API backends finish out of order; local backends finish a batch at a time). A
request that cannot be answered yields a `Failure`, never a fake completion.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol, runtime_checkable

from flames.records import Completion


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings; part of a run's identity (hashed), so only put here what changes answers."""

    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    system_prompt: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Backend-specific body parameters (e.g. `{"repetition_penalty": 1.1}`)."""
    enable_thinking: bool | None = None
    """Local backends: passed as `enable_thinking` to the chat template (Qwen3-style templates switch the
    model's reasoning on or off with it; others ignore it). None: the template's own default."""
    keep_thinking: bool = False
    """Keep the reasoning trace inline in the stored answer instead of apart from it (see
    `flames.models.outcomes.settle`)."""

    def as_dict(self) -> dict[str, Any]:
        """The config as stored and hashed; unset values are left out, so adding a setting never changes the
        identity of runs made before it existed."""
        return {k: v for k, v in asdict(self).items() if v not in (None, {}) and not (k == "keep_thinking" and not v)}


@dataclass(frozen=True)
class BackendOptions:
    """How to reach or load a model; unlike `GenerationConfig` these never change answers, so a run may be
    resumed with different options (a new server URL, more concurrency, another device)."""

    concurrency: int = 8
    """API backends: the most requests in flight (the adaptive limit starts here and never exceeds it)."""
    base_url: str | None = None
    """API backends: server root, e.g. `http://localhost:8000/v1`; default `$OPENAI_BASE_URL`, else OpenAI."""
    base_urls: tuple[str, ...] = ()
    """API backends: several servers of the same model, used as one pool (`flames.models.pool`); when given,
    it replaces `base_url`, and `concurrency` applies to each server."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the API key (the key itself is never stored)."""
    headers: dict[str, str] = field(default_factory=dict)
    timeout_s: float = 120.0
    """Per-request timeout (API backends)."""
    max_retries: int = 6
    """Retries per request after the first attempt (API backends)."""
    dtype: str = "auto"
    device: str = "auto"
    batch_size: int = 8
    tensor_parallel: int = 1
    chat_template: str | None = None
    """Jinja chat template (text, or path to a file) for local models whose tokenizer has none."""
    trust_remote_code: bool = False
    """Allow a checkpoint's own Python code to run (never on by default)."""
    allow_pickle: bool = False
    """Allow loading pickled `.bin` weights (arbitrary code on load) when no safetensors exist."""


@dataclass(frozen=True)
class ChatRequest:
    key: str
    """Caller's handle, returned with the outcome."""
    messages: tuple[dict[str, str], ...]
    config: GenerationConfig


@dataclass(frozen=True)
class Failure:
    """A request that failed after the backend's retries; `error` says why, for the store and the user."""

    error: str
    attempts: int = 1


Outcome = tuple[ChatRequest, Completion | Failure]


class BackendError(Exception):
    """A backend that cannot start (missing model or extra, no chat template); the message says the fix."""


def chat_messages(prompt: str, system_prompt: str | None = None) -> tuple[dict[str, str], ...]:
    """The messages for one benchmark prompt: optional system prompt, then the prompt as the user turn."""
    user = ({"role": "user", "content": prompt},)
    return ({"role": "system", "content": system_prompt}, *user) if system_prompt else user


@runtime_checkable
class ModelBackend(Protocol):
    """What every backend module (`flames.models.<name>`) provides."""

    kind: str
    """Spec prefix: 'openai', 'hf', 'vllm', 'gguf'."""

    async def start(self) -> None:
        """Load weights / open connections. Raises BackendError with a fix when it cannot."""

    def describe(self) -> dict[str, Any]:
        """What was actually loaded (resolved model, chat template, dtype, device), for the run record."""

    def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        """Yield one outcome per request as soon as it is known, in any order."""

    async def close(self) -> None:
        """Release connections and memory."""


@runtime_checkable
class Drainable(Protocol):
    """A backend that can stop starting new requests while letting those in flight finish (first Ctrl-C):
    their answers are already being paid for, so they are still delivered and stored."""

    def drain(self) -> None:
        """Start nothing new; `stream` ends once the requests (or batch) in progress are reported."""


@runtime_checkable
class PromptTokenizer(Protocol):
    """A backend that holds its model's tokenizer (the local ones: hf, vllm, gguf), so a caller can count a
    chat prompt's tokens exactly before sending it (the LLM judge fits long answers into its input budget)."""

    def prompt_token_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The token ids the model reads for `messages`: its chat template applied, the assistant turn
        opened, special tokens as in generation. Valid after `start()`."""
