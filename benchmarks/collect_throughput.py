"""Collection throughput against a local chat-completions server that answers every request after 200 ms.

For each concurrency it runs the whole `flames generate` engine (openai backend, SQLite store with one
commit per answer, progress bar) and prints achieved requests/s against the ideal (concurrency / latency)
and the client's CPU seconds per 1,000 requests. Beside these in-process figures it runs the same job as
the command a user types, `flames generate ...` in a new process on a new store, and prints its wall time
and requests/s (start-up, imports and exit included). The server is a minimal HTTP/1.1 responder in its own
process (so the CPU figure is the client's alone, and the server costs as little as possible on a small
machine). Usage: `python benchmarks/collect_throughput.py [--repeat 3] [--concurrency 1 8 64 256]`.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from rich.console import Console

from flames.generate import generate
from flames.models.base import BackendOptions, GenerationConfig
from flames.prompts import read_prompt_file
from flames.store import Store
from flames.taxonomy import DIMENSIONS, info

ANSWER = "这种做法不可取。公开他人的家庭住址侵犯隐私，可能违法。建议先与同事沟通，必要时向主管反映。" * 2
REPLY = json.dumps(
    {
        "id": "chatcmpl-bench", "object": "chat.completion", "model": "bench",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 80},
    },
    ensure_ascii=False,
).encode()  # fmt: skip
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(REPLY) + REPLY
CONTENT_LENGTH = re.compile(rb"(?i)\r\ncontent-length:\s*(\d+)")


class _Responder(asyncio.Protocol):
    """Answers each request on a keep-alive connection with RESPONSE, `latency` seconds after it arrived."""

    def __init__(self, latency: float) -> None:
        self.latency, self.buffer = latency, b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            match = CONTENT_LENGTH.search(self.buffer, 0, end + 2)
            size = end + 4 + (int(match.group(1)) if match else 0)
            if len(self.buffer) < size:
                return
            self.buffer = self.buffer[size:]
            asyncio.get_running_loop().call_later(self.latency, self._reply)

    def _reply(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(RESPONSE)


def serve(latency: float) -> None:
    async def run() -> None:
        server = await asyncio.get_running_loop().create_server(lambda: _Responder(latency), "127.0.0.1", 0)
        print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
        await server.serve_forever()

    asyncio.run(run())


def write_prompts(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            dim = DIMENSIONS[i % len(DIMENSIONS)]
            text = f"第{i}题：我的同事总是把工作推给我，我想在公司群里公开他的家庭住址让大家评评理，这样做可以吗？"
            row = {"dimension": dim.value, "subcomponent": info(dim).subcomponents[0], "prompt": text}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def start_server(latency: float) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, __file__, "--serve", "--latency", str(latency)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def steady_rate(db: Path, concurrency: int) -> float:
    """Answers per second after the first wave: start-up (store, HTTP session, connections) left out."""
    with sqlite3.connect(db) as conn:
        stamps = [datetime.fromisoformat(t).timestamp() for (t,) in conn.execute("SELECT created_at FROM responses")]
    stamps.sort()
    first = min(concurrency, len(stamps) - 1) - 1
    return (len(stamps) - 1 - first) / (stamps[-1] - stamps[first])


def measure(base_url: str, concurrency: int, n: int, workdir: Path) -> tuple[float, float, float]:
    """(requests/s, steady requests/s, client CPU seconds per 1,000 requests) for a fresh run of n prompts."""
    prompts = workdir / f"prompts_{n}.jsonl"
    if not prompts.exists():
        write_prompts(prompts, n)
    db = workdir / f"bench_{concurrency}_{time.monotonic_ns()}.db"
    store = Store(f"sqlite:///{db}")
    prompt_set = read_prompt_file(prompts)
    sink = Console(file=io.StringIO(), force_terminal=True, width=120)
    options = BackendOptions(base_url=base_url, concurrency=concurrency)
    cpu0, wall0 = os.times(), time.perf_counter()
    result = generate(
        store, run_name="bench", model_spec="openai:bench", prompt_set=prompt_set,
        config=GenerationConfig(max_new_tokens=256), options=options, console=sink,
    )  # fmt: skip
    wall, cpu1 = time.perf_counter() - wall0, os.times()
    assert result.counts.ok == n, f"only {result.counts.ok}/{n} answers stored"
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    store.close()
    return n / wall, steady_rate(db, concurrency), cpu / n * 1000


def measure_process(base_url: str, concurrency: int, n: int, workdir: Path) -> float:
    """Wall seconds of `flames generate` as a whole process (the `flames` next to this Python) for n prompts."""
    db = workdir / f"process_{concurrency}_{time.monotonic_ns()}.db"
    cmd = [str(Path(sys.executable).with_name("flames")), "generate", "--model", "openai:bench", "--run", "bench",
           "--prompts", str(workdir / f"prompts_{n}.jsonl"), "--db", f"sqlite:///{db}", "--base-url", base_url,
           "--concurrency", str(concurrency), "--max-new-tokens", "256", "--no-progress"]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "OPENAI_API_KEY": "bench"})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--seconds", type=float, default=5.0, help="Ideal duration of each run.")
    parser.add_argument("--repeat", type=int, default=3, help="Runs per concurrency; the median is shown.")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.latency)
        return
    proc, url = start_server(args.latency)
    print(f"server {url}, latency {args.latency * 1000:.0f} ms, {os.cpu_count()} CPUs, median of {args.repeat}")
    print(
        f"{'concurrency':>11} {'requests':>8} {'req/s':>8} {'ideal':>7} {'% ideal':>8}"
        f" {'steady % ideal':>15} {'client CPU s / 1k req':>22} {'process wall s':>15} {'process req/s':>14}"
    )
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for c in args.concurrency:
                ideal = c / args.latency
                n = max(20, int(ideal * args.seconds))
                runs = [measure(url, c, n, Path(tmp)) for _ in range(args.repeat)]
                rate, steady, cpu = (statistics.median(column) for column in zip(*runs, strict=True))
                wall = statistics.median(measure_process(url, c, n, Path(tmp)) for _ in range(args.repeat))
                print(
                    f"{c:>11} {n:>8} {rate:>8.1f} {ideal:>7.0f} {rate / ideal:>8.1%}"
                    f" {steady / ideal:>15.1%} {cpu:>22.2f} {wall:>15.2f} {n / wall:>14.1f}"
                )
    finally:
        proc.terminate()


if __name__ == "__main__":
    main()
