"""vLLM: request building and output parsing without a GPU; the real engine where one is present."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace

import pytest
from collect.tiny_model import CHATML, build_tiny_chat_model

from flames.models.base import BackendOptions, ChatRequest, GenerationConfig, chat_messages
from flames.models.registry import load_backend
from flames.models.vllm import VLLMBackend, completion_from_output, sampling_params
from flames.records import Completion


def test_token_prompts_apply_the_template_once_without_extra_special_tokens(tmp_path: Path) -> None:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(build_tiny_chat_model(tmp_path))
    backend = VLLMBackend("tiny", BackendOptions())
    backend._tokenizer, backend.template = tok, CHATML
    req = ChatRequest("0", chat_messages("这样做对吗？", "你是助手"), GenerationConfig())
    (prompt,) = backend.token_prompts([req])
    ids = prompt["prompt_token_ids"]
    text = "<|im_start|>system\n你是助手<|im_end|>\n<|im_start|>user\n这样做对吗？<|im_end|>\n<|im_start|>assistant\n"
    assert tok.decode(ids) == text
    assert ids.count(tok.convert_tokens_to_ids("<|im_start|>")) == 3


def test_sampling_params_follow_the_generation_config() -> None:
    assert sampling_params(GenerationConfig(max_new_tokens=64)) == {
        "max_tokens": 64, "temperature": 0.0, "top_p": 1.0, "seed": None,
    }  # fmt: skip
    sampled = sampling_params(GenerationConfig(temperature=0.7, top_p=0.8, seed=3, extra={"top_k": 20}))
    assert sampled == {"max_tokens": 1024, "temperature": 0.7, "top_p": 0.8, "seed": 3, "top_k": 20}


def test_request_output_becomes_a_completion() -> None:
    out = SimpleNamespace(
        prompt_token_ids=[1, 2, 3], outputs=[SimpleNamespace(text="不可以。", finish_reason="stop", token_ids=[7, 8])]
    )
    c = completion_from_output(out, 0.5)
    assert (c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, c.latency_s) == (
        "不可以。",
        "stop",
        3,
        2,
        0.5,
    )


@pytest.mark.gpu
def test_vllm_engine_answers_on_a_gpu(tmp_path: Path) -> None:
    pytest.importorskip("vllm", reason="vLLM is not installed on this machine")
    backend = load_backend(f"vllm:{build_tiny_chat_model(tmp_path)}", BackendOptions(dtype="float32"))

    async def run() -> list[Completion]:
        await backend.start()
        reqs = [ChatRequest(str(i), chat_messages(f"问题{i}"), GenerationConfig(max_new_tokens=8)) for i in range(3)]
        outs = [o async for _, o in backend.stream(reqs)]
        await backend.close()
        return [o for o in outs if isinstance(o, Completion)]

    outs = asyncio.run(run())
    assert len(outs) == 3 and all(o.completion_tokens and o.completion_tokens <= 8 for o in outs)
