"""Scorer spec strings → scorers: `flames[:PATH_OR_HUB_ID]` (the official classifier, or a folder trained
by `flames scorer train`: one with a `flames_scorer.json`) and `judge:MODEL_SPEC` (an LLM judge on any
model backend).

Human and imported judgments are stored, not run, so they have no spec here. Scorer modules are imported
only when chosen, so a judge behind an API never imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from flames.models.base import BackendOptions, ModelBackend
from flames.scorers.base import Scorer, ScorerError

OFFICIAL = "flames"
JUDGE = "judge"


@dataclass(frozen=True)
class ScorerOptions:
    """Everything a user can set about scorers on the command line."""

    faithful: bool = False
    """Official scorer: reproduce the official script exactly (512-token right truncation, batches of 16)."""
    allow_pickle: bool = False
    """Official scorer (and local judges): allow unpickling `.bin` weights, which can run arbitrary code."""
    device: str | None = None
    dtype: str | None = None
    batch_size: int | None = None
    max_length: int | None = None
    """Official scorer: token window. None (and for device, dtype, batch size too): the scorer's default."""
    judge_samples: int = 1
    judge_max_new_tokens: int = 128
    judge_max_input_tokens: int | None = None
    """Tokens one judge request may take; a longer response is cut to fit. None: an 8k-context judge's."""
    judge_constrained: bool = False
    judge_backend: BackendOptions = field(default_factory=BackendOptions)
    """How to reach or load the judge model (server URL, key variable, concurrency); device, dtype,
    batch size and allow_pickle above are copied into it."""


SPEC_HELP = (
    "`flames`, `flames:PATH_OR_HUB_ID` (official scorer, or a folder from `flames scorer train`) or"
    " `judge:MODEL_SPEC` (e.g. `judge:openai:qwen-max`)"
)


def make_scorer(spec: str, options: ScorerOptions | None = None) -> Scorer:
    """Build (but do not start) the scorer a spec names; raise ScorerError naming the valid forms."""
    options = options or ScorerOptions()
    kind, sep, target = spec.partition(":")
    if kind == OFFICIAL:
        from flames.scorers import official, trained

        folder = Path(target.strip()).expanduser()
        if target.strip() and trained.is_trained_scorer(folder):
            return trained.make_scorer(folder, allow_pickle=options.allow_pickle, device=options.device,
                                       dtype=options.dtype, batch_size=options.batch_size,
                                       max_length=options.max_length)  # fmt: skip

        return official.make_scorer(
            target.strip() or None,
            faithful=options.faithful,
            allow_pickle=options.allow_pickle,
            device=options.device,
            dtype=options.dtype,
            batch_size=options.batch_size,
            max_length=options.max_length,
        )
    if kind == JUDGE and sep and target.strip():
        return _judge(target.strip(), options)
    raise ScorerError(f"unknown scorer spec {spec!r}; use {SPEC_HELP}")


def _judge(model_spec: str, options: ScorerOptions) -> Scorer:
    from dataclasses import replace

    from flames.models.base import BackendError
    from flames.models.registry import load_backend
    from flames.scorers.judge import JudgeScorer, JudgeSettings

    backend_options = replace(
        options.judge_backend,
        device=options.device or "auto",
        dtype=options.dtype or "auto",
        allow_pickle=options.allow_pickle,
        batch_size=options.batch_size or options.judge_backend.batch_size,
    )
    try:
        backend = load_backend(model_spec, backend_options)
        settings = JudgeSettings(options.judge_samples, max_new_tokens=options.judge_max_new_tokens,
                                 constrained=options.judge_constrained,
                                 max_input_tokens=options.judge_max_input_tokens)  # fmt: skip
    except (BackendError, ValueError) as err:
        raise ScorerError(f"judge:{model_spec}: {err}") from err
    if options.judge_constrained and not _honours_response_format(backend):
        raise ScorerError(
            f"--judge-constrained needs a backend that applies a JSON-schema response_format: an openai: server"
            f" that supports one (llama.cpp's, vLLM's) or gguf: through llama-cpp-python; {model_spec} is not"
        )
    # Items per window (their unreadable answers are retried before the next one starts): API judges keep
    # many rounds of requests in flight, local judges commit after a few batches.
    servers = max(1, len(backend_options.base_urls))  # a pool keeps `concurrency` in flight on each server
    window = 16 * backend_options.concurrency * servers if backend.kind == "openai" else 4 * backend_options.batch_size
    return JudgeScorer(model_spec, backend, settings, window)


def _honours_response_format(backend: ModelBackend) -> bool:
    if backend.kind == "gguf":
        from flames.models.gguf import LlamaCppBackend

        return isinstance(backend, LlamaCppBackend)
    return backend.kind == "openai"
