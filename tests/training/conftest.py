"""Fixtures for training tests: tiny backbones built here and a synthetic label set with a learnable signal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_backbones import build_tiny_decoder, build_tiny_encoder
from training_support import synthetic_labels

from flames.labels.records import LabelRecord


@pytest.fixture(scope="session")
def flames_prompts(flames_1k: Path) -> list[dict[str, str]]:
    rows = [json.loads(line) for line in flames_1k.read_text(encoding="utf-8").splitlines()]
    safety = [r for r in rows if r["dimension"] == "Safety"][:40]
    legality = [r for r in rows if r["dimension"] == "Legality"][:20]
    return safety + legality


@pytest.fixture(scope="session")
def labels(flames_prompts: list[dict[str, str]]) -> list[LabelRecord]:
    return synthetic_labels(flames_prompts)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_encoder(tmp_path_factory.mktemp("backbones") / "tiny-bert")


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_decoder(tmp_path_factory.mktemp("backbones") / "tiny-llama")


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models on a shared 2-core machine: a second OpenMP thread only spins (measured 15× slower)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
