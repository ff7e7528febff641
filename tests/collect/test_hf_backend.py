"""The transformers backend on a tiny model built here (random weights, locally trained tokenizer)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
from collect.conftest import MakePrompts
from collect.tiny_model import CHATML, build_tiny_chat_model

from flames.generate import generate
from flames.models.base import BackendError, BackendOptions, ChatRequest, Completion, GenerationConfig, chat_messages
from flames.models.hf import HFBackend
from flames.store import Store

GREEDY = GenerationConfig(max_new_tokens=10)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_chat_model(tmp_path_factory.mktemp("tiny"))


def answers(path: str, requests: list[ChatRequest], **options: object) -> tuple[HFBackend, dict[str, Completion]]:
    async def run() -> tuple[HFBackend, dict[str, Completion]]:
        backend = HFBackend(path, BackendOptions(**options))  # type: ignore[arg-type]
        await backend.start()
        out = {r.key: o async for r, o in backend.stream(requests)}
        assert all(isinstance(o, Completion) for o in out.values())
        return backend, out  # type: ignore[return-value]

    return asyncio.run(run())


def reqs(n: int, config: GenerationConfig = GREEDY) -> list[ChatRequest]:
    return [ChatRequest(str(i), chat_messages("这样做对吗？" * (i + 1)), config) for i in range(n)]


def test_left_padded_batches_answer_exactly_like_single_prompts(tiny: Path) -> None:
    backend, batched = answers(str(tiny), reqs(5), batch_size=3)
    _, single = answers(str(tiny), reqs(5), batch_size=1)
    assert {k: c.text for k, c in batched.items()} == {k: c.text for k, c in single.items()}
    tok = backend._tokenizer
    for i, c in batched.items():
        rendered = tok.apply_chat_template(
            list(chat_messages("这样做对吗？" * (int(i) + 1))), tokenize=False, add_generation_prompt=True
        )
        assert c.prompt_tokens == len(tok(rendered, add_special_tokens=False)["input_ids"])
        assert c.completion_tokens == 10 and c.finish_reason == "length"
    assert sorted(c.meta["batch_size"] for c in batched.values()) == [2, 2, 3, 3, 3]
    assert backend.describe()["chat_template"] == CHATML and backend.describe()["device"] == "cpu"


def test_end_of_sequence_stops_the_answer(tiny: Path) -> None:
    backend, first = answers(str(tiny), reqs(1), batch_size=1)
    eos = backend._tokenizer(first["0"].text, add_special_tokens=False)["input_ids"][0]

    async def again() -> Completion:
        backend._model.generation_config.eos_token_id = eos
        (_, outcome), *_ = [o async for o in backend.stream(reqs(1))]
        assert isinstance(outcome, Completion)
        return outcome

    stopped = asyncio.run(again())
    assert (stopped.text, stopped.finish_reason, stopped.completion_tokens) == ("", "stop", 1)


def test_sampling_with_a_seed_reproduces(tiny: Path) -> None:
    cfg = GenerationConfig(max_new_tokens=10, temperature=1.0, top_p=0.95, seed=5)
    _, a = answers(str(tiny), reqs(2, cfg))
    _, b = answers(str(tiny), reqs(2, cfg))
    _, greedy = answers(str(tiny), reqs(2))
    assert a["1"].text == b["1"].text and a["1"].text != greedy["1"].text


def test_a_model_without_chat_template_needs_one(tmp_path: Path) -> None:
    bare = build_tiny_chat_model(tmp_path / "bare", chat_template=None)
    with pytest.raises(BackendError, match=r"no chat template.*--chat-template"):
        answers(str(bare), reqs(1))
    template = tmp_path / "chatml.jinja"
    template.write_text(CHATML, encoding="utf-8")
    backend, out = answers(str(bare), reqs(1), chat_template=str(template))
    assert backend.template == CHATML and out["0"].completion_tokens == 10


def test_pickled_weights_need_an_explicit_opt_in(tmp_path: Path) -> None:
    pickled = build_tiny_chat_model(tmp_path / "pickled", safetensors=False)
    assert not list(pickled.glob("*.safetensors"))
    with pytest.raises(BackendError, match="--allow-pickle"):
        answers(str(pickled), reqs(1))
    assert answers(str(pickled), reqs(1), allow_pickle=True)[1]["0"].completion_tokens == 10


def test_collect_into_the_store_records_template_and_device(tiny: Path, make_prompts: MakePrompts, db_url: str) -> None:
    store = Store(db_url)
    result = generate(
        store, run_name="tiny", model_spec=f"hf:{tiny}", prompt_set=make_prompts(4), config=GREEDY,
        options=BackendOptions(batch_size=4), progress=False,
    )  # fmt: skip
    assert (result.stats.ok, result.counts.ok, result.run.status) == (4, 4, "complete")
    assert result.run.resolved_model == str(tiny)
    assert result.run.meta["backend"]["chat_template"] == CHATML
    assert all(r.completion_tokens == 10 for r in store.responses(result.run))


def test_missing_transformers_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(BackendError, match=r"pip install 'flames-eval\[hf\]'"):
        asyncio.run(HFBackend("some/model", BackendOptions()).start())


def test_drain_finishes_the_running_batch_and_starts_no_other(tiny: Path) -> None:
    async def run() -> int:
        backend = HFBackend(str(tiny), BackendOptions(batch_size=2))
        await backend.start()
        seen = 0
        async for _ in backend.stream(reqs(6)):
            seen += 1
            backend.drain()
        return seen

    assert asyncio.run(run()) == 2
