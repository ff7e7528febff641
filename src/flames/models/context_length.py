"""Recognising a server's "this request is longer than my context window" rejection.

Such a rejection is deterministic: sending the same request again gets the same answer, so a caller treats
it as a final outcome for that request, not as a failure in transit. One entry per server family: the
text its error body carries (matched case-insensitively against a backend's `Failure.error`, which for
HTTP backends quotes the status and the start of the reply body). Adding a server is one line.
"""

from __future__ import annotations

CONTEXT_LENGTH_ERRORS: tuple[tuple[str, str], ...] = (
    ("OpenAI, Azure OpenAI, vLLM, DeepSeek", "maximum context length"),
    ("OpenAI, Azure OpenAI (error code)", "context_length_exceeded"),
    ("llama.cpp server (HTTP 400 exceed_context_size_error, or an older 500)", "exceeds the available context size"),
    ("llama.cpp server (older)", "context size has been exceeded"),
    ("SGLang", "longer than the model's context length"),
    ("Moonshot / Kimi", "exceeded model token limit"),
    ("Moonshot / Kimi (older)", "model max length exceeded"),
    ("DashScope / Qwen", "range of input length should be"),
    ("Zhipu GLM (code 1261)", "prompt exceeds max length"),
    ("Zhipu GLM (code 1261, older)", "prompt 超长"),
    ("Hugging Face TGI (HTTP 422)", "`inputs` tokens + `max_new_tokens` must be"),
)
"""(server, text of its error body)."""


def is_context_length_error(error: str) -> bool:
    """Whether a backend's error message is a context-length rejection from any server in
    `CONTEXT_LENGTH_ERRORS` (bodies as quoted in those servers' public bug reports)."""
    text = error.casefold()
    return any(sign in text for _, sign in CONTEXT_LENGTH_ERRORS)
