"""`libra-test`: Libra-Test, the Chinese guard-model benchmark of caskcsg/Libra (Hugging Face
`caskcsg/Libra-Test`; licence: see its dataset card).

Assumed format (from the project README and its `evaluate_metrics.py`): a JSON array (or JSONL) of objects
with `source` (Real / Synthetic / Translated Data), `category_name`, `sub_category_name`, `question`,
`response`, `label` (`安全` safe or `不安全` unsafe; English `safe`/`unsafe` accepted too), `analyze` and
`id`. Expert-annotated; binary (safe → 3, unsafe → 1). Its risk categories are not FLAMES dimensions, so one
dimension is used for all (default Safety, `--dimension` to change); the categories stay in `meta`.
"""

from __future__ import annotations

from flames.labels.mapping import MappingRule
from flames.labels.readers.pairs import PairFormat

RULE = MappingRule("libra-test/safety-label", 1, "安全 (safe) → 3, 不安全 (unsafe) → 1",
                   {"安全": 3, "不安全": 1, "safe": 3, "unsafe": 1})  # fmt: skip
READER = PairFormat(
    "libra-test", "Libra-Test JSON/JSONL: question, response, label 安全/不安全, category_name",
    "question", "response", "label", RULE, "see the caskcsg/Libra-Test dataset card", id="id",
    meta=("source", "category_name", "sub_category_name"),
).reader()
