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

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, {})}


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
    """A backend that cannot start (missing model, missing extra, no chat template); the message says the fix."""


def chat_messages(prompt: str, system_prompt: str | None = None) -> tuple[dict[str, str], ...]:
    """The messages for one benchmark prompt: optional system prompt, then the prompt as the user turn."""
    user = ({"role": "user", "content": prompt},)
    return (({"role": "system", "content": system_prompt},) + user) if system_prompt else user


@runtime_checkable
class ModelBackend(Protocol):
    """What every backend module (`flames.models.<name>`) provides."""

    kind: str
    """Spec prefix: 'openai', 'hf', 'vllm', 'gguf'."""

    async def start(self) -> None:
        """Load weights / open connections. Raises BackendError with a fix when it cannot."""

    def describe(self) -> dict[str, Any]:
        """What was actually loaded (resolved model, revision, chat template, dtype, device) for the run record."""

    def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        """Yield one outcome per request as soon as it is known, in any order."""

    async def close(self) -> None:
        """Release connections and memory."""
