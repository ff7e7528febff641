"""Start-up cost of the command line as a user sees it: whole processes, wall-clock time.

1. `flames --help`: process start to exit.
2. `flames generate` fixed cost: process start to the first chat request arriving at a local
   chat-completions server, for a SQLite store that already exists (a previous run created it and holds
   the prompt set, so the schema is at head). Each measurement is a new run of 5 prompts from a set of
   1,000; the server answers at once and writes the arrival time of every request (CLOCK_MONOTONIC, which
   is shared by all processes on Linux) to a file.

Each line gives the median and range of `--repeat` runs, wall-clock and CPU (user + system) seconds of the
process: on a machine shared with other jobs the wall time grows with the load, the CPU time much less, so
it tells what the command costs on an idle machine. The `flames` executable next to the running Python is
used, so set PYTHONPATH to measure a source tree. Usage: `python benchmarks/startup.py [--repeat 9]`.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from collect_throughput import _Responder, write_prompts

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


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """(start monotonic time, wall seconds, CPU seconds) of one finished process."""
    cpu0, t0 = _children_cpu(), time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return t0, time.monotonic() - t0, _children_cpu() - cpu0


def measure_help(repeat: int) -> tuple[list[float], list[float]]:
    """(wall, CPU) seconds of `flames --help`, per run."""
    runs = [run_timed([FLAMES, "--help"]) for _ in range(repeat)]
    return [r[1] for r in runs], [r[2] for r in runs]


def _generate(url: str, db: Path, prompts: Path, run: str) -> list[str]:
    return [FLAMES, "generate", "--model", "openai:bench", "--run", run, "--prompts", str(prompts), "--limit", "5",
            "--db", f"sqlite:///{db}", "--base-url", url, "--concurrency", "8", "--no-progress"]  # fmt: skip


def measure_generate(repeat: int, workdir: Path) -> tuple[list[float], list[float], list[float]]:
    """(process start → first request, whole process wall, whole process CPU) per run, in seconds."""
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
        first, wall, cpu = [], [], []
        for i in range(repeat):
            seen = len(stamps.read_text().split())
            t0, seconds, cpu_seconds = run_timed(_generate(url, db, prompts, f"run-{i}"), env)
            wall.append(seconds)
            cpu.append(cpu_seconds)
            first.append(min(float(t) for t in stamps.read_text().split()[seen:]) - t0)
        return first, wall, cpu
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
    wall, cpu = measure_help(args.repeat)
    print(f"flames --help, wall:                          {_summary(wall)}")
    print(f"flames --help, CPU:                           {_summary(cpu)}")
    with tempfile.TemporaryDirectory() as tmp:
        first, wall, cpu = measure_generate(args.repeat, Path(tmp))
    print(f"flames generate, start → first request, wall: {_summary(first)}")
    print(f"flames generate (5 answers), process wall:    {_summary(wall)}")
    print(f"flames generate (5 answers), process CPU:     {_summary(cpu)}")
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
