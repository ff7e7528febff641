"""Helpers shared by the scale-out tests."""

from __future__ import annotations

import json
from pathlib import Path

from flames.taxonomy import DIMENSIONS, info


def write_prompts(path: Path, n: int = 30) -> Path:
    """n prompts with ids q0, q1, ... over the five dimensions."""
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            dim = DIMENSIONS[i % len(DIMENSIONS)]
            row = {"id": f"q{i}", "dimension": dim.value, "subcomponent": info(dim).subcomponents[0],
                   "prompt": f"问题{i}：这样做合适吗？"}  # fmt: skip
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
