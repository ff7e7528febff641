"""Start-up cost of the command line as a user sees it: whole processes, wall-clock time.

1. `flames --help`: process start to exit.
2. `flames generate` fixed cost: process start to the first chat request arriving at a local
   chat-completions server, for a SQLite store that already exists (a previous run created it and holds
   the prompt set, so the schema is at head). Each measurement is a new run of 5 prompts from a set of
   1,000; the server answers at once and writes the arrival time of every request (CLOCK_MONOTONIC, which
   is shared by all processes on Linux) to a file.

Both print the median and the range of `--repeat` runs, plus the whole `flames generate` process time.
The `flames` executable next to the running Python is used, so set PYTHONPATH to measure a source tree.
Usage: `python benchmarks/startup.py [--repeat 9]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from collect_throughput import RESPONSE, _Responder, write_prompts

FLAMES = str(Path(sys.executable).with_name("flames"))


class _StampingResponder(_Responder):
    """Answers at once and appends each request's arrival time to the stamp file."""

    stamp_file = ""

    def data_received(self, data: bytes) -> None:
        if not self.buffer:  # the first bytes of a new request
            with open(self.stamp_file, "a") as f:
                f.write(f"{time.monotonic()}\n")
        super().data_received(data)


def serve(stamp_file: str) -> None:
    _StampingResponder.stamp_file = stamp_file

    async def run() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: _StampingResponder(0.0), "127.0.0.1", 0)
        print(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1", flush=True)
        await server.serve_forever()

    asyncio.run(run())


def _summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.3f} s (min {min(values):.3f}, max {max(values):.3f}, n={len(values)})"


def measure_help(repeat: int) -> list[float]:
    walls = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([FLAMES, "--help"], check=True, capture_output=True)
        walls.append(time.perf_counter() - t0)
    return walls


def _generate(url: str, db: Path, prompts: Path, run: str) -> list[str]:
    return [FLAMES, "generate", "--model", "openai:bench", "--run", run, "--prompts", str(prompts), "--limit", "5",
            "--db", f"sqlite:///{db}", "--base-url", url, "--concurrency", "8", "--no-progress"]  # fmt: skip


def measure_generate(repeat: int, workdir: Path) -> tuple[list[float], list[float]]:
    """(process start → first request, whole process) per run, in seconds."""
    stamps = workdir / "stamps.txt"
    stamps.touch()
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(stamps)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    url = server.stdout.readline().strip()
    env = {**os.environ, "OPENAI_API_KEY": "bench"}
    prompts, db = workdir / "prompts.jsonl", workdir / "store.db"
    write_prompts(prompts, 1000)
    try:
        subprocess.run(_generate(url, db, prompts, "warm-up"), check=True, capture_output=True, env=env)
        first, whole = [], []
        for i in range(repeat):
            seen = len(stamps.read_text().split())
            t0 = time.monotonic()
            subprocess.run(_generate(url, db, prompts, f"run-{i}"), check=True, capture_output=True, env=env)
            whole.append(time.monotonic() - t0)
            arrivals = [float(t) for t in stamps.read_text().split()[seen:]]
            first.append(min(arrivals) - t0)
        return first, whole
    finally:
        server.terminate()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    print(f"{FLAMES}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    print(f"flames --help:                          {_summary(measure_help(args.repeat))}")
    with tempfile.TemporaryDirectory() as tmp:
        first, whole = measure_generate(args.repeat, Path(tmp))
    print(f"flames generate, start → first request: {_summary(first)}")
    print(f"flames generate, whole process (5 answers): {_summary(whole)}")


if __name__ == "__main__":
    main()
