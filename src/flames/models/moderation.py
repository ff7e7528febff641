"""Provider moderation refusals, recognised from one table with one entry per provider.

API providers refuse a prompt their content filter flags, and on a safety benchmark they do so on the most
harmful prompts. Such a refusal is final: the same prompt is refused again on every retry, so it is stored
once as *blocked*, with the provider's code and message, and never re-asked or paid for twice. Two forms:

- an HTTP 4xx whose JSON error body names the filter: recognised by `SIGNATURES` below;
- a 200 reply whose `finish_reason` is in `BLOCKING_FINISH_REASONS` and that holds no usable text
  (decided with the rest of a reply's outcome in `flames.models.outcomes`).

Adding a provider is one line in `SIGNATURES`: its name and the (field path, value) pairs of its error
body that mark a moderation refusal. A path is dotted (`error.innererror.code`); a value matches a field
that equals it, or, for fields named `message`, that contains it. Numbers are compared as text, so Zhipu's
code matches whether it is sent as `1301` or `"1301"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flames.records import BLOCKED, Completion

BLOCKING_FINISH_REASONS = frozenset({"content_filter", "sensitive"})
"""`content_filter`: OpenAI, Azure OpenAI, vLLM guardrails; `sensitive`: Zhipu GLM."""


@dataclass(frozen=True)
class Signature:
    """How one provider's error body says "refused by the content filter"."""

    provider: str
    matches: tuple[tuple[str, str], ...]
    """(dotted field path, value); the body is this provider's refusal when any pair matches."""


SIGNATURES: tuple[Signature, ...] = (
    Signature("DashScope / Qwen", (("error.code", "data_inspection_failed"), ("code", "DataInspectionFailed"))),
    Signature("Zhipu / GLM", (("error.code", "1301"),)),
    Signature("DeepSeek", (("error.message", "Content Exists Risk"),)),
    Signature("Moonshot / Kimi", (("error.type", "content_filter"),)),
    Signature("Azure OpenAI", (("error.code", "content_filter"),
                               ("error.innererror.code", "ResponsibleAIPolicyViolation"))),
    Signature("OpenAI", (("error.code", "invalid_prompt"),)),
)  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """A recognised moderation refusal: who refused, with the provider's own code and message."""

    provider: str
    code: str | None
    message: str

    def describe(self) -> str:
        code = f" {self.code}" if self.code else ""
        return f"blocked by {self.provider}{code}: {self.message}".rstrip(": ")


def _field(body: Any, path: str) -> Any:
    for part in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(part)
    return body


def _matches(body: Any, path: str, value: str) -> bool:
    found = _field(body, path)
    if found is None or isinstance(found, dict | list):
        return False
    text = str(found)
    return value in text if path.rsplit(".", 1)[-1] == "message" else text == value


def moderation_refusal(body: Any) -> Refusal | None:
    """The refusal a decoded JSON error body holds, or None when no entry of `SIGNATURES` matches.

    `body` is any decoded JSON value (a non-object is never a refusal). The code reported is the body's
    `error.code` (else `error.type`, else a top-level `code`); the message its `error.message` (else a
    top-level `message`), both as the provider sent them.
    """
    for sig in SIGNATURES:
        if any(_matches(body, path, value) for path, value in sig.matches):
            code = next((_field(body, p) for p in ("error.code", "error.type", "code") if _field(body, p)), None)
            message = _field(body, "error.message") or _field(body, "message") or ""
            return Refusal(sig.provider, None if code is None else str(code), str(message))
    return None


def blocked_completion(refusal: Refusal, http_status: int, latency_s: float | None = None) -> Completion:
    """A refusal as the final `blocked` outcome of a request, with the provider's code and message."""
    meta = {"provider": refusal.provider, "code": refusal.code, "message": refusal.message, "http_status": http_status}
    return Completion(text="", latency_s=latency_s, meta=meta, outcome=BLOCKED, detail=refusal.describe())
