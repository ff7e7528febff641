"""The OpenAI Batch file format: input lines, splitting a run's requests at a provider's limits, and reading
the output and error files back into outcomes.

Input line: `{"custom_id", "method": "POST", "url": ENDPOINT, "body": CHAT_COMPLETIONS_BODY}`. Output and
error lines: `{"id", "custom_id", "response": {"status_code", "request_id", "body"} | null, "error": {"code",
"message"} | null}` (OpenAI Batch API reference, "The request input object" and "The request output
object"; DashScope and Zhipu write the same shape). A 200 body is read by the chat-completions reply parser
that live answers go through, so a batch answer is stored exactly as a live one would be.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flames.batch import BatchError
from flames.batch.providers import BatchProvider
from flames.models.base import Failure
from flames.models.chat_completions import MalformedReply, parse_reply
from flames.models.moderation import blocked_completion, moderation_refusal
from flames.records import Completion
from flames.store.batches import BatchItem


@dataclass(frozen=True)
class Line:
    """One request of an input file: the store's record of it and its bytes (UTF-8 JSON and a newline)."""

    item: BatchItem
    data: bytes


def request_line(item: BatchItem, endpoint: str, body: dict[str, Any]) -> Line:
    record = {"custom_id": item.custom_id, "method": "POST", "url": endpoint, "body": body}
    return Line(item, (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8"))


def split_lines(lines: Sequence[Line], provider: BatchProvider) -> list[list[Line]]:
    """Consecutive chunks of at most `max_requests` lines and `max_bytes` bytes each, one file per chunk.

    Raises BatchError when a single request is over the provider's per-line or per-file limit.
    """
    chunks: list[list[Line]] = []
    current: list[Line] = []
    size = 0
    line_limit = min(provider.max_bytes, provider.max_line_bytes or provider.max_bytes)
    for line in lines:
        n = len(line.data)
        if n > line_limit:
            raise BatchError(
                f"request {line.item.custom_id} is {n:,} bytes, over {provider.name}'s limit of {line_limit:,}"
                " per request; lower --max-new-tokens or shorten the prompt, or run it live"
            )
        if current and (len(current) >= provider.max_requests or size + n > provider.max_bytes):
            chunks.append(current)
            current, size = [], 0
        current.append(line)
        size += n
    if current:
        chunks.append(current)
    return chunks


def _error_text(record: dict[str, Any]) -> str:
    response = record.get("response") or {}
    error = record.get("error") or {}
    body = response.get("body")
    detail = body.get("error") if isinstance(body, dict) else body
    if isinstance(detail, dict):
        detail = detail.get("message") or detail.get("code") or json.dumps(detail, ensure_ascii=False)
    parts = [
        f"HTTP {response['status_code']}" if response.get("status_code") else None,
        error.get("code"),
        error.get("message") or (str(detail)[:300] if detail else None),
    ]
    return "batch: " + (": ".join(p for p in parts if p) or "request failed without a reason")


def read_results(raw: bytes, source: str) -> dict[str, Completion | Failure]:
    """custom_id → outcome for every line of an output or error file: a Completion for a 200 answer (parsed
    by `chat_completions.parse_reply`) or a moderation refusal (`blocked`), a Failure with the provider's
    reason for anything else.

    Raises BatchError naming `source` and the line of a line that is not a batch result.
    """
    results: dict[str, Completion | Failure] = {}
    for number, text in enumerate(raw.decode("utf-8").splitlines(), 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            custom_id = str(record["custom_id"])
        except (ValueError, KeyError, TypeError) as err:
            raise BatchError(f"{source}, line {number}: not a batch result line ({text[:120]!r})") from err
        response = record.get("response") or {}
        if response.get("status_code") == 200 and not record.get("error"):
            try:
                results[custom_id] = parse_reply(response.get("body"))
            except MalformedReply as err:
                results[custom_id] = Failure(f"batch: malformed reply: {err}")
        else:  # a provider's moderation refusal is final (blocked), as when asked live
            refusal = moderation_refusal(response.get("body")) or moderation_refusal({"error": record.get("error")})
            status = int(response.get("status_code") or 0)
            results[custom_id] = blocked_completion(refusal, status) if refusal else Failure(_error_text(record))
    return results
