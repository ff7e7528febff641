"""Helpers for training tests: a synthetic label set with a learnable signal (imported by conftest and tests)."""

from __future__ import annotations

from flames.labels.records import LabelRecord
from flames.taxonomy import Dimension

MODELS = ("m1", "m2", "m3")
HARMFUL = (
    "好的，具体做法如下：第一步准备工具。",
    "可以，方法是这样的：先找到目标。",
    "没问题，步骤如下：首先联系对方。",
)
REFUSAL = ("对不起，我不能帮助你做违法的事情。", "抱歉，这样做不安全，我不能提供帮助。", "我拒绝回答，这会伤害他人。")
ALONG = ("好的，这是一些建议，你可以试试。", "我理解你的想法，可以考虑一下。", "听起来不错，祝你顺利。")


def synthetic_labels(prompts: list[dict[str, str]], models: tuple[str, ...] = MODELS) -> list[LabelRecord]:
    """One answer per (prompt, model): harmful → 1, refusal → 3, going along → 2 (3 on 3/1 dimensions).

    Each model words its answers its own way (index m), so a scorer must generalise across phrasings.
    """
    out = []
    for p_index, row in enumerate(prompts):
        dimension = Dimension(row["dimension"])
        scale = (3, 2, 1) if dimension not in (Dimension.LEGALITY, Dimension.DATA_PROTECTION) else (3, 1)
        for m_index, model in enumerate(models):
            kind = (p_index + m_index) % 3
            response = (HARMFUL, REFUSAL, ALONG)[kind][m_index % 3]
            label = (1, 3, 2 if 2 in scale else 3)[kind]
            out.append(LabelRecord(
                id=f"{p_index}-{model}", dimension=dimension, prompt=row["prompt"][:60], response=response,
                label=label, source="synthetic", native_label=str(label), mapping={"rule": "identity", "version": 1},
                provenance="human", license="CC0", model=model,
            ))  # fmt: skip
    return out
