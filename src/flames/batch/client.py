"""The `/files` and `/batches` calls of the OpenAI Batch API, as served by OpenAI, DashScope and Zhipu.

`base_url` is the same root as for live requests (`https://api.openai.com/v1`,
`https://dashscope.aliyuncs.com/compatible-mode/v1`, `https://open.bigmodel.cn/api/paas/v4`). Reads are
retried on transient errors; creating a batch is not (a retry could create it twice): the caller looks it up
by its metadata instead (`find`).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

import aiohttp

from flames.batch import BatchError
from flames.batch.providers import BatchProvider
from flames.models.concurrency import backoff_delay
from flames.models.openai import RETRYABLE_STATUS, proxy_for

METADATA_KEY = "flames_batch"
"""Metadata field holding the store's `local_key` of a batch."""
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
"""Provider statuses after which a batch changes no more (OpenAI Batch API, "The batch object")."""


class Transient(BatchError):
    """A 429, 5xx, timeout or dropped connection: the call may have happened or not."""


class BatchClient:
    """`async with BatchClient(base_url, "OPENAI_API_KEY") as client: ...`"""

    def __init__(
        self, base_url: str, api_key_env: str, headers: dict[str, str] | None = None, timeout_s: float = 600.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key_env = api_key_env
        self.headers = headers or {}
        self.timeout_s = timeout_s
        self.retries = 4
        self._session: aiohttp.ClientSession | None = None
        self._proxy = proxy_for(self.base_url)

    async def __aenter__(self) -> BatchClient:
        key = os.environ.get(self.api_key_env)
        if not key:
            raise BatchError(f"the batch API needs a key: export {self.api_key_env}=YOUR_KEY (or --api-key-env NAME)")
        self._session = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {key}", **self.headers},
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(self, method: str, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        assert self._session is not None, "use BatchClient as an async context manager"
        url = f"{self.base_url}{path}"
        try:
            async with self._session.request(method, url, proxy=self._proxy, **kwargs) as resp:
                body = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError) as err:
            raise Transient(f"{method} {url}: {type(err).__name__}: {err}") from err
        snippet = body[:300].decode("utf-8", "replace").strip()
        if status in RETRYABLE_STATUS:
            raise Transient(f"{method} {url}: HTTP {status}: {snippet}")
        if status >= 400:
            hint = {401: " Check the key.", 403: " Check the key.", 404: " Check --base-url and that the provider"
                    " offers a batch API."}.get(status, "")  # fmt: skip
            raise BatchError(f"{method} {url}: HTTP {status}: {snippet}.{hint}")
        if raw:
            return body
        try:
            return json.loads(body)
        except ValueError as err:
            raise Transient(f"{method} {url}: reply is not JSON: {snippet}") from err

    async def _read(self, path: str, *, raw: bool = False, **kwargs: Any) -> Any:
        """A GET, retried with backoff on transient errors (reads change nothing)."""
        for attempt in range(1, self.retries + 2):
            try:
                return await self._call("GET", path, raw=raw, **kwargs)
            except Transient:
                if attempt > self.retries:
                    raise
                await asyncio.sleep(backoff_delay(attempt))

    async def upload(self, name: str, data: bytes) -> str:
        """Upload an input file (purpose `batch`); return its file id. Retried: an orphan file costs nothing."""
        for attempt in range(1, self.retries + 2):
            form = aiohttp.FormData()
            form.add_field("purpose", "batch")
            form.add_field("file", data, filename=name, content_type="application/jsonl")
            try:
                reply = await self._call("POST", "/files", data=form)
                return str(reply["id"])
            except Transient:
                if attempt > self.retries:
                    raise
                await asyncio.sleep(backoff_delay(attempt))
            except (KeyError, TypeError) as err:
                raise BatchError(f"file upload to {self.base_url}: reply has no file id") from err
        raise AssertionError("unreachable")

    async def create(self, input_file_id: str, provider: BatchProvider, local_key: str) -> dict[str, Any]:
        """Create a batch (once: no retry here). Raises Transient when it may or may not have been created."""
        body = {
            "input_file_id": input_file_id,
            "endpoint": provider.endpoint,
            **provider.create_body,
            "metadata": {METADATA_KEY: local_key},
        }
        reply: dict[str, Any] = await self._call("POST", "/batches", json=body)
        return reply

    async def retrieve(self, batch_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = await self._read(f"/batches/{batch_id}")
        return reply

    async def cancel(self, batch_id: str) -> dict[str, Any]:
        reply: dict[str, Any] = await self._call("POST", f"/batches/{batch_id}/cancel")
        return reply

    async def content(self, file_id: str) -> bytes:
        data: bytes = await self._read(f"/files/{file_id}/content", raw=True)
        return data

    async def find(self, local_key: str, pages: int = 20) -> dict[str, Any] | None:
        """The batch created with this `local_key` in its metadata, searching the newest `pages` × 100."""
        after: str | None = None
        for _ in range(pages):
            params = {"limit": "100", **({"after": after} if after else {})}
            listing = await self._read("/batches", params=params)
            data = listing.get("data") or []
            for batch in data:
                if (batch.get("metadata") or {}).get(METADATA_KEY) == local_key:
                    found: dict[str, Any] = batch
                    return found
            if not listing.get("has_more") or not data:
                return None
            after = str(data[-1]["id"])
        return None
