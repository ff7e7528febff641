"""Scored runs for the report tests: Flames-1k prompts, synthetic responses, seeded random scores.

Nothing here is a stored result: every test recomputes what it expects from these inputs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from flames.official_format import import_official
from flames.prompts import iter_rows
from flames.records import Judgment
from flames.store import RunInfo, Store
from flames.taxonomy import info, parse_dimension

HOSTILE = (
    "<script>window.__pwned = 'script';alert(1)</script>",
    "好的。</script><script>window.__pwned = 'close-tag'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "[点这里](javascript:window.__pwned='md') **粗体** | 竖线 | `代码` <b>bold</b>",
    "第一行\u2028第二行\u2029第三段 <!-- 注释 --> &lt;i&gt; &amp;",
    "\x1b[2J\x1b]8;;http://evil.example\x07点我\x1b]8;;\x07 终端转义",
    "<svg onload=\"window.__pwned='svg'\"></svg><iframe src=\"javascript:window.__pwned='iframe'\"></iframe>",
)
ATTACKS = ("disguise", "reverse induction", "unsafe inquiry")


def flames_rows(path: Path) -> list[dict[str, Any]]:
    return [row for _, row in iter_rows(path)]


def random_score(rng: random.Random, dimension: str, p_harmless: float) -> int:
    scale = info(parse_dimension(dimension)).scale
    return scale[0] if rng.random() < p_harmless else rng.choice(scale[1:])


def write_results(
    path: Path,
    prompts: list[dict[str, Any]],
    seed: int,
    p_harmless: float = 0.6,
    p_unscored: float = 0.03,
    model: str = "synthetic-model",
    attack_methods: bool = False,
) -> dict[str, int | None]:
    """Write an official-format scored JSONL; return prompt text → predicted score (None: unscored)."""
    rng = random.Random(seed)
    scores: dict[str, int | None] = {}
    with path.open("w", encoding="utf-8") as f:
        for i, row in enumerate(prompts):
            score = None if rng.random() < p_unscored else random_score(rng, row["dimension"], p_harmless)
            response = HOSTILE[i // 37 % len(HOSTILE)] if i % 37 == 5 else f"[{model}] 回答 {i}：{row['prompt'][:12]}……"
            out = {**row, "response": response, "predicted": score, "model": model}
            if attack_methods:
                out["attack_method"] = ATTACKS[i % len(ATTACKS)]
            scores[row["prompt"]] = score
            f.write(json.dumps(out, ensure_ascii=False) + "\n")
    return scores


def add_scorer(store: Store, run: RunInfo, name: str, config: dict[str, Any], seed: int, p_harmless: float) -> None:
    """Judge every response of `run` with a synthetic scorer (seeded random scores)."""
    rng = random.Random(seed)
    scorer = store.scorer(name, config)
    for resp in store.responses(run):
        score = random_score(rng, resp.prompt.dimension.value, p_harmless)
        store.save_judgment(resp.id, scorer, Judgment(str(resp.id), resp.prompt.dimension, score))


@dataclass(frozen=True)
class ScoredFile:
    path: Path
    scores: dict[str, int | None]


@pytest.fixture(scope="session")
def prompts(flames_1k: Path) -> list[dict[str, Any]]:
    return flames_rows(flames_1k)


@pytest.fixture(scope="session")
def results_file(tmp_path_factory: pytest.TempPathFactory, prompts: list[dict[str, Any]]) -> ScoredFile:
    """All 1,000 Flames-1k prompts in the official format, with attack methods and some hostile responses."""
    path = tmp_path_factory.mktemp("results") / "model-a.jsonl"
    return ScoredFile(path, write_results(path, prompts, seed=1, attack_methods=True))


@pytest.fixture(scope="session")
def multi_scorer_db(tmp_path_factory: pytest.TempPathFactory, results_file: ScoredFile) -> str:
    """A store holding the results file as run 'model-a', judged also by a second synthetic scorer."""
    url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'flames.db'}"
    store = Store(url)
    run = import_official(store, results_file.path, run_name="model-a")
    add_scorer(store, run, "judge-x", {"model": "judge-x", "temperature": 0}, seed=7, p_harmless=0.55)
    store.close()
    return url


@pytest.fixture
def make_results(tmp_path: Path, prompts: list[dict[str, Any]]) -> Callable[..., ScoredFile]:
    def make(name: str, seed: int, n: int | None = None, **kw: Any) -> ScoredFile:
        path = tmp_path / f"{name}.jsonl"
        return ScoredFile(path, write_results(path, prompts[:n], seed=seed, model=name, **kw))

    return make
