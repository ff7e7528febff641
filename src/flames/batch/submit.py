"""Submitting a run's pending requests (answers, or an API judge's requests) as provider batches.

The requests are claimed first (`flames.store.holds`), as live runs claim theirs. Per file: the batch and
every request it holds are written to the store first (the batch's lease takes them over), then
the file is uploaded and its id recorded, then the batch is created and its id recorded, each the moment it
is known. A crash at any point leaves a record that `flames batch collect` finishes or abandons; creating a
batch is never retried blindly (a retry could create and bill it twice): after an unclear failure the batch
is looked up by the store's key in its metadata first. A file whose upload failed, or a batch the provider
refused to create, is abandoned at once: its requests go back to the pending work.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from flames import aio
from flames.batch import BatchError
from flames.batch.client import BatchClient, Transient
from flames.batch.files import Line, request_line, split_lines
from flames.batch.providers import BatchProvider, provider_for
from flames.generate import slot_requests
from flames.models.base import BackendOptions, ChatRequest, GenerationConfig, Outcome
from flames.models.chat_completions import request_body
from flames.models.concurrency import backoff_delay
from flames.models.openai import DEFAULT_BASE_URL, OpenAIBackend
from flames.models.registry import parse_spec
from flames.prompts import PromptSet
from flames.score import claim, has_text, item_of, plan
from flames.scorers.judge import JudgeScorer
from flames.scorers.registry import ScorerOptions, make_scorer
from flames.shard import Shard
from flames.store import RunInfo, RunSpec, Store
from flames.store.batches import GENERATE, SCORE, BatchInfo, BatchItem
from flames.store.holds import Lease
from flames.urls import masked_url


@dataclass(frozen=True)
class Target:
    """Where a batch goes: the API root, its key variable and headers, the model, the provider's rules."""

    base_url: str
    api_key_env: str
    headers: dict[str, str]
    model: str
    provider: BatchProvider


@dataclass(frozen=True)
class Submitted:
    run: RunInfo
    target: Target
    requests: int
    """Requests written into the batches now."""
    batches: list[BatchInfo]


def target_for(
    model: str, options: BackendOptions, *, endpoint: str | None = None, max_requests: int | None = None
) -> Target:
    """The batch target for an `openai:` model reached with `options` (one base URL: a pool has no batch API).

    The base URL is stored with the batch, for `flames batch collect`, so one carrying credentials (a
    `user:password@` part or a key parameter, `flames.urls.masked_url`) raises BatchError: the key belongs in
    the variable named by `--api-key-env`."""
    if len(options.base_urls) > 1:
        raise BatchError("a batch goes to one provider: give a single --base-url (a pool of servers has no batch API)")
    base_url = (options.base_urls or (options.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,))[0]
    if masked_url(base_url) != base_url:
        raise BatchError(
            f"--base-url {masked_url(base_url)} carries credentials, and a batch stores its base URL until it is"
            f" collected: give the URL without them and the key in ${options.api_key_env} (--api-key-env NAME)"
        )
    provider = provider_for(base_url, model, endpoint=endpoint, max_requests=max_requests)
    return Target(base_url.rstrip("/"), options.api_key_env, dict(options.headers), model, provider)


def record_remote(store: Store, batch: BatchInfo, remote: dict[str, Any]) -> BatchInfo:
    """Store what the provider says about a batch: its id, status, counts and result files."""
    counts = remote.get("request_counts")
    return store.update_batch(
        batch.id,
        remote_id=str(remote["id"]),
        status=str(remote.get("status") or "unknown"),
        request_counts=counts if isinstance(counts, dict) else batch.request_counts,
        output_file_id=remote.get("output_file_id") or batch.output_file_id,
        error_file_id=remote.get("error_file_id") or batch.error_file_id,
    )


async def create_remote(store: Store, client: BatchClient, batch: BatchInfo, provider: BatchProvider) -> BatchInfo:
    """Create the provider's batch for an uploaded file, exactly once (see the module docstring)."""
    assert batch.input_file_id is not None
    for attempt in range(1, 4):
        try:
            remote = await client.create(batch.input_file_id, provider, batch.local_key)
        except Transient:
            found = await client.find(batch.local_key)
            if found is None and attempt < 3:
                await asyncio.sleep(backoff_delay(attempt))
                continue
            if found is None:
                raise
            remote = found
        return record_remote(store, batch, remote)
    raise AssertionError("unreachable")


async def _submit(
    store: Store, run_id: int, kind: str, lines: Sequence[Line], target: Target, scorer_id: int | None,
    meta: dict[str, Any], lease: Lease,
) -> list[BatchInfo]:  # fmt: skip
    chunks = split_lines(lines, target.provider)
    done: list[BatchInfo] = []
    async with BatchClient(target.base_url, target.api_key_env, target.headers) as client:
        for chunk in chunks:
            data = b"".join(line.data for line in chunk)
            batch = store.add_batch(
                run_id, kind=kind, provider=target.provider.name, base_url=target.base_url,
                endpoint=target.provider.endpoint, api_key_env=target.api_key_env, model=target.model,
                items=[line.item for line in chunk], n_bytes=len(data), scorer_id=scorer_id, meta=meta, lease=lease,
            )  # fmt: skip
            try:
                file_id = await client.upload(f"flames-{batch.local_key}.jsonl", data)
            except BatchError as err:  # nothing uploaded, nothing billed: give the requests back at once
                store.close_batch(batch.id, {"abandoned": f"the upload failed: {err}", "unanswered": batch.n_requests})
                raise
            batch = store.update_batch(batch.id, input_file_id=file_id, status="uploaded")
            try:
                done.append(await create_remote(store, client, batch, target.provider))
            except Transient:  # it may exist: `flames batch collect` looks it up by its key, or creates it
                raise
            except BatchError as err:  # the provider refused to create it: nothing to bill
                store.close_batch(batch.id, {"abandoned": f"creating it failed: {err}", "unanswered": batch.n_requests})
                raise
    return done


