"""Training scorers on human labels: `train_scorer(train, dev, TrainConfig(...), out_dir) -> TrainedScorer`.

Modules: `config` (settings), `data` (fingerprints, class counts, split summary, dev metrics), `tfidf` (the
CPU preset), `transformer` (fine-tuning, full or LoRA), `resume` (checkpoints), `events`/`progress`
(reporting), `api` (the entry point), `lomo` (leave-one-model-out). The folder written is a scorer:
`flames.scorers.trained` loads it. Heavy libraries are imported only by the modules that train.
"""

from flames.training.api import TrainedScorer, train_or_reuse, train_scorer
from flames.training.config import TrainConfig, TrainingError

__all__ = ["TrainConfig", "TrainedScorer", "TrainingError", "train_or_reuse", "train_scorer"]
