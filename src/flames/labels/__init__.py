"""Human label sets: one normalised JSONL format (`records`), readers for public sets, splits.

The format is documented in `docs/labels.md`; every label set flames-eval trains or validates scorers on is
a file of `LabelRecord`s.
"""
