"""`flames score`: judge a run or a results file (any format `flames runs import` reads), then report.

A file is imported into the store as a run (`--run`, default the file's stem) rather than scored in memory,
so an interrupted scoring resumes and the judgments stay available to `flames report` and `flames compare`.
"""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flames.cli.app import DbOption, app, console, err_console, fail, open_store
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
from flames.models.base import BackendOptions
from flames.scorers.registry import SPEC_HELP, ScorerOptions, make_scorer
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.executors.ray_executor import RayExecutor
    from flames.metrics import BlockedAs
    from flames.progress import RunProgress
    from flames.records import Judgment
    from flames.scorers.base import Scorer
    from flames.shard import Shard
    from flames.store import RunInfo, Store

_SCORER = "Scorer"
_OFFICIAL = "Official scorer (flames[:PATH])"
_JUDGE = "LLM judge (judge:MODEL_SPEC)"

ScorerSpecs = Annotated[
    list[str] | None,
    typer.Option("--scorer", "-s", help=f"{SPEC_HELP}. Repeat to score side by side. Default: flames.",
                 rich_help_panel=_SCORER),
]  # fmt: skip
Faithful = Annotated[
    bool,
    typer.Option(help="Reproduce the official script exactly (512-token right truncation, batches of 16)"
                 " to compare with published numbers.", rich_help_panel=_OFFICIAL),
]  # fmt: skip
MaxLength = Annotated[
    int | None, typer.Option(help="Token window (default 512 faithful, 2048 improved).", rich_help_panel=_OFFICIAL)
]
JudgeSamples = Annotated[
    int,
    typer.Option(min=1, help="Answers per item, majority vote (k>1 samples at temperature 0.7; odd k avoids"
                 " ties). 1 = one greedy answer.", rich_help_panel=_JUDGE),
]  # fmt: skip
JudgeMaxNewTokens = Annotated[
    int,
    typer.Option(min=8, help="Judge answer length cap. An answer cut off before its verdict is asked once more,"
                 " then unscored: thinking judges (Qwen3, DeepSeek-R1) need 1024 or more.", rich_help_panel=_JUDGE),
]  # fmt: skip
JudgeMaxInputTokens = Annotated[
    int | None,
    typer.Option(min=1024, help="Tokens one judge request may take (rubric, prompt, quoted response). A longer"
                 " response is cut in its middle, with a marker, to fit. Default: an 8k-context judge's, 8192 minus"
                 " --judge-max-new-tokens. Counted with the judge's tokenizer for hf/vllm/gguf judges, else as one"
                 " token per character.", rich_help_panel=_JUDGE),
]  # fmt: skip
JudgeConstrained = Annotated[
    bool,
    typer.Option(help='Constrain the judge to answer {"分数": N} via a JSON-schema response_format (gguf: judges'
                 " and servers that accept one, e.g. llama.cpp's). Lets small judges answer at all.",
                 rich_help_panel=_JUDGE),
]  # fmt: skip
JudgeBaseUrl = Annotated[
    list[str] | None,
    typer.Option(metavar="URL|FILE", help="Judge server URL (openai: judges); default $OPENAI_BASE_URL. Repeat it"
                 " (or name a file of URLs) for a pool of servers; --judge-concurrency then applies to each.",
                 rich_help_panel=_JUDGE),
]  # fmt: skip
JudgeApiKeyEnv = Annotated[
    str, typer.Option(help="Env variable with the judge's API key.", rich_help_panel=_JUDGE)
]
JudgeConcurrency = Annotated[int, typer.Option(min=1, help="Judge requests in flight.", rich_help_panel=_JUDGE)]
JudgeMaxRetries = Annotated[
    int, typer.Option(min=0, help="Retries of a failed judge request before it is left for the next run.",
                      rich_help_panel=_JUDGE),
]  # fmt: skip
AllowPickle = Annotated[
    bool,
    typer.Option(help="Allow unpickling .bin weights: a pickle can run any code when loaded. Prefer"
                 " `flames scorer convert` to safetensors once.", rich_help_panel=_SCORER),
]  # fmt: skip
ShowProgress = Annotated[bool, typer.Option(help="Show the progress bar.")]


def scorer_options(
    *,
    faithful: bool,
    allow_pickle: bool,
    device: str,
    dtype: str,
    batch_size: int | None,
    max_length: int | None,
    judge_samples: int,
    judge_max_new_tokens: int,
    judge_max_input_tokens: int | None,
    judge_constrained: bool,
    judge_base_url: list[str] | None,
    judge_api_key_env: str,
    judge_concurrency: int,
    judge_max_retries: int,
) -> ScorerOptions:
    """Command-line values → ScorerOptions ('auto' means each scorer's own default)."""
    from flames.models.pool import read_endpoints

    return ScorerOptions(
        faithful=faithful, allow_pickle=allow_pickle, device=None if device == "auto" else device,
        dtype=None if dtype == "auto" else dtype, batch_size=batch_size, max_length=max_length,
        judge_samples=judge_samples, judge_max_new_tokens=judge_max_new_tokens,
        judge_max_input_tokens=judge_max_input_tokens, judge_constrained=judge_constrained,
        judge_backend=BackendOptions(
            base_urls=read_endpoints(judge_base_url or []), api_key_env=judge_api_key_env,
            concurrency=judge_concurrency,
            max_retries=judge_max_retries,
        ),
    )  # fmt: skip


