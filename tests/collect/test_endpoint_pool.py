"""Endpoint pools: least outstanding requests, a limit and a health record per server, resting a failing one."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
from collect.chat_server import ChatServer
from collect.conftest import MakePrompts
from typer.testing import CliRunner

from flames.cli import app
from flames.models.base import BackendError, BackendOptions, ChatRequest, Failure, GenerationConfig, chat_messages
from flames.models.openai import OpenAIBackend
from flames.models.pool import EndpointPool, read_endpoints
from flames.records import Completion
from flames.store import Store


def requests(n: int) -> list[ChatRequest]:
    return [ChatRequest(str(i), chat_messages(f"问题 {i}"), GenerationConfig(max_new_tokens=8)) for i in range(n)]


async def run_pool(urls: Sequence[str], n: int, **options: object) -> tuple[OpenAIBackend, dict[str, object]]:
    backend = OpenAIBackend("m", BackendOptions(base_urls=tuple(urls), **options))  # type: ignore[arg-type]
    await backend.start()
    try:
        return backend, {r.key: o async for r, o in backend.stream(requests(n))}
    finally:
        await backend.close()


def test_least_outstanding_requests_favours_the_faster_server() -> None:
    async def scenario() -> tuple[int, int]:
        pool = EndpointPool(["fast", "slow"], 4)

        async def request() -> None:
            lease = await pool.acquire()
            await asyncio.sleep(0.002 if lease.endpoint.url == "fast" else 0.02)
            pool.release(lease)

        await asyncio.gather(*(request() for _ in range(200)))
        fast, slow = pool.endpoints
        return fast.sent, slow.sent

    fast, slow = asyncio.run(scenario())
    assert fast + slow == 200 and fast > 3 * slow


def test_a_429_shrinks_only_that_servers_limit() -> None:
    async def scenario() -> tuple[int, int]:
        pool = EndpointPool(["a", "b"], 8)
        leases = [await pool.acquire() for _ in range(16)]
        assert {lease.endpoint.url for lease in leases} == {"a", "b"}
        for lease in leases:
            pool.release(lease, "throttled" if lease.endpoint.url == "a" else "ok")
        a, b = pool.endpoints
        return a.window.limit, b.window.limit

    assert asyncio.run(scenario()) == (4, 8)


def test_a_failing_server_is_rested_then_probed_and_the_last_one_never_rests() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        pool = EndpointPool(["bad", "good"], 2, rest_s=0.05)
        bad, good = pool.endpoints
        for _ in range(3):  # equal load: one request to each; three failures in a row on "bad"
            pair = [await pool.acquire(), await pool.acquire()]
            assert {lease.endpoint.url for lease in pair} == {"bad", "good"}
            for lease in pair:
                pool.release(lease, "failed" if lease.endpoint is bad else "ok")
        assert bad.rest_until > loop.time() and bad.rested == 1
        # while it rests, everything goes to the healthy server, even when that one is full
        held = [await pool.acquire(), await pool.acquire()]
        assert [lease.endpoint.url for lease in held] == ["good", "good"]
        t0 = loop.time()
        probe = await pool.acquire()  # waits for the rest to end, then probes "bad"
        assert probe.endpoint is bad and loop.time() - t0 >= 0.03
        pool.release(probe, "failed")  # on probation: one failure rests it again, for twice as long
        assert bad.rested == 2 and bad.rest_until - loop.time() > 0.06
        for lease in held:
            pool.release(lease)
        for _ in range(5):  # "good" failing now is never rested: it is the only server awake
            pool.release(await pool.acquire(), "failed")
        assert good.rested == 0 and good.failed == 5

    asyncio.run(scenario())


def test_a_waiter_wakes_when_every_server_rests_or_is_paused() -> None:
    async def scenario() -> float:
        loop = asyncio.get_running_loop()
        pool = EndpointPool(["a"], 1)
        lease = await pool.acquire()
        pool.release(lease, "throttled", retry_after=0.1)  # Retry-After: nothing may start for 0.1 s
        t0 = loop.time()
        pool.release(await pool.acquire())
        return loop.time() - t0

    assert 0.09 <= asyncio.run(scenario()) < 1.0


def test_requests_spread_over_servers_and_avoid_a_dead_one() -> None:
    with ChatServer(latency=0.01) as a, ChatServer(latency=0.01) as b, ChatServer(faults=lambda p, n: "500") as dead:
        backend, out = asyncio.run(run_pool([a.base_url, b.base_url, dead.base_url], 90, concurrency=4, max_retries=6))
    assert len(out) == 90 and all(isinstance(o, Completion) for o in out.values())
    assert a.requests > 20 and b.requests > 20  # both healthy servers share the load
    # the dead one got a few requests before it was rested, and none of its failures reached an item
    assert 3 <= dead.requests <= 12
    assert sum(a.answered.values()) + sum(b.answered.values()) == 90
    described = backend.describe()["endpoints"]
    assert [e["url"] for e in described] == [f"{s.base_url}/chat/completions" for s in (a, b, dead)]
    assert described[2]["rested"] >= 1 and described[2]["answered"] == 0


def test_when_every_server_fails_the_items_fail_as_with_one_server() -> None:
    with ChatServer(faults=lambda p, n: "500") as x, ChatServer(faults=lambda p, n: "500") as y:
        _, out = asyncio.run(run_pool([x.base_url, y.base_url], 3, max_retries=1, timeout_s=2))
    assert all(isinstance(o, Failure) and o.attempts == 2 for o in out.values())


def test_endpoint_files_and_errors(tmp_path: Path) -> None:
    listing = tmp_path / "servers.txt"
    listing.write_text("# vLLM replicas\nhttp://10.0.0.5:8000/v1/\n\nhttp://10.0.0.6:8000/v1  # second\n")
    urls = read_endpoints(["http://a:1/v1", str(listing), "http://a:1/v1/"])
    assert urls == ("http://a:1/v1", "http://10.0.0.5:8000/v1", "http://10.0.0.6:8000/v1")
    listing.write_text("http://ok:1/v1\nlocalhost:8000\n")
    with pytest.raises(BackendError, match=r"servers\.txt, line 2: 'localhost:8000' is not a URL"):
        read_endpoints([str(listing)])
    with pytest.raises(BackendError, match="neither a URL"):
        read_endpoints(["no-such-file"])
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(BackendError, match="no endpoint URLs"):
        read_endpoints(["http://a:1/v1", str(tmp_path / "empty.txt")])


def test_generate_and_judge_take_several_base_urls(make_prompts: MakePrompts, tmp_path: Path) -> None:
    from scoring.scoring_support import model_and_judge

    ps = make_prompts(20)
    db = f"sqlite:///{tmp_path / 'f.db'}"
    with ChatServer(reply=model_and_judge) as a, ChatServer(reply=model_and_judge) as b:
        listing = tmp_path / "judges.txt"
        listing.write_text(f"{a.base_url}\n{b.base_url}\n")
        result = CliRunner().invoke(
            app,
            ["run", "--model", "openai:m", "--run", "r", "--db", db, "--prompts", str(ps.source), "--no-progress",
             "--base-url", a.base_url, "--base-url", b.base_url, "--concurrency", "2",
             "--scorer", "judge:openai:j", "--judge-base-url", str(listing), "--judge-concurrency", "2"],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert a.requests >= 10 and b.requests >= 10 and a.requests + b.requests == 40
    store = Store(db)
    run = store.get_run("r")
    assert len(store.responses(run)) == 20
    assert [e["url"] for e in run.meta["backend"]["endpoints"]] == [
        f"{a.base_url}/chat/completions",
        f"{b.base_url}/chat/completions",
    ]
