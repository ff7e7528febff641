"""The OpenAI chat-completions wire format: request bodies and response parsing.

Shared by the HTTP backend and by llama-cpp-python (which answers in the same format), so that every
backend turns a reply into a `Completion` the same way and a malformed reply is never stored as an answer.
"""

from __future__ import annotations

from typing import Any

from flames.models.base import ChatRequest
from flames.models.moderation import BLOCKING_FINISH_REASONS, blocked_completion, moderation_refusal
from flames.models.outcomes import storable_outcome
from flames.records import Completion

_EXPLAINED_EMPTY = BLOCKING_FINISH_REASONS | {"length"}


class MalformedReply(ValueError):
    """A reply that does not hold an answer (no choices, no message text); worth retrying."""


def request_body(model: str, request: ChatRequest) -> dict[str, Any]:
    """The JSON body for one request. `config.extra` overrides the defaults; a key set to None is dropped
    (e.g. `{"max_tokens": null, "max_completion_tokens": 512}` for servers that want the newer name)."""
    cfg = request.config
    body: dict[str, Any] = {
        "model": model,
        "messages": list(request.messages),
        "max_tokens": cfg.max_new_tokens,
        "temperature": cfg.temperature,
        "top_p": cfg.top_p,
        "seed": cfg.seed,
        **cfg.extra,
    }
    return {k: v for k, v in body.items() if v is not None}


def parse_reply(data: Any, latency_s: float | None = None) -> Completion:
    """The first choice of a chat-completions reply as a Completion; raise MalformedReply when it has none.

    A separate reasoning trace (`reasoning_content`, or `reasoning`) goes to `Completion.reasoning`. A
    missing `content` is read as empty text when the reply says why (a content-filter or length
    `finish_reason`, or a reasoning trace): that is a final outcome, decided by
    `flames.models.outcomes.settle`, not a fault to retry. A body that is a provider's moderation refusal
    sent with status 200 is returned as that refusal (`blocked`). Text no store can hold (NUL, a lone
    surrogate from a `\\ud800` escape) is replaced (`flames.models.outcomes.storable_outcome`).
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        refusal = moderation_refusal(data)
        if refusal is not None:
            return blocked_completion(refusal, 200, latency_s)
        raise MalformedReply(f"reply has no choices[0].message ({str(data)[:200]!r})") from err
    finish = choice.get("finish_reason")
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if text is None and (finish in _EXPLAINED_EMPTY or reasoning):
        text = ""
    if not isinstance(text, str):
        raise MalformedReply(f"reply has no message text (finish_reason={finish!r})")
    usage = data.get("usage") or {}
    meta = {"model": data.get("model"), "id": data.get("id"), "system_fingerprint": data.get("system_fingerprint")}
    completion = Completion(
        text=text,
        finish_reason=finish,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_s=latency_s,
        meta={k: v for k, v in meta.items() if v},
        reasoning=reasoning if isinstance(reasoning, str) and reasoning else None,
    )
    return storable_outcome(completion)  # before anything reads it (the served model name, the answer)
