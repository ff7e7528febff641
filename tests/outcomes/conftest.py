"""Fixtures for the provider-outcome cases: the fake OpenAI-compatible server of `../shared/cases` serving a
case's own rules (reply bodies copied from public bug reports), and the CLI run in-process."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.cli.app import USER_ERRORS

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases"
FAKEOAI = CASES / "common" / "fakeoai.py"
MIXED12 = CASES / "common" / "mixed12.jsonl"
JUDGE_ALL3 = CASES / "common" / "judge_rules_all3.json"


def case(prefix: str) -> Path:
    """The folder of case `prefix` (e.g. "C01")."""
    found = sorted(CASES.glob(f"{prefix}-*"))
    if not found:
        pytest.fail(f"case {prefix} missing under {CASES} (the shared cases copy)")
    return found[0]


class FakeProvider:
    """`fakeoai.py RULES PORT LOG` in a subprocess: the first rule whose `match` occurs in the last message
    decides the reply; every request is logged as one JSON line."""

    def __init__(self, rules: Path, workdir: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.log = workdir / f"requests-{self.port}.jsonl"
        self.proc = subprocess.Popen(
            [sys.executable, str(FAKEOAI), str(rules), str(self.port), str(self.log), "120"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                assert self.proc.poll() is None and time.monotonic() < deadline, "the fake server did not start"
                time.sleep(0.05)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def requests(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def asked(self, fragment: str) -> int:
        """How many requests had `fragment` in their last message."""
        return sum(fragment in r["full"] for r in self.requests())

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


Serve = Callable[[Path], FakeProvider]


@pytest.fixture
def serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """`serve(rules_json)` starts a fake provider, stopped at the end of the test."""
    monkeypatch.setenv("OPENAI_API_KEY", "dummy")
    started: list[FakeProvider] = []

    def start(rules: Path) -> FakeProvider:
        started.append(FakeProvider(rules, tmp_path))
        return started[-1]

    yield start
    for p in started:
        p.stop()


Flames = Callable[..., tuple[int, str]]


@pytest.fixture
def flames() -> Flames:
    """Run `flames ARGS` in-process: (exit code, output); a user error (exit 2 in the CLI) returns 2."""
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        result = runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
        if isinstance(result.exception, USER_ERRORS):
            return 2, str(result.exception)
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.output

    return run


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flames.db'}"
