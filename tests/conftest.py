"""Shared fixtures: the Flames-1k test copy, stores on SQLite and on a real PostgreSQL server, Chromium."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from browser_support import chromium

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["FLAMES_OFFLINE"] = "1"

REPO = Path(__file__).resolve().parents[1]
FLAMES_1K = REPO.parent / "shared" / "data" / "flames-1k" / "Flames_1k_Chinese.jsonl"
CASES = REPO.parent / "shared" / "cases"
"""Real-world reproductions: inputs and the reply rules of a fake OpenAI-compatible server per case."""


@pytest.fixture(scope="session")
def flames_1k() -> Path:
    if not FLAMES_1K.is_file():
        pytest.fail(f"test data missing: {FLAMES_1K} (the shared Flames-1k copy)")
    return FLAMES_1K


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's cache or default database."""
    monkeypatch.setenv("FLAMES_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.delenv("FLAMES_DATA", raising=False)
    monkeypatch.delenv("FLAMES_DB", raising=False)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's chromium for a module's browser tests (`browser_support.chromium`). Module fixtures listed
    before it in a test's arguments start first: one that runs an event loop must."""
    with chromium() as b:
        yield b


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pg_bin() -> Path | None:
    for base in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (base / "initdb").exists():
            return base
    found = shutil.which("initdb")
    return Path(found).parent if found else None


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (Debian's postgresql package); yields a base URL."""
    if os.environ.get("FLAMES_TEST_PG_URL"):
        yield os.environ["FLAMES_TEST_PG_URL"]
        return
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql; `make setup` does it)")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg not installed (pip install 'flames-eval[postgres]')")
    root = os.geteuid() == 0
    datadir = Path(tempfile.mkdtemp(prefix="flames-pg-"))
    run_as: list[str] = []
    if root:  # PostgreSQL refuses to run as root: hand the directory to the postgres user
        shutil.chown(datadir, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()
    subprocess.run(
        [*run_as, str(bindir / "initdb"), "-D", str(datadir / "data"), "-U", "flames", "-A", "trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    log = datadir / "log"
    opts = f"-p {port} -k {datadir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir / "data"), "-l", str(log), "-o", opts, "-w", "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://flames@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(datadir / "data"), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(datadir, ignore_errors=True)


_db_counter = iter(range(1_000_000))


@pytest.fixture
def pg_url(pg_server: str) -> str:
    """A fresh, empty database on the test server."""
    import psycopg

    name = f"t{os.getpid()}_{next(_db_counter)}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(pg_server.replace("+psycopg", "") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{pg_server}/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Run a store test on the embedded SQLite store and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'flames.db'}"
    return str(request.getfixturevalue("pg_url"))


@dataclass(frozen=True)
class FakeOpenAI:
    """A running `cases/common/fakeoai.py`: its base URL and its request log (one JSON object a request)."""

    base_url: str
    log: Path

    def requests(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def fake_openai(tmp_path: Path) -> Iterator[Callable[[Path], FakeOpenAI]]:
    """`fake_openai(rules.json)` starts the cases' fake OpenAI-compatible server on a free loopback port with
    those reply rules (the bodies real providers sent, from `../shared/cases`); stopped after the test."""
    server = CASES / "common" / "fakeoai.py"
    if not server.is_file():
        pytest.fail(f"test data missing: {server} (the shared real-world cases)")
    started: list[subprocess.Popen[bytes]] = []

    def start(rules: Path) -> FakeOpenAI:
        port = _free_port()
        log = tmp_path / f"fakeoai-{port}.jsonl"
        errors = tmp_path / f"fakeoai-{port}.stderr"
        cmd = [sys.executable, str(server), str(rules), str(port), str(log), "300"]
        with errors.open("wb") as err:
            started.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err))
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return FakeOpenAI(f"http://127.0.0.1:{port}/v1", log)
            except OSError:
                if started[-1].poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"fakeoai.py did not start on port {port}: {errors.read_text(errors='replace')}")
                time.sleep(0.05)

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)
