"""The OpenAI chat-completions wire format: request bodies and response parsing.

Shared by the HTTP backend and by llama-cpp-python (which answers in the same format), so that every
backend turns a reply into a `Completion` the same way and a malformed reply is never stored as an answer.
"""

from __future__ import annotations

from typing import Any

from flames.models.base import ChatRequest
from flames.records import Completion


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

    A reply whose content was withheld by the provider's filter (`finish_reason == "content_filter"`), or
    that ran out of tokens before any text (`"length"` with content null: the budget went to reasoning), is a
    real outcome and is kept with empty text, so the caller can count it.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
        text = message.get("content")
    except (KeyError, IndexError, TypeError, AttributeError) as err:
        raise MalformedReply(f"reply has no choices[0].message ({str(data)[:200]!r})") from err
    finish = choice.get("finish_reason")
    if text is None and finish in ("content_filter", "length"):  # withheld, or the budget went to reasoning
        text = ""
    if not isinstance(text, str):
        raise MalformedReply(f"reply has no message text (finish_reason={finish!r})")
    usage = data.get("usage") or {}
    meta = {
        "model": data.get("model"),
        "id": data.get("id"),
        "reasoning": message.get("reasoning_content") or message.get("reasoning"),
        "system_fingerprint": data.get("system_fingerprint"),
    }
    return Completion(
        text=text,
        finish_reason=finish,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        latency_s=latency_s,
        meta={k: v for k, v in meta.items() if v},
    )
