"""`openai:MODEL` — any OpenAI-compatible chat-completions server (vLLM, SGLang, llama.cpp, Ollama, DeepSeek,
DashScope, Moonshot, Zhipu, OpenAI ...).

Built on aiohttp because per-request client CPU decides throughput once the server is fast (see
docs/performance.md). Requests run under an adaptive limit (`concurrency.AdaptiveLimiter`); 429, 5xx,
timeouts, dropped connections and malformed bodies are retried with backoff. A provider's moderation refusal
(a 4xx listed in `flames.models.moderation`) is the final outcome `blocked`; other 4xx answers fail the item
at once, without retries. Authentication and not-found errors stop the whole run, since every request would
fail alike. Several servers of one model (`BackendOptions.base_urls`) form a pool (`pool.EndpointPool`):
least outstanding requests, a limit and a health record per server. A base URL with credentials
(`http://user:password@proxy/v1`, a basic-auth reverse proxy) sends them as that server's `Authorization:
Basic` header, unless an API key (or `--header Authorization`) claims the header too: then it refuses to start
and says how to choose (`OpenAIBackend._check_credentials`). The credentials are never recorded or shown.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import urllib.request
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from flames.models.base import BackendError, BackendOptions, ChatRequest, Failure, Outcome
from flames.models.chat_completions import MalformedReply, parse_reply, request_body
from flames.models.concurrency import backoff_delay, parse_retry_after
from flames.models.moderation import Refusal, blocked_completion, moderation_refusal
from flames.models.pool import EndpointPool
from flames.records import Completion
from flames.urls import masked_url, split_credentials

DEFAULT_BASE_URL = "https://api.openai.com/v1"
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


class _Retry(Exception):
    """A transient error: try again after a backoff."""

    def __init__(self, message: str, *, throttled: bool = False, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.throttled = throttled
        self.retry_after = retry_after


class _Rejected(Exception):
    """The server refused this request (a 4xx that is not a moderation refusal, e.g. a bad parameter): fail
    the item without retrying it now."""


def proxy_for(url: str) -> str | None:
    """The proxy `HTTP(S)_PROXY`/`NO_PROXY` give for `url`, as the official OpenAI client honours them.
    Resolved once per run: aiohttp's `trust_env` redoes it per request, ~0.3 ms CPU each."""
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):
        return None
    return urllib.request.getproxies().get(parts.scheme)


def _target(url: str) -> tuple[str, dict[str, str] | None]:
    """Where to send a request for an endpoint URL, and the `Authorization: Basic` header its credentials
    make (aiohttp refuses credentials in a URL beside a session's Authorization header)."""
    plain, credentials = split_credentials(url)
    if credentials is None:
        return url, None
    token = base64.b64encode(":".join(credentials).encode()).decode()  # RFC 7617, UTF-8
    return plain, {"Authorization": f"Basic {token}"}


def _snippet(raw: bytes) -> str:
    return raw[:300].decode("utf-8", "replace").strip()


def _refusal(raw: bytes) -> Refusal | None:
    """The provider's moderation refusal in an error body, if it is one (see `flames.models.moderation`)."""
    try:
        return moderation_refusal(json.loads(raw))
    except ValueError:
        return None


