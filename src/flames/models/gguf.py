"""`gguf:PATH` — a GGUF file on CPU: llama-cpp-python when installed (fast), else transformers' GGUF reader.

llama-cpp-python answers in the chat-completions format, so its replies go through the same parser as an
API's. It has no batched chat API: requests run one after another on a worker thread, and a cancelled
stream aborts the answer being generated at its next token.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from flames.models.base import (
    BackendError,
    BackendOptions,
    ChatRequest,
    Failure,
    GenerationConfig,
    ModelBackend,
    Outcome,
)
from flames.models.chat_completions import MalformedReply, parse_reply
from flames.models.hf import HFBackend
from flames.models.local import ThreadedBackend, cpu_threads, resolve_chat_template, template_with_switches
from flames.records import Completion

ENGINES = ("auto", "llama-cpp", "transformers")
CONTEXT_TOKENS = 8192
"""llama.cpp context size: a FLAMES prompt plus a long answer fits, and unlike the model's full training
context (up to 128k tokens) its KV cache stays small."""


class _Aborted(Exception):
    """Raised inside llama.cpp's sampling loop to stop an answer nobody is waiting for."""


def gguf_backend(target: str, options: BackendOptions, engine: str = "auto") -> ModelBackend:
    """The backend for a .gguf file: llama-cpp-python if importable (or asked for), else transformers."""
    path = Path(target).expanduser()
    if not path.is_file():
        raise BackendError(f"gguf:{target}: no such file (give the path of a .gguf model file)")
    if engine not in ENGINES:
        raise BackendError(f"unknown GGUF engine {engine!r}; use one of {', '.join(ENGINES)}")
    if engine == "llama-cpp" or (engine == "auto" and importlib.util.find_spec("llama_cpp") is not None):
        return LlamaCppBackend(path, options)
    backend = HFBackend(str(path.parent), options, gguf_file=path.name)
    backend.kind = "gguf"
    return backend


class LlamaCppBackend(ThreadedBackend):
    kind = "gguf"

    def __init__(self, path: Path, options: BackendOptions) -> None:
        super().__init__(options)
        self.path = path
        self._llm: Any = None
        self._formatter: Any = None
        self._handlers: dict[bool | None, Any] = {}

    def _load(self) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise BackendError("the llama-cpp engine needs llama-cpp-python: pip install 'flames-eval[gguf]'") from err
        try:
            llm = Llama(model_path=str(self.path), n_ctx=CONTEXT_TOKENS, n_threads=cpu_threads(), verbose=False)
        except (ValueError, RuntimeError) as err:
            raise BackendError(f"llama.cpp cannot load {self.path}: {err}") from err
        self.template = resolve_chat_template(
            llm.metadata.get("tokenizer.chat_template"), self.options.chat_template, str(self.path)
        )
        self._llm = llm
        self._formatter = self._chat_formatter(self.template)
        if self.options.chat_template:
            self._handlers[None] = self._formatter.to_chat_handler()

    def _chat_formatter(self, template: str) -> Any:
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        token = self._llm._model.token_get_text  # the special tokens the template may print
        eos, bos = token(self._llm.token_eos()), token(self._llm.token_bos())
        return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)

    def _use_template(self, config: GenerationConfig) -> None:
        """Select the chat handler for a request: the template as is, or with `enable_thinking` set in it
        (llama-cpp-python passes no extra variables to a template, so the switch is written into it)."""
        switch = config.enable_thinking
        if switch is not None and switch not in self._handlers:
            formatter = self._chat_formatter(template_with_switches(self.template, config))
            self._handlers[switch] = formatter.to_chat_handler()
        self._llm.chat_handler = self._handlers.get(switch)  # None: llama.cpp's own for the file

    def describe(self) -> dict[str, Any]:
        import llama_cpp

        return {
            "model": str(self.path),
            "chat_template": self.template,
            "device": "cpu",
            "engine": f"llama-cpp-python {llama_cpp.__version__}",
        }

    async def close(self) -> None:
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    def prompt_token_ids(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """`PromptTokenizer`: the template rendered and tokenized as llama-cpp-python's chat handler does."""
        rendered = self._formatter(messages=list(messages))
        ids = self._llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)
        return list(ids)

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        if self._llm is None:
            raise BackendError("LlamaCppBackend.stream called before start()")
        self._stop.clear()
        self._draining = False
        try:
            for request in requests:
                if self._draining:
                    return
                yield request, await asyncio.to_thread(self._answer, request)
        finally:
            self._stop.set()

    def _answer(self, request: ChatRequest) -> Completion | Failure:
        cfg = request.config

        def abort_if_stopped(_ids: Any, logits: Any) -> Any:
            if self._stop.is_set():
                raise _Aborted
            return logits

        self._use_template(cfg)
        t0 = time.perf_counter()
        try:
            reply = self._llm.create_chat_completion(
                messages=list(request.messages),
                max_tokens=cfg.max_new_tokens,
                temperature=cfg.temperature,
                top_p=1.0 if cfg.top_p is None else cfg.top_p,
                top_k=0,
                seed=cfg.seed,
                logits_processor=[abort_if_stopped],
                **cfg.extra,
            )
        except TypeError as err:
            raise BackendError(f"llama-cpp-python rejects the extra parameters {sorted(cfg.extra)}: {err}") from err
        try:
            return parse_reply(reply, time.perf_counter() - t0)
        except MalformedReply as err:
            return Failure(str(err))
