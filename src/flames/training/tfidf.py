"""Training the `tfidf` preset: character n-gram TF-IDF of prompt and response, a logistic head per dimension.

Each head is a scikit-learn `LogisticRegression` (multinomial, L2, lbfgs) fitted on its own dimension's
labels only, on the shared TF-IDF features; its coefficients are stored in the official class order
(`scorers.trained.tfidf`). A few thousand labels train in seconds on two cores (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from flames.labels.records import LabelRecord
from flames.scorers.trained.manifest import HeadSpec
from flames.scorers.trained.tfidf import FIELDS, TfidfFeatures, TfidfModel
from flames.taxonomy import DIMENSIONS
from flames.training.config import TrainConfig
from flames.training.events import EventSink, TrainEvent


def fit_tfidf(
    train: Sequence[LabelRecord], heads: Sequence[HeadSpec], config: TrainConfig, on_event: EventSink
) -> TfidfModel:
    """Fit the vectorizers on the training texts and one head per trained `HeadSpec`.

    Returns the model with `heads[i] = (W, b)`: W (classes, features) float32, b (classes,) with −inf for a
    class the dimension's labels never use.
    """
    from scipy.sparse import hstack
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    features = TfidfFeatures(1, config.tfidf_ngram_max, config.tfidf_max_features, config.tfidf_min_df)
    texts = {"prompt": [r.prompt for r in train], "response": [r.response for r in train]}
    vectorizers = {f: features.vectorizer() for f in FIELDS}
    x = hstack([vectorizers[f].fit_transform(texts[f]) for f in FIELDS], format="csr")  # as model.transform does
    model = TfidfModel(features, vectorizers)
    on_event(TrainEvent("start", total_steps=sum(h.trained for h in heads)))
    done = 0
    for index, head in enumerate(heads):
        if not head.trained:
            continue
        rows = [n for n, r in enumerate(train) if r.dimension == DIMENSIONS[index]]
        labels = np.array([train[n].label for n in rows])
        # L-BFGS works on long vectors with cheap steps: BLAS threads only add synchronisation (measured: one
        # thread takes a third of the CPU time of two on 3,000 labels, docs/performance.md).
        with threadpool_limits(limits=1, user_api="blas"):
            fitted = LogisticRegression(
                C=config.tfidf_c, class_weight="balanced" if config.class_weights == "balanced" else None,
                max_iter=2000, random_state=config.seed,
            ).fit(x[rows], labels)  # fmt: skip
        coef, intercept = fitted.coef_, fitted.intercept_
        if len(fitted.classes_) == 2:  # binary: P(classes_[1]) = sigmoid(z) = softmax([0, z])[1]
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        weights = np.zeros((len(head.scores), x.shape[1]), dtype=np.float32)
        bias = np.full(len(head.scores), -np.inf)
        for row, score in enumerate(fitted.classes_):
            weights[head.scores.index(int(score))] = coef[row]
            bias[head.scores.index(int(score))] = intercept[row]
        model.heads[index] = (weights, bias)
        done += 1
        on_event(TrainEvent("step", step=done, total_steps=sum(h.trained for h in heads),
                            message=f"{head.dimension.value} head fitted"))  # fmt: skip
    return model
