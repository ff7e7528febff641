"""Model spec strings (`openai:MODEL`, `hf:PATH`, `vllm:PATH`, `gguf:PATH`) → backend instances.

Backend modules are imported only when chosen, so selecting an API model never imports torch.
"""

from __future__ import annotations

from importlib import import_module

from flames.models.base import BackendError, BackendOptions, ModelBackend

BACKENDS: dict[str, str] = {
    "openai": "flames.models.openai:OpenAIBackend",
    "hf": "flames.models.hf:HFBackend",
    "vllm": "flames.models.vllm:VLLMBackend",
    "gguf": "flames.models.gguf:gguf_backend",
}
"""Spec prefix → `module:factory`; every factory takes `(target: str, options: BackendOptions)`."""


def parse_spec(spec: str) -> tuple[str, str]:
    """Split `KIND:TARGET` at the first colon (model names like `qwen2.5:7b` keep theirs)."""
    kind, sep, target = spec.partition(":")
    if not sep or kind not in BACKENDS or not target.strip():
        raise BackendError(
            f"model spec {spec!r} is not KIND:TARGET with KIND one of {', '.join(BACKENDS)}; e.g."
            " `openai:gpt-4o-mini`, `hf:Qwen/Qwen2.5-0.5B-Instruct`, `vllm:/models/qwen`, `gguf:model.gguf`"
        )
    return kind, target.strip()


def load_backend(spec: str, options: BackendOptions | None = None) -> ModelBackend:
    """Build (but do not start) the backend a model spec names.

    Usable without the CLI, e.g. by the LLM judge::

        backend = load_backend("openai:qwen-max", BackendOptions(base_url=URL, concurrency=16))
        await backend.start()
        async for request, outcome in backend.stream(requests):  # outcome: Completion | Failure
            ...
        await backend.close()

    `spec` is `openai:MODEL` (an OpenAI-compatible server: `options.base_url`, key from
    `options.api_key_env`), `hf:PATH_OR_HUB_ID` (transformers), `vllm:PATH_OR_HUB_ID` (vLLM offline engine)
    or `gguf:PATH` (llama-cpp-python, else transformers' GGUF loader). Raises BackendError with the fix when
    the spec is malformed or the backend's extra is not installed; model loading errors come from `start()`.
    """
    kind, target = parse_spec(spec)
    module_name, _, class_name = BACKENDS[kind].partition(":")
    try:
        module = import_module(module_name)
    except ImportError as err:
        extra = {"openai": "", "hf": "hf", "vllm": "vllm", "gguf": "gguf"}[kind]
        fix = f"pip install 'flames-eval[{extra}]'" if extra else "pip install aiohttp"
        raise BackendError(f"the {kind} backend needs {err.name or 'a missing package'}: {fix}") from err
    backend: ModelBackend = getattr(module, class_name)(target, options or BackendOptions())
    return backend
