"""What differs between providers' batch APIs: the request path inside the file, the file limits, and the
body of the create call.

Sources (2025): OpenAI Batch API reference (50,000 requests and 200 MB per input file, `completion_window`
"24h", `metadata`); Alibaba Cloud Model Studio "OpenAI compatible - Batch" (50,000 requests, 500 MB, 6 MB
per line; the test model `batch-test-model` answers on `/v1/chat/ds-test` without inference or fees, files
of at most 100 lines and 1 MB); Zhipu BigModel "创建批处理任务" (`/v4/chat/completions`, 50,000 requests and
100 MB per file, no `completion_window`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

MB = 1024 * 1024
DASHSCOPE_TEST_MODEL = "batch-test-model"


@dataclass(frozen=True)
class BatchProvider:
    name: str
    endpoint: str
    """Request path written in each line and given to the create call."""
    max_requests: int
    max_bytes: int
    """Largest input file."""
    max_line_bytes: int | None = None
    create_body: dict[str, Any] = field(default_factory=lambda: {"completion_window": "24h"})
    """Fields of the create call besides `input_file_id`, `endpoint` and `metadata`."""


OPENAI = BatchProvider("openai", "/v1/chat/completions", 50_000, 200 * MB)
DASHSCOPE = BatchProvider("dashscope", "/v1/chat/completions", 50_000, 500 * MB, max_line_bytes=6 * MB)
DASHSCOPE_TEST = replace(DASHSCOPE, name="dashscope-test", endpoint="/v1/chat/ds-test", max_requests=100, max_bytes=MB)
ZHIPU = BatchProvider("zhipu", "/v4/chat/completions", 50_000, 100 * MB, create_body={})

PROVIDERS = {p.name: p for p in (OPENAI, DASHSCOPE, DASHSCOPE_TEST, ZHIPU)}


def provider_for(
    base_url: str,
    model: str,
    *,
    endpoint: str | None = None,
    max_requests: int | None = None,
) -> BatchProvider:
    """The provider a base URL belongs to (DashScope and Zhipu by host, anything else speaks OpenAI's
    format), with the user's overrides: `endpoint` (the request path, e.g. `/v4/chat/completions` for a
    gateway in front of Zhipu) and a lower `max_requests` per file."""
    host = (urlsplit(base_url).hostname or "").lower()
    if "dashscope" in host:
        provider = DASHSCOPE_TEST if model == DASHSCOPE_TEST_MODEL else DASHSCOPE
    elif host.endswith("bigmodel.cn"):
        provider = ZHIPU
    else:
        provider = OPENAI
    if endpoint:
        provider = replace(provider, endpoint="/" + endpoint.lstrip("/"))
    if max_requests:
        provider = replace(provider, max_requests=min(max_requests, provider.max_requests))
    return provider
