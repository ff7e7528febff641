"""Fixtures: a tiny scorer checkpoint in the published layout (built by `tiny_checkpoint`), Flames-1k rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sentencepiece as spm
from tiny_checkpoint import (
    TinyCheckpoint,
    random_state,
    tiny_config,
    train_tokenizer,
    write_bin_checkpoint,
    write_safetensors_checkpoint,
)


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, flames_1k: Path) -> TinyCheckpoint:
    sp_bytes = train_tokenizer(flames_1k)
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    vocab = sp.get_piece_size() + 16  # padded like the official 103168
    state, config = random_state(vocab), tiny_config(vocab)
    base = tmp_path_factory.mktemp("flames-scorer")
    write_bin_checkpoint(base / "bin", state, config, sp_bytes)
    write_safetensors_checkpoint(base / "safetensors", state, config, sp_bytes)
    return TinyCheckpoint(base / "bin", base / "safetensors", state, config, sp)


@pytest.fixture(scope="session")
def flames_rows(flames_1k: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in flames_1k.read_text(encoding="utf-8").splitlines()]