def submit_generation(
    store: Store,
    *,
    run_name: str,
    model_spec: str,
    prompt_set: PromptSet,
    config: GenerationConfig,
    options: BackendOptions,
    samples: int = 1,
    limit: int | None = None,
    shard: Shard | None = None,
    endpoint: str | None = None,
    max_requests: int | None = None,
) -> Submitted:
    """Create or reopen run `run_name` (as `flames generate` would) and submit its pending slots as batches.

    Raises BatchError (not an `openai:` model, a request over the provider's limits, an API error) or
    StoreError (the run exists with another config).
    """
    kind, model = parse_spec(model_spec)
    if kind != "openai":
        raise BatchError(f"--batch needs an openai: model behind a provider's batch API; {model_spec} runs locally")
    target = target_for(model, options, endpoint=endpoint, max_requests=max_requests)
    run = store.open_run(RunSpec(run_name, model_spec, kind, config.as_dict(), samples), prompt_set)
    with store.lease() as lease:  # claimed here, handed over to each batch as it is recorded
        slots = store.claim_slots(lease, run, store.pending(run, limit, shard))
        lines = [
            request_line(
                BatchItem(f"{slot.prompt_row_id}-{slot.sample_index}", slot.prompt_row_id, slot.sample_index),
                target.provider.endpoint,
                request_body(model, request),
            )
            for slot, request in zip(slots, slot_requests(slots, config), strict=True)
        ]
        batches = aio.run(_submit(store, run.id, GENERATE, lines, target, None, {}, lease)) if lines else []
    if batches:
        store.update_run(run.id, status="batch")
    return Submitted(store.get_run(run_name), target, len(lines), batches)


class _Capture:
    """A backend that records the requests it is sent and answers none: the judge's first turn, as it
    would be sent live."""

    kind = "openai"

    def __init__(self) -> None:
        self.requests: list[ChatRequest] = []

    async def start(self) -> None:
        """Nothing to start."""

    def describe(self) -> dict[str, Any]:
        return {}

    async def stream(self, requests: Sequence[ChatRequest]) -> AsyncIterator[Outcome]:
        self.requests.extend(requests)
        for _ in ():
            yield _

    async def close(self) -> None:
        """Nothing to close."""


def judge_options_record(options: ScorerOptions) -> dict[str, Any]:
    """ScorerOptions as JSON for the batch record (header values may be secrets: dropped)."""
    record = dataclasses.asdict(options)
    record["judge_backend"]["headers"] = {}
    return record


def judge_from_record(spec: str, record: dict[str, Any]) -> JudgeScorer:
    """The judge a score batch was submitted for, rebuilt from its spec and recorded options."""
    backend = dict(record["judge_backend"])
    backend["base_urls"] = tuple(backend.get("base_urls") or ())
    options = ScorerOptions(**{**record, "judge_backend": BackendOptions(**backend)})
    scorer = make_scorer(spec, options)
    if not isinstance(scorer, JudgeScorer):
        raise BatchError(f"{spec}: only LLM judges (judge:openai:MODEL) are scored by batch")
    return scorer


async def _judge_lines(judge: JudgeScorer, responses: Sequence[Any], target: Target) -> list[Line]:
    lines: list[Line] = []
    for response in responses:
        capture = _Capture()
        async for _ in JudgeScorer(judge.model_spec, capture, judge.settings, judge.window).score([item_of(response)]):
            raise BatchError("the judge answered without a backend; this is a bug")
        for n, request in enumerate(capture.requests):
            item = BatchItem(f"{response.id}-{n}", response_id=response.id, request_key=request.key)
            lines.append(request_line(item, target.provider.endpoint, request_body(target.model, request)))
    return lines


def submit_scoring(
    store: Store,
    run: RunInfo,
    spec: str,
    options: ScorerOptions,
    *,
    shard: Shard | None = None,
    endpoint: str | None = None,
    max_requests: int | None = None,
) -> Submitted:
    """Submit an API judge's requests for the responses it has not judged (`score.plan`) as batches.

    Raises BatchError when the scorer is not a `judge:openai:` judge, or on API errors.
    """
    judge = judge_from_record(spec, judge_options_record(options))
    if not isinstance(judge.backend, OpenAIBackend):
        raise BatchError(f"--batch scores with API judges (judge:openai:MODEL) only; {spec} runs locally")
    target = target_for(judge.backend.model, options.judge_backend, endpoint=endpoint, max_requests=max_requests)
    async def run_all(lease: Lease) -> list[BatchInfo]:
        work = claim(store, lease, run, plan(store, run, judge, shard))
        # an empty answer is never sent to a judge: `flames score` records it unscored without asking
        lines = await _judge_lines(judge, [r for r in work.pending if has_text(r)], target)
        meta = {"scorer_spec": spec, "scorer_options": judge_options_record(options)}
        return await _submit(store, run.id, SCORE, lines, target, work.scorer.id, meta, lease) if lines else []

    with store.lease() as lease:
        batches = aio.run(run_all(lease))
    return Submitted(run, target, sum(b.n_requests for b in batches), batches)
