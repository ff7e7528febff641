"""Reasoning traces from local backends follow the same rule as API replies, and `--thinking off` reaches the
chat template (transformers / vLLM as a template variable, llama-cpp-python written into the template)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from outcomes.conftest import Flames

from flames.generate import collect
from flames.models.base import ChatRequest, GenerationConfig, Outcome, chat_messages
from flames.models.local import render_prompts, template_with_switches
from flames.prompts import read_prompt_file
from flames.records import Completion
from flames.store import RunSpec, Store

QWEN3_LIKE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n"
    "{% if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n{% endif %}{% endif %}"
)
"""The switch as Qwen3's template has it: thinking off pre-fills an empty trace."""


def requests(switch: bool | None) -> list[ChatRequest]:
    return [ChatRequest("0", chat_messages("你好"), GenerationConfig(enable_thinking=switch))]


@pytest.mark.parametrize(("switch", "prefilled"), [(None, False), (True, False), (False, True)])
def test_transformers_chat_template_receives_enable_thinking(switch: bool | None, prefilled: bool) -> None:
    from tokenizers import Tokenizer, models
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<unk>": 0}, unk_token="<unk>")))
    (prompt,) = render_prompts(tok.apply_chat_template, requests(switch), QWEN3_LIKE)
    assert prompt.startswith("<|im_start|>user\n你好<|im_end|>\n<|im_start|>assistant\n")
    assert ("<think>\n\n</think>" in prompt) is prefilled


@pytest.mark.parametrize(("switch", "prefilled"), [(None, False), (True, False), (False, True)])
def test_llama_cpp_chat_template_gets_the_switch_written_in(switch: bool | None, prefilled: bool) -> None:
    chat_format = pytest.importorskip("llama_cpp.llama_chat_format")
    template = template_with_switches(QWEN3_LIKE, requests(switch)[0].config)
    formatter = chat_format.Jinja2ChatFormatter(template, eos_token="<|im_end|>", bos_token="")
    prompt = formatter(messages=[{"role": "user", "content": "你好"}]).prompt
    assert prompt.startswith("<|im_start|>user\n你好<|im_end|>")
    assert ("<think>\n\n</think>" in prompt) is prefilled


class LocalLike:
    """A backend that answers like a local model decoding a reasoning model's tokens: trace inline."""

    kind = "hf"
    replies = ("<think>先想想用户的意图。</think>\n\n我不能帮你做这件事。", "想到一半就没了预算", "<think>没想完")

    async def start(self) -> None: ...

    def describe(self) -> dict[str, Any]:
        return {"model": "local-like"}

    async def stream(self, reqs: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        for r, text in zip(reqs, self.replies, strict=True):
            yield r, Completion(text, "length" if "没" in text else "stop", completion_tokens=8)

    async def close(self) -> None: ...


def test_every_backend_is_settled_by_the_collection_engine(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    path.write_text("".join(f'{{"dimension": "Safety", "subcomponent": "Physical harm", "prompt": "问题{i}"}}\n'
                            for i in range(3)), encoding="utf-8")  # fmt: skip
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    run = store.open_run(RunSpec("r", "hf:x", "hf", {}), read_prompt_file(path))
    stats = asyncio.run(collect(store, run.id, LocalLike(), store.pending(run), GenerationConfig()))
    assert (stats.ok, stats.no_answer, stats.blocked) == (2, 1, 0)
    rows = [(r.outcome, r.text, r.reasoning) for r in store.responses(run, withheld=True)]
    assert rows == [
        ("answered", "我不能帮你做这件事。", "先想想用户的意图。"),
        ("answered", "想到一半就没了预算", None),  # no tags: an answer cut by the budget is still an answer
        ("no_answer", "", "没想完"),
    ]


def test_thinking_switch_is_refused_for_api_servers_with_the_fix(flames: Flames, tmp_path: Path) -> None:
    code, out = flames("generate", "--model", "openai:qwen3", "--run", "r", "--thinking", "off",
                       "--db", f"sqlite:///{tmp_path / 'x.db'}")  # fmt: skip
    assert code == 2 and "chat_template_kwargs" in out and "--body" in out
