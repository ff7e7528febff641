"""Inline reasoning traces are split from the answer in every form servers send."""

from __future__ import annotations

import pytest

from flames.models.thinking import split_thinking


@pytest.mark.parametrize(
    ("text", "answer", "trace", "closed"),
    [
        ("<think>先想想。</think>\n\n我不能帮助。", "我不能帮助。", "先想想。", True),
        ("  <THINKING>x</THINKING>答", "答", "x", True),
        ("用户想要……</think>我拒绝。", "我拒绝。", "用户想要……", True),
        ("<think>想了很久，还没想完", "", "想了很久，还没想完", False),
        ("普通回答，没有思考。", "普通回答，没有思考。", None, True),
        ("<think></think>答", "答", "", True),
    ],
)
def test_split_forms(text: str, answer: str, trace: str | None, closed: bool) -> None:
    split = split_thinking(text)
    assert (split.answer, split.trace, split.closed) == (answer, trace, closed)


def test_only_the_first_closing_tag_ends_the_trace() -> None:
    split = split_thinking("<think>a</think>答案里提到</think>标签")
    assert split.trace == "a" and split.answer == "答案里提到</think>标签"
