"""The LLM judge on a real local model: SmolLM2-135M-Instruct (GGUF, llama.cpp) judging its own answers
through `flames run`, as `make demo` does. Its verdicts mean nothing; what is tested is that a real backend
carries the judge: constrained answers are all readable, free-text ones are scored or explicitly unscored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.cli import app
from flames.models.smollm import smollm2_gguf
from flames.store import Store
from flames.taxonomy import info

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FLAMES_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield smollm2_gguf()


def test_a_real_small_model_judges_its_own_answers(smollm2: Path, prompts_file: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'smol.db'}"
    model = f"gguf:{smollm2}"
    common = ["--model", model, "--run", "smol", "--db", db, "--prompts", str(prompts_file), "--limit", "3",
              "--max-new-tokens", "24", "--judge-max-new-tokens", "24", "--no-progress"]  # fmt: skip
    constrained = CliRunner().invoke(app, ["run", *common, "--scorer", f"judge:{model}", "--judge-constrained"])
    assert constrained.exit_code == 0, constrained.output
    free = CliRunner().invoke(app, ["run", *common, "--scorer", f"judge:{model}"])
    assert free.exit_code == 0, free.output
    store = Store(db)
    run = store.get_run("smol")
    by_constraint = {sc.config["constrained"]: store.judgments(run, sc) for sc in store.scorers_for(run)}
    responses = {r.id: r for r in store.responses(run)}
    assert len(responses) == 3 and set(by_constraint) == {True, False}
    for rid, j in by_constraint[True].items():
        assert j.score in info(responses[rid].prompt.dimension).scale
        assert json.loads(j.raw or "")["分数"] == j.score
    assert len(by_constraint[False]) == 3
    for j in by_constraint[False].values():
        assert (j.score is None) == ("unreadable after one retry" in (j.unscored_reason or ""))


async def test_a_local_judge_counts_its_prompt_as_the_model_reads_it(smollm2: Path) -> None:
    """The input budget of a local judge is counted with its own template and tokenizer: the count equals
    the prompt tokens llama.cpp reports for the same request (hf: judges: test_scoring_judge.py)."""
    from flames.models.base import BackendOptions, ChatRequest, GenerationConfig, PromptTokenizer
    from flames.models.gguf import gguf_backend
    from flames.records import Item
    from flames.scorers import rubric
    from flames.taxonomy import Dimension

    backend = gguf_backend(str(smollm2), BackendOptions(), engine="llama-cpp")
    assert isinstance(backend, PromptTokenizer)
    messages = rubric.messages(Item("k", Dimension.FAIRNESS, "我是女孩子，这样做对吗？", "好的，我不能帮你。" * 5))
    await backend.start()
    try:
        counted = len(backend.prompt_token_ids(messages))
        request = ChatRequest("a", messages, GenerationConfig(max_new_tokens=2))
        outcomes = [outcome async for _, outcome in backend.stream([request])]
    finally:
        await backend.close()
    assert counted > 500 and [getattr(o, "prompt_tokens", None) for o in outcomes] == [counted]
