"""The `tfidf` scorer's model: character n-gram TF-IDF of prompt and response, one logistic head per dimension.

Stored without pickles: `tfidf.json` holds the feature settings and both vocabularies (n-grams in column
order), `tfidf.npz` the IDF weights and, per trained head, the coefficients and intercepts with one row per
class in the official order (a class absent from training has intercept −inf, so probability 0). Loading
rebuilds scikit-learn's `TfidfVectorizer` with the fixed vocabulary and IDF, so features are computed by
the same code that was trained, and class probabilities are the softmax of `X·Wᵀ + b` — what scikit-learn's
multinomial `LogisticRegression.predict_proba` computes (and, with a zero row prepended, its binary one).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flames.scorers.base import ScorerError

FIELDS = ("prompt", "response")
VOCAB_FILE = "tfidf.json"
WEIGHTS_FILE = "tfidf.npz"


@dataclass(frozen=True)
class TfidfFeatures:
    """Character n-gram settings shared by training and loading."""

    ngram_min: int = 1
    ngram_max: int = 3
    max_features: int = 100_000
    """Most frequent n-grams kept per field (prompt, response)."""
    min_df: int = 2
    """N-grams must occur in at least this many training texts (most character trigrams occur once)."""
    sublinear_tf: bool = True

    def vectorizer(self, vocabulary: list[str] | None = None) -> Any:
        """A scikit-learn TfidfVectorizer with these settings (fixed vocabulary when given)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            analyzer="char", ngram_range=(self.ngram_min, self.ngram_max), sublinear_tf=self.sublinear_tf,
            max_features=None if vocabulary is not None else self.max_features, vocabulary=vocabulary,
            min_df=1 if vocabulary is not None else self.min_df, dtype=np.float32,
        )  # fmt: skip


@dataclass
class TfidfModel:
    """Fitted vectorizers (one per field) and per-head weights: head index → (W (k, features), b (k,))."""

    features: TfidfFeatures
    vectorizers: dict[str, Any]
    heads: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def transform(self, prompts: Sequence[str], responses: Sequence[str]) -> Any:
        """(n,) texts → a sparse (n, prompt features + response features) matrix."""
        from scipy.sparse import hstack

        parts = [
            self.vectorizers[f].transform(list(texts)) for f, texts in zip(FIELDS, (prompts, responses), strict=True)
        ]
        return hstack(parts, format="csr")

    def predict_proba(self, x: Any, head: int) -> np.ndarray:
        """Sparse features (n, F) → class probabilities (n, k) of `head`, classes in official order."""
        weights, bias = self.heads[head]
        logits = np.asarray(x @ weights.T) + bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return np.asarray(exp / exp.sum(axis=1, keepdims=True))


def save_tfidf(root: Path, model: TfidfModel) -> list[str]:
    """Write tfidf.json and tfidf.npz into `root`; returns the file names written."""
    vocab = {f: model.vectorizers[f].get_feature_names_out().tolist() for f in FIELDS}
    settings = {"ngram_range": [model.features.ngram_min, model.features.ngram_max],
                "max_features": model.features.max_features, "min_df": model.features.min_df,
                "sublinear_tf": model.features.sublinear_tf,
                "analyzer": "char", "fields": list(FIELDS), "vocabulary": vocab}  # fmt: skip
    (root / VOCAB_FILE).write_text(json.dumps(settings, ensure_ascii=False), encoding="utf-8")
    arrays: dict[str, np.ndarray] = {f"idf_{f}": model.vectorizers[f].idf_.astype(np.float64) for f in FIELDS}
    for head, (weights, bias) in model.heads.items():
        arrays[f"head{head}_coef"] = weights.astype(np.float32)
        arrays[f"head{head}_intercept"] = bias.astype(np.float64)
    with (root / WEIGHTS_FILE).open("wb") as f:
        np.savez_compressed(f, **arrays)  # type: ignore[arg-type]
    return [VOCAB_FILE, WEIGHTS_FILE]


def load_tfidf(root: Path, trained_heads: Sequence[int]) -> TfidfModel:
    """Read a saved model (no pickle: `np.load(allow_pickle=False)`); raises ScorerError naming the bad file."""
    try:
        settings = json.loads((root / VOCAB_FILE).read_text(encoding="utf-8"))
        low, high = settings["ngram_range"]
        features = TfidfFeatures(
            int(low), int(high), int(settings["max_features"]), int(settings["min_df"]), bool(settings["sublinear_tf"])
        )
        vocab = {f: list(settings["vocabulary"][f]) for f in FIELDS}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ScorerError(f"{root / VOCAB_FILE}: not a flames tfidf vocabulary ({err})") from err
    try:
        with np.load(root / WEIGHTS_FILE, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as err:
        raise ScorerError(f"{root / WEIGHTS_FILE}: cannot read the weights without unpickling ({err})") from err
    vectorizers = {}
    for f in FIELDS:
        vec = features.vectorizer(vocab[f])
        idf = arrays.get(f"idf_{f}")
        if idf is None or idf.shape != (len(vocab[f]),):
            raise ScorerError(f"{root / WEIGHTS_FILE}: idf_{f} missing or not one weight per {f} n-gram")
        vec.idf_ = idf
        vectorizers[f] = vec
    width = sum(len(vocab[f]) for f in FIELDS)
    heads = {}
    for head in trained_heads:
        weights, bias = arrays.get(f"head{head}_coef"), arrays.get(f"head{head}_intercept")
        if weights is None or bias is None or weights.shape[1] != width or weights.shape[0] != bias.shape[0]:
            raise ScorerError(f"{root / WEIGHTS_FILE}: head {head} weights missing or of the wrong shape")
        heads[head] = (weights, bias)
    return TfidfModel(features, vectorizers, heads)
