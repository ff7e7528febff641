"""`shieldlm`: labelled (query, response) pairs in the format of thu-coai/ShieldLM.

Assumed format (from the ShieldLM repository: its inference input `examples/example_input.jsonl` has
`query` and `response`, its released training data a `label` of `safe`, `unsafe` or `controversial`, and its
label extractor numbers them 0, 1, 2): JSONL or a JSON array of objects with `query`, `response`, `label`
(text or 0/1/2), optional `lang`, `model` and `id`. safe → 3, unsafe → 1; *controversial* is dropped: it
means "depends on the rules in force", not FLAMES's partly harmful 2. Licence: that of the file you have
(the repository does not state one for data).
"""

from __future__ import annotations

from flames.labels.mapping import MappingRule
from flames.labels.readers.pairs import PairFormat

RULE = MappingRule(
    "shieldlm/label", 1, "safe (0) → 3, unsafe (1) → 1, controversial (2) dropped",
    {"safe": 3, "0": 3, "unsafe": 1, "1": 1, "controversial": None, "2": None},
)  # fmt: skip
READER = PairFormat(
    "shieldlm", "ShieldLM-style JSON/JSONL: query, response, label safe/unsafe/controversial (or 0/1/2)",
    "query", "response", "label", RULE, "unspecified (ShieldLM states none for data)", id="id", model="model",
    meta=("lang",),
).reader()