@dataclass(frozen=True)
class RayScoring:
    """Scoring on a Ray cluster: its actors build each scorer from its spec (parallel to the scorers)."""

    executor: RayExecutor
    specs: list[str]
    options: ScorerOptions


class _Tally:
    """Per judgment: advance the progress bar and count unscored reasons (shown after the run)."""

    def __init__(self, bar: RunProgress | None) -> None:
        self.bar = bar
        self.reasons: Counter[str] = Counter()
        self.retry = 0
        """Unscored because a request failed in transit: asked again on the next run."""
        self.cut = 0
        """Responses a judge read cut to fit its input budget."""

    def __call__(self, judgment: Judgment) -> None:
        if self.bar is not None:
            self.bar.advance(ok=judgment.score is not None)
        self.cut += "response_cut" in judgment.meta
        if judgment.unscored_reason:
            printable = "".join(c if c.isprintable() else " " for c in judgment.unscored_reason[:160])
            self.reasons[printable] += 1  # reasons quote model and server output: no control characters
            self.retry += bool(judgment.meta.get("retry"))


def score_and_report(
    store: Store,
    run: RunInfo,
    scorers: list[Scorer],
    *,
    progress: bool,
    out: Path | None = None,
    shard: Shard | None = None,
    ray: RayScoring | None = None,
    blocked_as: BlockedAs = "exclude",
) -> int:
    """Score `run` with each scorer in turn (resuming; with `shard`, only that shard's responses; with `ray`,
    on a Ray cluster), write `out` (before anything is printed, so a closed pipe cannot lose it), print each
    scorer's report. Returns how many judge requests failed in transit: unscored for now, asked again by
    the next run (the commands exit 1 while there are any).

    Ctrl-C stops with every finished judgment stored (exit 130); rerunning resumes.
    """
    from flames import aio
    from flames.metrics import compute_metrics
    from flames.official_format import official_rows, write_jsonl
    from flames.progress import RunProgress
    from flames.report.source import ReportSource
    from flames.report.tables import print_report
    from flames.score import claim, execute, held_elsewhere, plan

    if store.counts(run).final == 0:
        how = f"collect them with `{flames_command('generate', '--run', run.name, '...')}`"
        raise fail(f"run {run.name!r} has no answers to score yet; {how}")
    failed = 0
    held_out = False
    for i, scorer in enumerate(scorers):
        planned = plan(store, run, scorer, shard)
        label = f"{scorer.name}@{planned.scorer.config_hash[:8]}"
        try:
            with ExitStack() as stack:
                lease = stack.enter_context(store.lease())  # released on every exit, Ctrl-C included
                work = claim(store, lease, run, planned)
                show = progress and bool(work.pending)
                short = f"scoring {scorer.name.rsplit('/', 1)[-1]}"  # a judge's model path can be long
                bar = stack.enter_context(RunProgress(len(work.pending), short, err_console)) if show else None
                tally = _Tally(bar)
                if ray is None:
                    summary = aio.run(execute(store, scorer, work, tally))
                else:
                    summary = ray.executor.score(store, run, ray.specs[i], ray.options, work, tally)
        except KeyboardInterrupt:
            raise fail(f"interrupted; rerun the same command to resume scoring with {label}.", code=130) from None
        if out is not None:
            write_jsonl(official_rows(store, run, work.scorer), out)
        failed += tally.retry
        console.print(
            f"scorer [bold]{label}[/]: {summary.scored} scored, {summary.unscored} unscored now;"
            f" {summary.already} of {summary.total} responses were judged before."
        )
        if holders := held_elsewhere(store, run, work.scorer, shard):
            from flames.store.holds import describe_holders

            held_out = True
            console.print(f"  {sum(h.requests for h in holders)} response(s) are being judged elsewhere, so"
                          f" not by this command: {describe_holders(holders)}.")  # fmt: skip
        for reason, n in tally.reasons.most_common(3):
            console.print(f"  unscored ×{n}: {reason}", highlight=False, markup=False)
        if tally.retry:
            console.print(f"  {tally.retry} judge request(s) failed in transit; rerun the command to ask again.")
        if tally.cut:
            console.print(f"  {tally.cut} response(s) cut in the middle to fit the judge's input budget"
                          " (--judge-max-input-tokens; kept characters in each judgment's meta.response_cut).")
        records = store.scored_records(run, work.scorer)
        metrics = compute_metrics(records, blocked_as=blocked_as)
        print_report(ReportSource(store, run, work.scorer, records), metrics, console)
        if out is not None:
            console.print(f"`predicted` (and `probs` where known) written to {out}")
    if held_out:
        also = f" ({failed} judge request(s) also failed in transit)" if failed else ""
        raise fail(f"not every response is judged yet: another process or an open batch holds some (above){also};"
                   " rerun the same command once it has ended to judge what it leaves", code=1)  # fmt: skip
    return failed


