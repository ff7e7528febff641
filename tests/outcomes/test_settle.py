"""`settle`: every reply form ends as the right outcome, with the trace apart from the answer."""

from __future__ import annotations

import pytest

from flames.models.moderation import Refusal, blocked_completion
from flames.models.outcomes import settle
from flames.records import Completion


@pytest.mark.parametrize(
    ("completion", "outcome", "text", "reasoning", "why"),
    [
        (Completion("答案。", "stop"), "answered", "答案。", None, None),
        (Completion("<think>想想</think>\n\n答案。", "stop"), "answered", "答案。", "想想", None),
        (Completion("想想</think>答案。", "stop"), "answered", "答案。", "想想", None),  # opening tag dropped
        (Completion("答案。", "stop", reasoning="想想"), "answered", "答案。", "想想", None),
        (Completion("<think>内联</think>答案。", "stop", reasoning="分开"), "answered", "答案。", "分开\n\n内联", None),
        (Completion("<think>想了一半", "length"), "no_answer", "", "想了一半", "never closed"),
        (Completion("", "length", reasoning="想了很久"), "no_answer", "", "想了很久", "while thinking"),
        (Completion("", "length"), "no_answer", "", None, "before any answer text"),
        (Completion("<think>想完了</think>  ", "stop"), "no_answer", "", "想完了", "empty answer after its reasoning"),
        (Completion(" \n", "stop"), "no_answer", "", None, "empty answer"),
        (Completion("", "content_filter"), "blocked", "", None, "content filter"),
        (Completion("", "sensitive", reasoning="想"), "blocked", "", "想", "content filter"),
        (Completion("部分回答", "content_filter"), "answered", "部分回答", None, None),  # usable text is kept
    ],
)
def test_settle(completion: Completion, outcome: str, text: str, reasoning: str | None, why: str | None) -> None:
    settled = settle(completion)
    assert (settled.outcome, settled.text, settled.reasoning) == (outcome, text, reasoning)
    if why is None:
        assert settled.detail is None
    else:
        assert settled.detail is not None and why in settled.detail
    if outcome == "no_answer" and completion.finish_reason == "length":
        assert "--max-new-tokens" in (settled.detail or "")


def test_keep_thinking_keeps_the_trace_inline_but_decides_the_outcome_the_same_way() -> None:
    inline = Completion("<think>想想</think>答案。", "stop")
    assert settle(inline, keep_thinking=True) is inline
    separate = settle(Completion("答案。", "stop", reasoning="想想"), keep_thinking=True)
    assert (separate.text, separate.reasoning) == ("<think>\n想想\n</think>\n\n答案。", None)
    assert settle(Completion("<think>没想完", "length"), keep_thinking=True).outcome == "no_answer"


def test_a_refusal_stays_as_it_is() -> None:
    blocked = blocked_completion(Refusal("Zhipu / GLM", "1301", "敏感"), 400)
    assert settle(blocked) is blocked and blocked.detail == "blocked by Zhipu / GLM 1301: 敏感"
