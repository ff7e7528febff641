"""`flames run`: generate, score and report in one command; rerunning it resumes whichever stage was cut.

It takes every option of `flames generate` (their declarations are read from that command's signature, so
the two never drift apart) plus the scorer options of `flames score`. `--device`, `--dtype` and
`--allow-pickle` apply to every checkpoint the command loads: the model's and a local scorer's.
"""

from __future__ import annotations

import inspect
from typing import Annotated, Any

import typer
from rich.markup import escape

from flames.cli import generate as generate_cli
from flames.cli import score as score_cli
from flames.cli.app import BlockedAsOption, app, console, fail, open_store
from flames.cli.scale import ray_executor
from flames.cli.score import Faithful, MaxLength, RayScoring, ScorerSpecs, score_and_report, scorer_options
from flames.suggest import flames_command

RunName = Annotated[
    str | None,
    typer.Option("--run", "-r", help="Run name (default: from the model spec); rerun the same command to resume."),
]
ScorerBatchSize = Annotated[
    int | None, typer.Option(min=1, help="Rows per forward pass of a local scorer.", rich_help_panel="Scorer")
]


def run(
    scorer: ScorerSpecs = None,
    faithful: Faithful = False,
    scorer_batch_size: ScorerBatchSize = None,
    max_length: MaxLength = None,
    blocked_as: BlockedAsOption = "exclude",
    **generation: Any,
) -> None:
    """Generate answers, score them and print the report. 生成、评分、报告一步完成。

    Each stage resumes: stored answers are never requested again and stored judgments never re-judged.
    Prompts the provider blocked or the model left unanswered are final and counted apart (exit code 0);
    transient failures (of the model's or the judge's requests) are reported and the answers that did arrive
    are still scored (exit code 1 until a rerun settles them).
    """
    from flames.generate import default_run_name
    from flames.scorers.registry import make_scorer

    judge = {p.name: generation.pop(p.name) for p in _JUDGE_PARAMS}
    name = generation["run"] = generation["run"] or default_run_name(generation["model"])
    options = scorer_options(
        faithful=faithful, allow_pickle=generation["allow_pickle"], device=generation["device"],
        dtype=generation["dtype"], batch_size=scorer_batch_size, max_length=max_length, **judge,
    )  # fmt: skip
    scorers = [make_scorer(spec, options) for spec in scorer or ["flames"]]  # a bad spec fails before generating
    generation_failed = False
    try:
        generate_cli.generate(**generation)
    except typer.Exit as stop:
        if stop.exit_code != 1:  # interrupted, or a usage error: stop here
            raise
        generation_failed = True
    store = open_store(generation["db"])
    on_ray = ray_executor(generation["executor"], generation["address"], generation["workers"])
    ray = RayScoring(on_ray, scorer or ["flames"], options) if on_ray else None
    judge_failed = score_and_report(
        store, store.get_run(name), scorers, progress=generation["progress"], shard=generation["shard"], ray=ray,
        blocked_as=blocked_as,
    )
    console.print(
        f"run [bold]{escape(name)}[/] is stored in {escape(store.safe_url)}; see it again with"
        f" `{escape(flames_command('report', name))}`, score it with another scorer with"
        f" `{escape(flames_command('score', name, '--scorer', 'SPEC'))}`."
    )
    missing = [
        *(["some prompts have no answer yet"] if generation_failed else []),
        *([f"{judge_failed} judge request(s) failed in transit"] if judge_failed else []),
    ]
    if missing:
        raise fail(f"{' and '.join(missing)}; rerun the same command to retry them (run {name}).", code=1)


_JUDGE_PARAMS = [
    p for p in inspect.signature(score_cli.score, eval_str=True).parameters.values() if p.name.startswith("judge_")
]
"""The LLM-judge options, declared once on `flames score` and taken from there."""


def _signature() -> inspect.Signature:
    """`flames generate`'s options (with `--run` made optional; without `--batch`, which has no place in a
    command that scores at once), then the scoring options, keyword-only."""
    gen = inspect.signature(generate_cli.generate, eval_str=True).parameters.values()
    own = inspect.signature(run, eval_str=True).parameters.values()
    params = [
        p.replace(annotation=RunName, default=None) if p.name == "run" else p
        for p in [*gen, *own, *_JUDGE_PARAMS]
        if p.kind is not inspect.Parameter.VAR_KEYWORD and not p.name.startswith("batch")
    ]
    return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params])


run.__signature__ = _signature()  # type: ignore[attr-defined]
app.command("run")(run)
