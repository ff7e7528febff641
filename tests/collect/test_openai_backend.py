"""The openai backend against a real loopback server that injects faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from collect.chat_server import TRANSIENT_FAULTS, ChatServer, echo

from flames.models.base import BackendError, BackendOptions, ChatRequest, Failure, GenerationConfig, chat_messages
from flames.models.openai import OpenAIBackend
from flames.models.registry import load_backend, parse_spec
from flames.records import Completion

FAST = BackendOptions(concurrency=8, timeout_s=0.5, max_retries=4)


def requests(n: int, config: GenerationConfig | None = None) -> list[ChatRequest]:
    cfg = config or GenerationConfig(max_new_tokens=16)
    return [ChatRequest(str(i), chat_messages(f"问题 {i}"), cfg) for i in range(n)]


async def run_all(
    server: ChatServer, reqs: Sequence[ChatRequest], options: BackendOptions = FAST
) -> dict[str, Completion | Failure]:
    backend = OpenAIBackend("m", BackendOptions(**{**options.__dict__, "base_url": server.base_url}))
    await backend.start()
    try:
        return {req.key: out async for req, out in backend.stream(reqs)}
    finally:
        await backend.close()


def test_every_transient_fault_is_retried_and_nothing_is_lost_or_duplicated() -> None:
    def faults(prompt: str, attempt: int) -> str | None:
        i = int(prompt.split()[-1])
        return TRANSIENT_FAULTS[i % len(TRANSIENT_FAULTS)] if attempt == 1 else None

    # a 2 s timeout: on a loaded machine a healthy answer can outlast 0.5 s, and the server counts an answer
    # the client gave up on, which would read as paying twice
    patient = BackendOptions(**{**FAST.__dict__, "timeout_s": 2.0})
    with ChatServer(faults=faults, hang_s=3.0, retry_after="0.1") as server:
        out = asyncio.run(run_all(server, requests(24), patient))
    assert sorted(out, key=int) == [str(i) for i in range(24)]
    for key, outcome in out.items():
        assert isinstance(outcome, Completion), outcome
        assert outcome.text == echo([{"role": "user", "content": f"问题 {key}"}])
        assert outcome.meta["attempts"] == 2
        assert outcome.finish_reason == "stop" and outcome.completion_tokens
    assert all(n == 1 for n in server.answered.values()) and len(server.answered) == 24


def test_an_item_that_keeps_failing_becomes_a_failure_with_its_error() -> None:
    with ChatServer(faults=lambda p, n: "500" if p.endswith(" 3") else None) as server:
        out = asyncio.run(run_all(server, requests(5), BackendOptions(max_retries=2, timeout_s=2)))
    failure = out["3"]
    assert isinstance(failure, Failure)
    assert failure.attempts == 3 and "HTTP 500" in failure.error
    assert server.attempts["问题 3"] == 3
    assert all(isinstance(out[k], Completion) for k in "0124")


def test_refusals_are_not_retried_and_a_bad_key_stops_the_run() -> None:
    faults = {"问题 1": "400", "问题 2": "bad-request"}
    with ChatServer(faults=lambda p, n: faults.get(p)) as server:
        out = asyncio.run(run_all(server, requests(3)))
    blocked = out["1"]  # a moderation refusal is the final outcome "blocked", with the provider's code
    assert isinstance(blocked, Completion) and blocked.outcome == "blocked" and blocked.text == ""
    assert blocked.meta["code"] == "data_inspection_failed" and blocked.meta["http_status"] == 400
    assert isinstance(out["2"], Failure) and "max_tokens too large" in out["2"].error  # any other 4xx fails
    assert server.attempts["问题 1"] == server.attempts["问题 2"] == 1
    with ChatServer(faults=lambda p, n: "401") as server, pytest.raises(BackendError, match="401"):
        asyncio.run(run_all(server, requests(3)))


def test_retry_after_is_honoured() -> None:
    times: list[float] = []

    def faults(prompt: str, attempt: int) -> str | None:
        times.append(time.monotonic())
        return "429" if attempt == 1 else None

    with ChatServer(faults=faults, retry_after="0.6") as server:
        out = asyncio.run(run_all(server, requests(1)))
    assert isinstance(out["0"], Completion)
    assert times[1] - times[0] >= 0.6


def test_429_halves_the_limit_once_per_round_then_successes_grow_it_back() -> None:
    from flames.models.pool import EndpointPool

    async def scenario() -> list[int]:
        pool = EndpointPool(["http://a/v1/chat/completions"], 8)
        window = pool.endpoints[0].window
        leases = [await pool.acquire() for _ in range(8)]
        assert window.in_flight == 8
        seen = []
        for lease in leases:  # one overload answered by eight 429s counts once
            pool.release(lease, "throttled")
            seen.append(window.limit)
        while window.limit < 8:
            pool.release(await pool.acquire())
        seen.append(window.limit)
        return seen

    assert asyncio.run(scenario()) == [4] * 8 + [8]


def test_limiter_never_lets_more_than_the_limit_in_flight() -> None:
    from flames.models.pool import EndpointPool

    async def scenario() -> int:
        pool = EndpointPool(["http://a/v1/chat/completions"], 3)
        peak = 0

        async def job() -> None:
            nonlocal peak
            lease = await pool.acquire()
            peak = max(peak, pool.endpoints[0].window.in_flight)
            await asyncio.sleep(0.001)
            pool.release(lease)

        await asyncio.gather(*(job() for _ in range(50)))
        return peak

    assert asyncio.run(scenario()) == 3


def test_request_carries_config_extra_body_headers_and_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test")
    cfg = GenerationConfig(
        max_new_tokens=7, temperature=0.5, top_p=0.9, seed=3, extra={"top_k": 20, "max_tokens": None}
    )
    opts = BackendOptions(api_key_env="MY_KEY", headers={"X-Team": "flames"})
    with ChatServer() as server:
        asyncio.run(run_all(server, requests(1, cfg), opts))
    body, headers = server.bodies[0], server.headers[0]
    assert body["model"] == "m" and "max_tokens" not in body
    assert (body["temperature"], body["top_p"], body["seed"], body["top_k"]) == (0.5, 0.9, 3, 20)
    assert headers["Authorization"] == "Bearer sk-test" and headers["X-Team"] == "flames"


def test_missing_named_key_variable_is_a_clear_error() -> None:
    backend = OpenAIBackend("m", BackendOptions(api_key_env="FLAMES_NO_SUCH_KEY"))
    with pytest.raises(BackendError, match="FLAMES_NO_SUCH_KEY"):
        asyncio.run(backend.start())


def test_retry_after_parsing() -> None:
    from email.utils import formatdate

    from flames.models.concurrency import MAX_RETRY_AFTER_S, parse_retry_after

    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    assert parse_retry_after("99999") == MAX_RETRY_AFTER_S
    in_ten = parse_retry_after(formatdate(time.time() + 10, usegmt=True))
    assert in_ten is not None and 8 <= in_ten <= 10


def test_spec_parsing_and_loading() -> None:
    assert parse_spec("openai:qwen2.5:7b") == ("openai", "qwen2.5:7b")
    assert parse_spec("gguf:/m/a.gguf") == ("gguf", "/m/a.gguf")
    for bad in ("gpt-4o", "foo:bar", "openai:", "hf: "):
        with pytest.raises(BackendError, match="KIND:TARGET"):
            parse_spec(bad)
    backend = load_backend("openai:qwen2.5:7b", BackendOptions(base_url="http://h:1/v1/"))
    assert isinstance(backend, OpenAIBackend)
    assert backend.describe()["model"] == "qwen2.5:7b" and backend.url == "http://h:1/v1/chat/completions"


def test_adaptive_concurrency_settles_under_a_servers_rate_limit() -> None:
    with ChatServer(latency=0.05, capacity=4, retry_after="0.05") as server:
        backend = OpenAIBackend("m", BackendOptions(base_url=server.base_url, concurrency=32, max_retries=20))

        async def run() -> dict[str, Completion | Failure]:
            await backend.start()
            try:
                return {r.key: o async for r, o in backend.stream(requests(120))}
            finally:
                await backend.close()

        out = asyncio.run(run())
    assert all(isinstance(o, Completion) for o in out.values()) and len(out) == 120
    assert all(n == 1 for n in server.answered.values()) and len(server.answered) == 120
    # the first burst overflows the server; after that the limit shrinks and most requests get through
    assert 0 < server.throttled < 120
    assert backend.pool.endpoints[0].window.limit < 32


def test_proxy_comes_from_the_environment_and_no_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    from flames.models.openai import proxy_for

    for name in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    assert proxy_for("https://api.deepseek.com/v1/chat/completions") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.corp:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,.internal")
    assert proxy_for("https://api.deepseek.com/v1/chat/completions") == "http://proxy.corp:3128"
    assert proxy_for("https://llm.internal/v1/chat/completions") is None
    assert proxy_for("http://localhost:8000/v1/chat/completions") is None
