"""Trained scorers: folders written by `flames scorer train`, loaded with `--scorer flames:DIR`.

Modules: `manifest` (`flames_scorer.json`), `tfidf` (the CPU preset's model), `network` (a transformers
backbone with the five heads), `scorer` (the `Scorer`). Only the manifest is read eagerly; torch,
transformers and scikit-learn are imported when a scorer starts.
"""

from flames.scorers.trained.manifest import MANIFEST_FILE, is_trained_scorer
from flames.scorers.trained.scorer import ClassifierScorer, make_scorer

__all__ = ["MANIFEST_FILE", "ClassifierScorer", "is_trained_scorer", "make_scorer"]
