"""`flames generate`: collect a model's answers to a prompt set into the store (resumable)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape

from flames.cli.app import DbOption, PromptsOption, app, console, err_console, fail, open_store
from flames.cli.scale import (
    AddressOption,
    BatchEndpoint,
    BatchFlag,
    BatchMaxRequests,
    ExecutorOption,
    ShardOption,
    WorkersOption,
    print_submitted,
    ray_executor,
)
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.records import OutcomeKind
    from flames.store import RunCounts, RunInfo, Store
    from flames.store.holds import Holder

_API = "API backends (openai:)"
_LOCAL = "Local backends (hf:, vllm:, gguf:)"
_GEN = "Generation (part of the run's identity)"
_OUTCOMES = "Blocked and unanswered prompts"
Thinking = Literal["auto", "on", "off"]
THINKING: dict[str, bool | None] = {"auto": None, "on": True, "off": False}


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise typer.BadParameter(f"{value!r} is not 'Name: value'", param_hint="--header")
        headers[name.strip()] = content.strip()
    return headers


def _parse_body(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        body = json.loads(value)
    except json.JSONDecodeError as err:
        raise typer.BadParameter(f"not valid JSON ({err.msg} at column {err.colno})", param_hint="--body") from err
    if not isinstance(body, dict):
        raise typer.BadParameter("must be a JSON object, e.g. '{\"top_k\": 20}'", param_hint="--body")
    return body


@app.command()
def generate(
    model: Annotated[
        str, typer.Option("--model", "-m", help="openai:MODEL, hf:PATH_OR_ID, vllm:PATH_OR_ID or gguf:PATH.")
    ],
    run: Annotated[str, typer.Option("--run", "-r", help="Run name; rerun the same command to resume.")],
    prompts: PromptsOption = None,
    db: DbOption = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N prompts.")] = None,
    samples: Annotated[int, typer.Option(min=1, help="Answers per prompt.", rich_help_panel=_GEN)] = 1,
    system_prompt: Annotated[str | None, typer.Option(help="System prompt.", rich_help_panel=_GEN)] = None,
    max_new_tokens: Annotated[int, typer.Option(min=1, rich_help_panel=_GEN)] = 1024,
    temperature: Annotated[float, typer.Option(min=0.0, help="0 = greedy.", rich_help_panel=_GEN)] = 0.0,
    top_p: Annotated[float | None, typer.Option(min=0.0, max=1.0, rich_help_panel=_GEN)] = None,
    seed: Annotated[
        int | None, typer.Option(help="Sampling seed (sample k uses seed+k).", rich_help_panel=_GEN)
    ] = None,
    body: Annotated[
        str | None,
        typer.Option(help="Extra request parameters as JSON, e.g. '{\"top_k\": 20}'.", rich_help_panel=_GEN),
    ] = None,
    thinking: Annotated[
        Thinking,
        typer.Option(
            help="Local models: auto (the chat template's default), on or off (passes enable_thinking to"
            " templates that support it, e.g. Qwen3). API servers: see --body.",
            rich_help_panel=_GEN,
        ),
    ] = "auto",
    keep_thinking: Annotated[
        bool,
        typer.Option(
            help="Keep a reasoning model's trace inline in the stored answer (then it is judged with it)."
            " Default: the trace is stored apart and never scored.",
            rich_help_panel=_GEN,
        ),
    ] = False,
    retry_blocked: Annotated[
        bool,
        typer.Option(help="Ask again the prompts the provider blocked (default: blocked is final).",
                     rich_help_panel=_OUTCOMES),
    ] = False,
    retry_no_answer: Annotated[
        bool,
        typer.Option(help="Ask again the prompts that got no final answer (e.g. when sampling at temperature > 0).",
                     rich_help_panel=_OUTCOMES),
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, help="Most requests in flight.", rich_help_panel=_API)] = 8,
    base_url: Annotated[
        list[str] | None,
        typer.Option(envvar="OPENAI_BASE_URL", metavar="URL|FILE",
                     help="Server URL, e.g. http://localhost:8000/v1. Repeat it (or name a file of URLs, one per"
                     " line) to spread requests over several servers of the model; --concurrency then applies to"
                     " each.", rich_help_panel=_API),
    ] = None,
    api_key_env: Annotated[
        str, typer.Option(help="Env variable with the API key.", rich_help_panel=_API)
    ] = "OPENAI_API_KEY",
    header: Annotated[
        list[str] | None, typer.Option(help="Extra header 'Name: value' (repeatable).", rich_help_panel=_API)
    ] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per request.", rich_help_panel=_API)] = 120.0,
    max_retries: Annotated[int, typer.Option(min=0, help="Retries per request.", rich_help_panel=_API)] = 6,
    dtype: Annotated[str, typer.Option(help="auto, float32, bfloat16, float16.", rich_help_panel=_LOCAL)] = "auto",
    device: Annotated[str, typer.Option(help="auto, cuda, cuda:1, mps, cpu.", rich_help_panel=_LOCAL)] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, rich_help_panel=_LOCAL)] = 8,
    tensor_parallel: Annotated[int, typer.Option(min=1, help="GPUs for vLLM.", rich_help_panel=_LOCAL)] = 1,
    chat_template: Annotated[
        str | None,
        typer.Option(help="Jinja chat template file for models without one.", rich_help_panel=_LOCAL),
    ] = None,
    trust_remote_code: Annotated[
        bool, typer.Option(help="Run the checkpoint's own Python code (unsafe).", rich_help_panel=_LOCAL)
    ] = False,
    allow_pickle: Annotated[
        bool,
        typer.Option(help="Load pickled .bin weights (unsafe) when no safetensors exist.", rich_help_panel=_LOCAL),
    ] = False,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
    shard: ShardOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = None,
    batch: BatchFlag = False,
    batch_endpoint: BatchEndpoint = None,
    batch_max_requests: BatchMaxRequests = None,
) -> None:
    """Collect answers into the store. 收集模型回答。

    Every outcome is committed as it arrives: an answer, a prompt the provider blocked, or one without a
    final answer (all three final), or a transient failure. Rerunning the same command resumes: failures
    are retried, final outcomes are never requested again (unless --retry-blocked / --retry-no-answer).
    Exit code 0 once every prompt has a final outcome, 1 while failures remain or another process (or an
    open batch) holds some prompts: it is named, and nothing it holds is asked twice. Ctrl-C lets the requests
    in flight finish and stores them; a second Ctrl-C abandons them. With --shard I/N, N such commands (a
    job array) share one store.
    """
    from flames.generate import generate as run_generation
    from flames.models.base import BackendOptions, GenerationConfig
    from flames.models.pool import read_endpoints
    from flames.prompts import load_prompt_set

    if THINKING[thinking] is not None and model.startswith("openai:"):
        raise fail(
            "--thinking applies to local models (hf:, gguf:, vllm:), whose chat template this tool renders."
            " For an API server, pass the provider's own switch with --body, e.g."
            ' \'{"chat_template_kwargs": {"enable_thinking": false}}\' (vLLM, SGLang) or'
            ' \'{"enable_thinking": false}\' (DashScope).'
        )
    config = GenerationConfig(
        max_new_tokens, temperature, top_p, seed, system_prompt, _parse_body(body),
        enable_thinking=THINKING[thinking], keep_thinking=keep_thinking,
    )  # fmt: skip
    retry: tuple[OutcomeKind, ...] = (
        *(("blocked",) if retry_blocked else ()), *(("no_answer",) if retry_no_answer else ())
    )
    options = BackendOptions(
        concurrency=concurrency, base_urls=read_endpoints(base_url or []), api_key_env=api_key_env,
        headers=_parse_headers(header or []), timeout_s=timeout, max_retries=max_retries, dtype=dtype,
        device=device, batch_size=batch_size,
        tensor_parallel=tensor_parallel, chat_template=chat_template, trust_remote_code=trust_remote_code,
        allow_pickle=allow_pickle,
    )  # fmt: skip
    if samples > 1 and temperature == 0:
        err_console.print("[yellow]note:[/] with --temperature 0 (greedy) the samples of a prompt will be identical.")
    on_ray = ray_executor(executor, address, workers)
    store = open_store(db)
    if batch:
        from flames.batch.submit import submit_generation

        submitted = submit_generation(
            store, run_name=run, model_spec=model, prompt_set=load_prompt_set(prompts), config=config,
            options=options, samples=samples, limit=limit, shard=shard, endpoint=batch_endpoint,
            max_requests=batch_max_requests,
        )  # fmt: skip
        print_submitted(submitted, "requests")
        return
    result = run_generation(
        store, run_name=run, model_spec=model, prompt_set=load_prompt_set(prompts, db), config=config,
        options=options, samples=samples, limit=limit, console=err_console, progress=progress, shard=shard,
        executor=on_ray, retry=retry,
    )  # fmt: skip
    s, c = result.stats, result.counts
    part = f"shard {shard} of run [bold]{run}[/]" if shard else f"run [bold]{run}[/]"
    elsewhere = held_elsewhere(run, result.held)
    if not result.requested and elsewhere:
        plain = f"shard {shard} of run {run}" if shard else f"run {run}"
        raise fail(f"{plain}: nothing sent by this command; the store holds {c.final}/{c.expected} final outcomes"
                   f" ({held(c)}). {elsewhere}", code=1)  # fmt: skip
    if not result.requested:
        console.print(f"{part}: nothing to do; the store holds {c.final}/{c.expected} final outcomes ({held(c)}).")
        return
    console.print(
        f"{part}: recorded now {s.ok} answered, {s.blocked} blocked, {s.no_answer} no answer, {s.failed} failed;"
        f" the store holds {c.final}/{c.expected} final outcomes ({held(c)}; {result.run.status}) in {store.safe_url}."
    )
    if c.blocked or c.no_answer:
        err_console.print(
            f"[yellow]note:[/] {c.blocked} blocked and {c.no_answer} without an answer are final and counted apart"
            f" in every report (all of them: `{escape(flames_command('runs', 'show', run))}`); --retry-blocked /"
            " --retry-no-answer ask them again. Why:"
        )
        for why, n in unanswered_reasons(store, result.run):
            err_console.print(f"  ×{n} {why}", markup=False, highlight=False)
    if s.interrupted:
        raise fail(f"interrupted; rerun the same command to resume ({c.expected - c.final} left).", code=130)
    failed = [f for f in store.failures(result.run) if shard is None or shard.contains(f[0].id)]
    if failed:
        raise fail(
            f"{len(failed)} items failed (see `{flames_command('runs', 'show', run)}`); rerun the same command to"
            " retry them." + (f" {elsewhere}" if elsewhere else ""),
            code=1,
        )
    if elsewhere:
        raise fail(elsewhere, code=1)


def held_elsewhere(run: str, holders: list[Holder]) -> str:
    """What holds the slots still without a final outcome, and what to do; "" when nothing does."""
    from flames.store.holds import describe_holders

    if not holders:
        return ""
    n = sum(h.requests for h in holders)
    how = []
    if any(h.batch for h in holders):
        status, collect, cancel = (flames_command("batch", verb, run) for verb in ("status", "collect", "cancel"))
        how.append(f"`{status}` follows the batches, `{collect}` imports a finished one, `{cancel}` stops them")
    if any(not h.batch for h in holders):
        how.append("Rerun this command once the other process has ended")
    return f"{n} slot(s) without a final outcome are held elsewhere: {describe_holders(holders)}. {'; '.join(how)}."


def unanswered_reasons(store: Store, run: RunInfo, top: int = 3) -> list[tuple[str, int]]:
    """The `top` commonest reasons (outcome: detail, with its hint, e.g. a larger --max-new-tokens) why the
    run's prompts have no answer, with their counts; one line each, without control characters (a
    provider's message is text from outside)."""
    from collections import Counter

    reasons = Counter(
        "".join(ch if ch.isprintable() else " " for ch in f"{r.outcome}: {r.detail or 'no reason given'}")[:300]
        for r in store.responses(run, withheld=True)
        if r.outcome != "answered"
    )
    return reasons.most_common(top)


def held(c: RunCounts) -> str:
    """'9 answered, 3 blocked, 0 no answer' for a run's counts."""
    return f"{c.ok} answered, {c.blocked} blocked, {c.no_answer} no answer"
