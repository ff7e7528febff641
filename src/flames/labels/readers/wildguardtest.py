"""`wildguardtest`: WildGuardTest, the human-annotated test split of allenai/wildguardmix (ODC-BY).

Assumed format (the Hugging Face dataset's fields): `prompt`, `adversarial`, `response`,
`prompt_harm_label`, `response_refusal_label`, `response_harm_label` (`harmful`, `unharmful` or empty),
`subcategory`, as Parquet, JSONL or a JSON array. Prompt-only rows (no response, or no response harm label)
are dropped; unharmful → 3, harmful → 1. One dimension for all (default Safety); subcategory, refusal and
adversarial flags stay in `meta`. English.
"""

from __future__ import annotations

from flames.labels.mapping import MappingRule
from flames.labels.readers.pairs import PairFormat

RULE = MappingRule("wildguardtest/response-harm", 1, "response_harm_label unharmful → 3, harmful → 1",
                   {"unharmful": 3, "harmful": 1})  # fmt: skip
READER = PairFormat(
    "wildguardtest", "WildGuardTest Parquet/JSONL: prompt, response, response_harm_label, subcategory",
    "prompt", "response", "response_harm_label", RULE, "ODC-BY",
    meta=("subcategory", "adversarial", "response_refusal_label", "prompt_harm_label"),
).reader()
