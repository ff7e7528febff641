"""A real chat-completions HTTP server on loopback, with fault injection, for tests and benchmarks.

Use it in-process (`with ChatServer(...) as server:` runs it on its own thread and event loop) or as a
script (`python tests/collect/chat_server.py --latency 0.2` prints its base URL, then serves until killed).

- `reply(messages) -> str` decides the answer text (default: an echo of the last user turn), so a test can
  script an LLM judge;
- `faults(prompt, attempt) -> kind | None` injects a fault into the `attempt`-th request (1-based) for a
  prompt (the last user turn): "429" (with Retry-After), "500", "timeout" (answers after `hang_s`),
  "malformed" (200 with a broken JSON body), "empty" (200 without choices), "drop" (closes the connection),
  "400" (a DashScope moderation refusal), "bad-request" (a 400 that is not one), "401" (bad key);
- `capacity`: more requests in flight than this are answered 429 with Retry-After, like a rate limit;
- `answered` counts successful answers per prompt, `requests` counts every request received;
  `bodies` and `headers` keep what each request sent.

`LoopbackServer` is the plumbing every fake HTTP server of the tests shares (this one, the batch API fake in
tests/batch/batch_server.py): an aiohttp app on 127.0.0.1 on its own thread; `completion` is the
chat-completions reply body they all send.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, Self

from aiohttp import web

Reply = Callable[[list[dict[str, str]]], str]
Faults = Callable[[str, int], str | None]
TRANSIENT_FAULTS = ("429", "500", "timeout", "malformed", "empty", "drop")


def echo(messages: list[dict[str, str]]) -> str:
    return f"回答：{messages[-1]['content']}"


def completion(body: dict[str, Any], text: str, n: int) -> dict[str, Any]:
    """A chat-completions reply body answering request `body` with `text` (`n` makes its id)."""
    prompt = body["messages"][-1]["content"]
    return {
        "id": f"chatcmpl-{n}",
        "object": "chat.completion",
        "model": f"served/{body['model']}",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": len(prompt), "completion_tokens": len(text)},
    }


def completion_response(body: dict[str, Any], text: str, n: int) -> web.Response:
    """`completion` as the HTTP response (UTF-8 JSON, Chinese unescaped)."""
    return web.json_response(completion(body, text, n), dumps=lambda o: json.dumps(o, ensure_ascii=False))


class LoopbackServer:
    """An aiohttp app on 127.0.0.1 (`port` 0: a free one, read back once listening), served from its own
    thread and event loop while a `with` block runs, or from the caller's loop with `await _start()`.
    Subclasses add their routes in `routes`."""

    backlog = 128
    client_max_size = 1024**2

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _start(self) -> None:
        app = web.Application(client_max_size=self.client_max_size)
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.port, backlog=self.backlog)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        self.port = server.sockets[0].getsockname()[1]

    def __enter__(self) -> Self:
        started = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self._start())
            started.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        started.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._runner is not None and self._thread is not None
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class ChatServer(LoopbackServer):
    backlog = 1024

    def __init__(
        self,
        reply: Reply = echo,
        faults: Faults | None = None,
        latency: float = 0.0,
        hang_s: float = 5.0,
        retry_after: str = "0.2",
        port: int = 0,
        capacity: int | None = None,
    ) -> None:
        super().__init__(port)
        self.reply, self.faults, self.latency = reply, faults, latency
        self.hang_s, self.retry_after, self.capacity = hang_s, retry_after, capacity
        self.requests = 0
        self.in_flight = self.peak_in_flight = self.throttled = 0
        self.attempts: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            return await self._answer(request)
        finally:
            self.in_flight -= 1

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.json()
        self.bodies.append(body)
        self.headers.append(dict(request.headers))
        prompt = body["messages"][-1]["content"]
        self.attempts[prompt] += 1
        fault = self.faults(prompt, self.attempts[prompt]) if self.faults else None
        if self.capacity is not None and self.in_flight > self.capacity:  # a real rate limit
            self.throttled += 1
            fault = "429"
        if self.latency:
            await asyncio.sleep(self.latency)
        if fault == "429":
            return web.json_response({"error": "rate limited"}, status=429, headers={"Retry-After": self.retry_after})
        if fault in ("400", "401"):
            return web.json_response({"error": {"code": "data_inspection_failed"}}, status=int(fault))
        if fault == "bad-request":
            return web.json_response({"error": {"message": "max_tokens too large", "type": "invalid_request_error"}},
                                     status=400)  # fmt: skip
        if fault == "500":
            return web.json_response({"error": "internal"}, status=500)
        if fault == "timeout":  # the client gives up first; this late answer never reaches it
            await asyncio.sleep(self.hang_s)
            return web.json_response({"error": "too late"}, status=504)
        if fault == "malformed":
            return web.Response(body=b'{"choices": [{"message": {"content": "cut', content_type="application/json")
        if fault == "empty":
            return web.json_response({"object": "chat.completion", "choices": []})
        if fault == "drop":
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        text = self.reply(body["messages"])
        self.answered[prompt] += 1
        return completion_response(body, text, self.requests)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/chat/completions", self._handle)


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve chat completions on loopback after a fixed latency.")
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

    async def serve() -> None:
        server = ChatServer(latency=args.latency, port=args.port)
        await server._start()
        print(server.base_url, flush=True)
        await asyncio.Event().wait()

    asyncio.run(serve())


if __name__ == "__main__":
    main()