class OpenAIBackend:
    """Chat completions over HTTP with adaptive concurrency and retries."""

    kind = "openai"

    def __init__(self, model: str, options: BackendOptions) -> None:
        if not model:
            raise BackendError("openai: needs a model name, e.g. `openai:gpt-4o-mini` or `openai:qwen2.5:7b`")
        self.model = model
        self.options = options
        base_url = options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        self.base_urls = [u.rstrip("/") for u in options.base_urls or (base_url,)]
        self.base_url = self.base_urls[0]
        self.url = f"{self.base_url}/chat/completions"
        self.pool = EndpointPool([f"{u}/chat/completions" for u in self.base_urls], options.concurrency)
        self._targets = {e.url: _target(e.url) for e in self.pool.endpoints}
        """Endpoint URL → (the URL requests go to, without credentials; its basic-auth header, if any)."""
        self.served_model: str | None = None
        self._session: aiohttp.ClientSession | None = None
        self._draining = False
        self._proxies: dict[str, str | None] = {}

    async def start(self) -> None:
        key = os.environ.get(self.options.api_key_env)
        if not key and self.options.api_key_env != BackendOptions.api_key_env:
            raise BackendError(
                f"--api-key-env {self.options.api_key_env}: that environment variable is not set;"
                f" export {self.options.api_key_env}=YOUR_KEY"
            )
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        headers.update(self.options.headers)
        self._check_credentials(headers)
        self._session = aiohttp.ClientSession(
            headers=headers,
            connector=aiohttp.TCPConnector(limit=self.pool.capacity, ttl_dns_cache=300),
            timeout=aiohttp.ClientTimeout(total=self.options.timeout_s),
        )
        self._proxies = {e.url: proxy_for(e.url) for e in self.pool.endpoints}

    def _check_credentials(self, headers: dict[str, str]) -> None:
        """Credentials in a base URL (`http://user:password@proxy/v1`, a basic-auth reverse proxy) become that
        endpoint's `Authorization: Basic` header, sent only when nothing else claims the header: with an API
        key (or a `--header Authorization`) too, one of the two would be lost, so this raises BackendError."""
        with_credentials = [url for url, (_, auth) in self._targets.items() if auth is not None]
        claimed = next((name for name in headers if name.lower() == "authorization"), None)
        if with_credentials and claimed:
            source = (f"${self.options.api_key_env} is set" if claimed not in self.options.headers
                      else f"--header {claimed} is given")  # fmt: skip
            base_url = masked_url(with_credentials[0].removesuffix("/chat/completions"))
            raise BackendError(
                f"the base URL {base_url} carries basic-auth credentials (a proxy's), and"
                f" {source}: both would be the request's Authorization header. If the server behind the proxy"
                f" needs no key, run with {self.options.api_key_env}= (empty) and no Authorization header; if it"
                " does, the proxy must take its credentials another way than in the URL."
            )

    def describe(self) -> dict[str, Any]:
        described = {
            "model": self.served_model or self.model,
            "requested_model": self.model,
            "base_url": masked_url(self.base_url),
            "concurrency_limit": sum(e.window.limit for e in self.pool.endpoints),
        }
        return {**described, "endpoints": self.pool.describe()} if len(self.base_urls) > 1 else described

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def drain(self) -> None:
        self._draining = True

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        """Run up to `concurrency` workers over the requests; yield each outcome as it arrives."""
        if self._session is None:
            raise BackendError("OpenAIBackend.stream called before start()")
        self._draining = False
        results: asyncio.Queue[Outcome | BaseException | None] = asyncio.Queue()
        todo = iter(requests)

        async def worker() -> None:
            try:
                for req in todo:
                    outcome = await self._answer(req)
                    if outcome is None:  # draining: this one was never sent
                        break
                    results.put_nowait((req, outcome))
            except Exception as err:  # surfaced to the consumer, which stops the run
                results.put_nowait(err)
            finally:
                results.put_nowait(None)

        tasks = [asyncio.create_task(worker()) for _ in range(min(self.pool.capacity, len(requests)))]
        try:
            running = len(tasks)
            while running:
                item = await results.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    raise item
                else:
                    yield item
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _answer(self, req: ChatRequest) -> Completion | Failure | None:
        """The request's outcome after retries; None if draining began before it was first sent."""
        body = json.dumps(request_body(self.model, req), ensure_ascii=False).encode()
        attempt = 0
        while True:
            attempt += 1
            lease = await self.pool.acquire()
            if self._draining and attempt == 1:
                self.pool.release(lease, "neutral")
                return None
            try:
                completion = await self._post(body, lease.endpoint.url)
            except _Retry as err:
                self.pool.release(lease, "throttled" if err.throttled else "failed", retry_after=err.retry_after)
                if attempt > self.options.max_retries or self._draining:
                    return Failure(f"{err} (gave up after {attempt} attempts)", attempt)
                await asyncio.sleep(max(backoff_delay(attempt), err.retry_after or 0.0))
                continue
            except _Rejected as err:
                self.pool.release(lease)
                return Failure(str(err), attempt)
            except BaseException:
                self.pool.release(lease, "neutral")
                raise
            self.pool.release(lease)
            self.served_model = self.served_model or completion.meta.get("model")
            if attempt > 1:
                completion.meta["attempts"] = attempt
            return completion

    async def _post(self, body: bytes, url: str) -> Completion:
        assert self._session is not None
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        try:
            target, auth = self._targets[url]
            async with self._session.post(target, data=body, headers=auth, proxy=self._proxies.get(url)) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
        except TimeoutError as err:
            raise _Retry(f"timed out after {self.options.timeout_s:g}s") from err
        except aiohttp.ClientError as err:
            raise _Retry(f"connection error: {type(err).__name__}: {err}") from err
        latency = loop.time() - t0
        if status == 200:
            try:
                return parse_reply(json.loads(raw), latency)
            except (ValueError, MalformedReply) as err:
                raise _Retry(f"malformed reply: {err}") from err
        message = f"HTTP {status} from {masked_url(url)}: {_snippet(raw)}"
        if status in RETRYABLE_STATUS:
            raise _Retry(message, throttled=status == 429, retry_after=retry_after)
        if status == 401:
            raise BackendError(f"{message}. Check the key in ${self.options.api_key_env}.")
        if status == 404:
            raise BackendError(f"{message}. Check --base-url (it usually ends in /v1) and the model name.")
        refusal = _refusal(raw) if 400 <= status < 500 else None
        if refusal is not None:
            return blocked_completion(refusal, status, latency)
        if status == 403:
            raise BackendError(f"{message}. Check the key in ${self.options.api_key_env}.")
        raise _Rejected(message)