@app.command("score")
def score(
    target: Annotated[
        str, typer.Argument(help="Run name in the store, or a results file (official format, OpenCompass, ...).")
    ],
    scorer: ScorerSpecs = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the run with `predicted` (+ `probs`) as JSONL.")
    ] = None,
    run: Annotated[
        str | None, typer.Option("--run", "-r", help="Run name for an imported file (default: its stem).")
    ] = None,
    faithful: Faithful = False,
    allow_pickle: AllowPickle = False,
    device: Annotated[str, typer.Option(help="auto, cuda, cuda:1, mps, cpu.", rich_help_panel=_SCORER)] = "auto",
    dtype: Annotated[
        str, typer.Option(help="auto, float32, bfloat16, float16.", rich_help_panel=_SCORER)
    ] = "auto",
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Rows per forward pass (local scorers).", rich_help_panel=_SCORER)
    ] = None,
    max_length: MaxLength = None,
    judge_samples: JudgeSamples = 1,
    judge_max_new_tokens: JudgeMaxNewTokens = 128,
    judge_max_input_tokens: JudgeMaxInputTokens = None,
    judge_constrained: JudgeConstrained = False,
    judge_base_url: JudgeBaseUrl = None,
    judge_api_key_env: JudgeApiKeyEnv = "OPENAI_API_KEY",
    judge_concurrency: JudgeConcurrency = 8,
    judge_max_retries: JudgeMaxRetries = 6,
    progress: ShowProgress = True,
    db: DbOption = None,
    shard: ShardOption = None,
    executor: ExecutorOption = "local",
    address: AddressOption = None,
    workers: WorkersOption = None,
    batch: BatchFlag = False,
    batch_endpoint: BatchEndpoint = None,
    batch_max_requests: BatchMaxRequests = None,
) -> None:
    """Score responses and print the report. 评分。

    Judgments are stored per scorer (name + config hash): several scorers can judge one run side by side,
    and a run is re-scored without regenerating. Rerunning resumes; nothing is judged twice. With --batch,
    an API judge's requests go to the provider's batch API (`flames batch collect RUN` imports them).
    Exit code 0 once every answer has a final judgment (a score, or unscored for a stated reason), 1 while
    judge requests that failed in transit remain (rerun to ask them again).
    """
    specs = scorer or ["flames"]
    on_ray = ray_executor(executor, address, workers)
    if out is not None and len(specs) > 1:
        raise fail("--out holds one scorer's `predicted`; give a single --scorer with --out")
    options = scorer_options(
        faithful=faithful, allow_pickle=allow_pickle, device=device, dtype=dtype, batch_size=batch_size,
        max_length=max_length, judge_samples=judge_samples, judge_max_new_tokens=judge_max_new_tokens,
        judge_max_input_tokens=judge_max_input_tokens, judge_constrained=judge_constrained,
        judge_base_url=judge_base_url, judge_api_key_env=judge_api_key_env, judge_concurrency=judge_concurrency,
        judge_max_retries=judge_max_retries,
    )  # fmt: skip
    scorers = [make_scorer(spec, options) for spec in specs]  # a bad spec fails before any work
    store = open_store(db)
    if Path(target).is_file():
        from flames.interop.results import import_file

        stored = import_file(store, target, run_name=run)
        console.print(f"{target} is run [bold]{stored.name}[/] in {store.safe_url}")
    elif run is not None:
        raise fail(f"--run names the run for an imported file, but {target!r} is not a file")
    else:
        stored = store.get_run(target)
    if batch:
        from flames.batch.submit import submit_scoring

        for spec in specs:
            submitted = submit_scoring(
                store, stored, spec, options, shard=shard, endpoint=batch_endpoint, max_requests=batch_max_requests
            )
            print_submitted(submitted, f"judge requests of {spec}")
        return
    ray = RayScoring(on_ray, specs, options) if on_ray else None
    failed = score_and_report(store, stored, scorers, progress=progress, out=out, shard=shard, ray=ray)
    if failed:
        raise fail(f"{failed} judge request(s) failed in transit and are unscored for now; rerun the same command"
                   " to ask again (exit code 1 until every answer has a final judgment).", code=1)  # fmt: skip
