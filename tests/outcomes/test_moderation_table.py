"""The provider moderation table recognises each provider's real refusal body, and nothing else."""

from __future__ import annotations

import json
from typing import Any

import pytest
from outcomes.conftest import case

from flames.models.chat_completions import MalformedReply, parse_reply
from flames.models.moderation import SIGNATURES, moderation_refusal

C01_BODIES = {r["match"]: r["body"] for r in json.loads((case("C01") / "rules.json").read_text(encoding="utf-8"))
              if "body" in r}  # fmt: skip
REFUSALS: list[tuple[dict[str, Any], str, str | None]] = [
    (C01_BODIES["工厂将生产剩余的化学废水"], "DashScope / Qwen", "data_inspection_failed"),
    ({"code": "DataInspectionFailed", "message": "Output data may contain inappropriate content.", "request_id": "x"},
     "DashScope / Qwen", "DataInspectionFailed"),
    (C01_BODIES["从事色"], "Zhipu / GLM", "1301"),
    ({"error": {"code": 1301, "message": "系统检测到输入或生成内容可能包含不安全或敏感内容"}}, "Zhipu / GLM", "1301"),
    (C01_BODIES["秀智"], "DeepSeek", "invalid_request_error"),
    ({"error": {"message": "The request was rejected because it was considered high risk", "type": "content_filter"}},
     "Moonshot / Kimi", "content_filter"),
    ({"error": {"message": "The response was filtered due to the prompt triggering Azure OpenAI's content management"
                " policy.", "type": None, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation"}}}, "Azure OpenAI", "content_filter"),
    ({"error": {"message": "Invalid prompt: your prompt was flagged as potentially violating our usage policy.",
                "type": "invalid_request_error", "param": None, "code": "invalid_prompt"}}, "OpenAI", "invalid_prompt"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "provider", "code"), REFUSALS)
def test_each_providers_refusal_is_recognised_with_its_code(body: dict[str, Any], provider: str, code: str) -> None:
    refusal = moderation_refusal(body)
    assert refusal is not None and (refusal.provider, refusal.code) == (provider, code)
    assert refusal.message and refusal.message in refusal.describe() and provider in refusal.describe()


def test_one_entry_per_provider() -> None:
    names = [s.provider for s in SIGNATURES]
    assert len(names) == len(set(names)) and {p for _, p, _ in REFUSALS} == set(names)


@pytest.mark.parametrize(
    "body",
    [
        {"error": {"message": "max_tokens is too large: 100000", "type": "invalid_request_error", "code": None}},
        {"error": {"message": "This model's maximum context length is 8192 tokens", "code": "context_length_exceeded"}},
        {"error": {"code": "13010", "message": "other"}},  # codes match whole, never as a substring
        {"error": "content_filter"},
        ["content_filter"],
        "Content Exists Risk",
    ],
)
def test_other_errors_are_not_refusals(body: Any) -> None:
    assert moderation_refusal(body) is None


def test_parse_reply_reads_explained_empty_content_and_refusals_sent_with_200() -> None:
    def reply(content: str | None, finish: str, **message: str) -> dict[str, Any]:
        return {"choices": [{"message": {"content": content, **message}, "finish_reason": finish}], "usage": {}}

    assert parse_reply(reply(None, "content_filter")).text == ""
    assert parse_reply(reply(None, "sensitive")).text == ""
    thought = parse_reply(reply(None, "length", reasoning_content="想了很久"))
    assert (thought.text, thought.reasoning) == ("", "想了很久")
    with pytest.raises(MalformedReply):  # no text and nothing that explains it: a fault, retried
        parse_reply(reply(None, "stop"))
    blocked = parse_reply({"error": {"code": "1301", "message": "敏感"}})
    assert blocked.outcome == "blocked" and blocked.meta["http_status"] == 200


def test_batch_result_lines_with_a_refusal_are_blocked_as_when_asked_live() -> None:
    from flames.batch.files import read_results

    lines = [
        {"custom_id": "a", "response": {"status_code": 400, "body": C01_BODIES["从事色"]}, "error": None},
        {"custom_id": "b", "response": {"status_code": 400, "body": {"error": {"message": "bad", "code": "x"}}},
         "error": None},
        {"custom_id": "c", "response": {"status_code": 200, "body": {"choices": [
            {"message": {"content": None}, "finish_reason": "content_filter"}]}}, "error": None},
    ]  # fmt: skip
    out = read_results("".join(json.dumps(x) + "\n" for x in lines).encode(), "out.jsonl")
    blocked = out["a"]
    assert getattr(blocked, "outcome", None) == "blocked" and blocked.meta["code"] == "1301"  # type: ignore[union-attr]
    assert not hasattr(out["b"], "outcome")  # any other 4xx stays a failure
    assert getattr(out["c"], "text", None) == ""  # settled to blocked when stored, as a live reply
