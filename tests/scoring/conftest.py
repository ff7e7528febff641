"""Fixtures for scoring tests: a store holding a small run with known answers, and a rubric-obeying judge
server on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from scoring_support import ChatServer, answer_for, rubric_judge

from flames.prompts import read_prompt_file
from flames.records import Completion
from flames.store import RunInfo, RunSpec, Store


@pytest.fixture
def prompts_file(flames_1k: Path, tmp_path: Path) -> Path:
    """12 Flames-1k prompts covering all five dimensions (every 90th line)."""
    lines = flames_1k.read_text(encoding="utf-8").splitlines()
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines[::90][:12]) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flames.db'}"


@pytest.fixture
def answered_run(db_url: str, prompts_file: Path) -> tuple[Store, RunInfo]:
    """A run whose responses are already stored (as if generated), with answers from `answer_for`."""
    store = Store(db_url)
    run = store.open_run(RunSpec("r", "openai:m", "openai", {"temperature": 0.0}), read_prompt_file(prompts_file))
    for i, slot in enumerate(store.pending(run)):
        store.save_response(run.id, slot, Completion(answer_for(i)))
    return store, run


@pytest.fixture
def judge_server() -> Iterator[ChatServer]:
    with ChatServer(reply=rubric_judge) as server:
        yield server



@pytest.fixture(scope="session")
def tiny_scorer(tmp_path_factory: pytest.TempPathFactory, flames_1k: Path) -> Path:
    """A tiny official-scorer checkpoint in the published layout (safetensors), from the official scorer's
    own test builder in tests/scorer_official/tiny_checkpoint.py."""
    import sentencepiece as spm
    from tiny_checkpoint import random_state, tiny_config, train_tokenizer, write_safetensors_checkpoint

    sp_bytes = train_tokenizer(flames_1k)
    vocab = spm.SentencePieceProcessor(model_proto=sp_bytes).get_piece_size() + 16
    root = tmp_path_factory.mktemp("scorer") / "tiny-flames-scorer"
    write_safetensors_checkpoint(root, random_state(vocab), tiny_config(vocab), sp_bytes)
    return root
