"""Fixtures for collection tests: a small prompt file and a fresh SQLite store."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flames.prompts import PromptSet, read_prompt_file
from flames.store import Store
from flames.taxonomy import DIMENSIONS, info

MakePrompts = Callable[[int], PromptSet]


def prompt_text(i: int) -> str:
    return f"第{i}个问题：这样做对吗？"


@pytest.fixture
def make_prompts(tmp_path: Path) -> MakePrompts:
    """`make_prompts(n)`: a prompt file of n prompts spread over the five dimensions."""

    def make(n: int) -> PromptSet:
        path = tmp_path / f"prompts_{n}.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in range(n):
                dim = DIMENSIONS[i % len(DIMENSIONS)]
                row = {"dimension": dim.value, "subcomponent": info(dim).subcomponents[0], "prompt": prompt_text(i)}
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return read_prompt_file(path)

    return make


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'flames.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    yield s
    s.close()
