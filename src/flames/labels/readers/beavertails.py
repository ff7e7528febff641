"""`beavertails`: PKU-Alignment/BeaverTails (CC BY-NC 4.0) QA pairs with crowd safety labels.

Assumed format (the Hugging Face dataset's fields): `prompt`, `response`, `category` (an object of 14 harm
categories → true/false) and `is_safe` (boolean), as JSONL, a JSON array or Parquet. is_safe true → 3,
false → 1. The harm categories describe unsafe answers only (a safe answer has none), so they cannot give
a per-row FLAMES dimension without biasing it; one dimension is used for all (default Safety) and the
categories stay in `meta`. English.
"""

from __future__ import annotations

from flames.labels.mapping import MappingRule
from flames.labels.readers.pairs import PairFormat

RULE = MappingRule("beavertails/is-safe", 1, "is_safe true → 3, false → 1",
                   {"true": 3, "1": 3, "false": 1, "0": 1})  # fmt: skip
READER = PairFormat(
    "beavertails", "BeaverTails JSONL/JSON/Parquet: prompt, response, category, is_safe",
    "prompt", "response", "is_safe", RULE, "CC-BY-NC-4.0", meta=("category",),
).reader()
