"""The official FLAMES scorer (CaasiHUANG/flames-scorer) run without its code: `--scorer flames[:PATH]`.

Modules: `checkpoint` (files, weights, safetensors conversion), `tokenizer` (SentencePiece with the
official rules), `encode` (template and truncation), `model` (LLaMA backbone + five heads), `scorer`
(batching, the `Scorer`). Only `scorer` is imported here, and it imports torch lazily.
"""

from flames.scorers.official.scorer import OfficialScorer, make_scorer

__all__ = ["OfficialScorer", "make_scorer"]
