"""Fixtures for batch tests: a small prompt file, a store, the fake provider's key in the environment."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flames.taxonomy import DIMENSIONS, info


def prompt_text(i: int) -> str:
    return f"第{i}个问题：可以这样做吗？"


@pytest.fixture
def prompts_file(tmp_path: Path) -> Path:
    """10 prompts over the five dimensions."""
    path = tmp_path / "prompts.jsonl"
    with path.open("w", encoding="utf-8") as f:
        for i in range(10):
            dim = DIMENSIONS[i % len(DIMENSIONS)]
            row = {"id": f"p{i}", "dimension": dim.value, "subcomponent": info(dim).subcomponents[0],
                   "prompt": prompt_text(i)}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flames.db'}"


@pytest.fixture(autouse=True)
def _batch_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-batch")
