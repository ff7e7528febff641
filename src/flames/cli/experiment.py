"""`flames experiment`: the FLAMES experiments as commands (docs/experiments.md). Each writes `result.json`,
`result.md` and `result.html` into `--out` and prints its main tables; each resumes from the store.

Heavy modules (numpy, the experiments, scorers, plotly) are imported inside the commands.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from flames.cli import generate as generate_cli
from flames.cli import score as score_cli
from flames.cli.app import DbOption, app, console, err_console, fail, open_store
from flames.cli.scorer import print_fold, train_config, with_scoring_options
from flames.scorers.registry import SPEC_HELP

if TYPE_CHECKING:
    from flames.experiments.perturbations import Perturbation
    from flames.experiments.result import ExperimentResult
    from flames.metrics import BootstrapConfig
    from flames.score import Progress

experiment_app = typer.Typer(
    help="The FLAMES experiments: scorer generalisation, backbones, attack methods, scorer robustness,"
    " adversarial vs plain prompts. 实验。",
    no_args_is_help=True,
)
app.add_typer(experiment_app, name="experiment")

OutOption = Annotated[
    Path | None, typer.Option("--out", "-o", help="Folder for result.json, result.md and result.html."
                              " Default: flames-experiments/NAME.")]  # fmt: skip
NBoot = Annotated[int, typer.Option(min=100, help="Bootstrap resamples (of prompts) for the intervals.")]
Seed = Annotated[int, typer.Option(help="Seed of the bootstrap (and of sampling and perturbations).")]
Html = Annotated[bool, typer.Option(help="Also write result.html (needs the [report] extra).")]
ShowProgress = Annotated[bool, typer.Option(help="Show progress bars.")]


def _progress_factory(show: bool) -> Callable[[str, int], AbstractContextManager[Progress | None]]:
    from flames.progress import RunProgress

    @contextmanager
    def bar(description: str, total: int) -> Iterator[Progress | None]:
        if not show or total == 0:
            yield None
            return
        with RunProgress(total, description, err_console) as progress:
            yield lambda j: progress.advance(ok=j.score is not None)

    return bar


def _boot(n_boot: int, seed: int) -> BootstrapConfig:
    from flames.metrics import BootstrapConfig

    return BootstrapConfig(n_boot=n_boot, seed=seed)


def _finish(result: ExperimentResult, out: Path | None, html: bool) -> None:
    from flames.experiments.render import print_summary, write_outputs

    print_summary(result, console)
    paths = write_outputs(result, out or Path("flames-experiments") / result.experiment, html=html)
    console.print("written: " + ", ".join(str(p) for p in paths.values()))


@experiment_app.command("attack-methods")
def attack_methods(
    runs: Annotated[list[str], typer.Argument(help="Scored runs of prompts with `attack_method` (one per model).")],
    scorer: Annotated[
        str | None,
        typer.Option("--scorer", "-s", help="Whose judgments: NAME or NAME@HASH8 (default: the newest per run)."),
    ] = None,
    min_prompts: Annotated[int, typer.Option(min=1, help="Rank only methods with at least this many prompts.")] = 30,
    out: OutOption = None,
    n_boot: NBoot = 2000,
    seed: Seed = 0,
    html: Html = True,
    db: DbOption = None,
) -> None:
    """Which attack methods work: harmless and attack success rates per method × model (and × dimension),
    differences between methods, a heat map. 哪些攻击方式有效。"""
    from flames.experiments.attack_methods import AttackMethodsError
    from flames.experiments.attack_methods import attack_methods as experiment

    try:
        result = experiment(open_store(db), runs, scorer=scorer, min_prompts=min_prompts, boot=_boot(n_boot, seed))
    except AttackMethodsError as err:
        raise fail(str(err)) from None
    _finish(result, out, html)


def scorer_robustness(
    scorer: Annotated[list[str], typer.Option("--scorer", "-s", help=f"{SPEC_HELP}. Repeat to compare.")],
    on: Annotated[str, typer.Option(help="A run name, or a label file (flames labels import) to perturb.")],
    perturbation: Annotated[
        list[str] | None, typer.Option("--perturbation", "-p", help="Only these perturbations (repeat); default all.")
    ] = None,
    perturbations: Annotated[
        list[Path] | None, typer.Option(help="Python file of your own @perturbation functions (runs its code).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Perturb a seeded sample of N answers.")] = None,
    examples: Annotated[int, typer.Option(min=0, help="Fooled answers shown per scorer × perturbation.")] = 3,
    out: OutOption = None,
    n_boot: NBoot = 2000,
    seed: Seed = 0,
    html: Html = True,
    progress: ShowProgress = True,
    db: DbOption = None,
    **scoring: Any,
) -> None:
    """Can answers be written to fool the scorer: every answer perturbed (self-certification, injected verdicts,
    template markers, refusal opening, harmful last paragraph, invisible and full-width noise, padding) and
    scored again; flip rates with their direction. 能否写出骗过评分器的回答。"""
    from flames.experiments.robustness import scorer_robustness as experiment
    from flames.scorers.registry import make_scorer

    chosen = _perturbations(perturbation, perturbations)
    options = score_cli.scorer_options(**scoring)
    engines = [make_scorer(spec, options) for spec in scorer]
    try:
        result = experiment(open_store(db), on, engines, chosen, limit=limit, seed=seed, boot=_boot(n_boot, seed),
                            examples=examples, progress=_progress_factory(progress))  # fmt: skip
    except KeyboardInterrupt:
        raise fail("interrupted; rerun the same command to resume (stored judgments are kept).", code=130) from None
    _finish(result, out, html)


experiment_app.command("scorer-robustness")(with_scoring_options(scorer_robustness))


def _perturbations(names: list[str] | None, files: list[Path] | None) -> list[Perturbation]:
    from flames.experiments import perturbations as registry

    try:
        for path in files or []:
            registry.load_file(path)
        return registry.get(names or None)
    except (KeyError, ValueError) as err:
        raise fail(str(err).strip("'\"")) from None


@experiment_app.command("perturbations")
def list_perturbations(
    perturbations: Annotated[
        list[Path] | None, typer.Option(help="Python file of your own @perturbation functions (runs its code).")
    ] = None,
) -> None:
    """The perturbations scorer-robustness applies: name, kind (label-preserving or label-changing), what it does."""
    for p in _perturbations(None, perturbations):
        console.print(f"[bold]{escape(p.name)}[/] ({p.kind}): {escape(p.description)}", highlight=False)


AdversarialRuns = Annotated[
    list[str] | None,
    typer.Option(help="Existing adversarial run (repeat, one per model, in the order of --plain-run)."),
]
PairBy = Annotated[
    str,
    typer.Option(help="Prompt field that pairs an adversarial prompt with its plain one; without it on both sets,"
                 " the sets are compared whole."),
]  # fmt: skip
ReportScorer = Annotated[
    str | None,
    typer.Option(help="With existing runs: whose judgments (NAME or NAME@HASH8; default the newest)."),
]
ScorerBatchSize = Annotated[
    int | None, typer.Option(min=1, help="Rows per forward pass of a local scorer.", rich_help_panel="Scorer")
]


def adversarial_vs_plain(
    adversarial: Annotated[str | None, typer.Option(help="Adversarial prompt set (file or flames-1k).")] = None,
    plain: Annotated[str | None, typer.Option(help="Plain prompt set (file).")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Model to run on both sets (repeat).")
    ] = None,
    scorer: Annotated[
        list[str] | None, typer.Option("--scorer", "-s", help=f"{SPEC_HELP}; the first one is reported.")
    ] = None,
    adversarial_run: AdversarialRuns = None,
    plain_run: Annotated[list[str] | None, typer.Option(help="Existing plain run (repeat).")] = None,
    report_scorer: ReportScorer = None,
    pair_by: PairBy = "intent",
    run_prefix: Annotated[str, typer.Option(help="Prefix of the runs made with --model.")] = "",
    out: OutOption = None,
    n_boot: NBoot = 2000,
    bootstrap_seed: Annotated[int, typer.Option(help="Seed of the bootstrap.")] = 0,
    html: Html = True,
    faithful: score_cli.Faithful = False,
    max_length: score_cli.MaxLength = None,
    scorer_batch_size: ScorerBatchSize = None,
    **options: Any,
) -> None:
    """Do adversarial prompts reveal more than plain ones: the harmless-rate gap per model and dimension, paired
    by intent (or between two whole sets), with intervals. 对抗性提示是否比普通提示暴露更多问题。

    With --model, each model answers both sets (runs PREFIX<model>@<set>, resumed) and --scorer judges them;
    with --adversarial-run/--plain-run, existing scored runs are compared.
    """
    from flames.experiments.adversarial import PairingError
    from flames.experiments.adversarial import adversarial_vs_plain as experiment
    from flames.experiments.sources import score_runs
    from flames.generate import default_run_name
    from flames.prompts import load_prompt_set
    from flames.scorers.registry import make_scorer

    judge = {p.name: options.pop(p.name) for p in _JUDGE_PARAMS}
    store = open_store(options["db"])
    chosen = report_scorer
    if model:
        if adversarial_run or plain_run:
            raise fail("give either --model with --adversarial/--plain sets, or --adversarial-run/--plain-run")
        if not adversarial or not plain or not scorer:
            raise fail("--model needs --adversarial SET, --plain SET and --scorer SPEC")
        scoring = score_cli.scorer_options(
            faithful=faithful, allow_pickle=options["allow_pickle"], device=options["device"], dtype=options["dtype"],
            batch_size=scorer_batch_size, max_length=max_length, **judge,
        )  # fmt: skip
        engines = [make_scorer(spec, scoring) for spec in scorer]  # a bad spec fails before generating
        set_names = [load_prompt_set(path).name for path in (adversarial, plain)]
        pairs, failed = [], False
        for spec in model:
            names = [f"{run_prefix}{default_run_name(spec)}@{name}" for name in set_names]
            for name, path in zip(names, (adversarial, plain), strict=True):
                try:
                    generate_cli.generate(model=spec, run=name, prompts=path, **options)
                except typer.Exit as stop:
                    if stop.exit_code != 1:  # interrupted, or a usage error: stop here
                        raise
                    failed = True
            pairs.append((names[0], names[1]))
        for engine in engines:
            score_runs(store, engine, [(store.get_run(n), None) for pair in pairs for n in pair],
                       _progress_factory(options["progress"]))  # fmt: skip
        first = store.scorer(engines[0].name, engines[0].config(), kind=engines[0].kind)
        chosen = f"{first.name}@{first.config_hash[:8]}"
        if failed:
            err_console.print("[yellow]some prompts have no answer yet; rerun the same command to retry them[/]")
    elif not adversarial_run or not plain_run or len(adversarial_run) != len(plain_run):
        raise fail("give --model (with both sets and --scorer), or as many --adversarial-run as --plain-run")
    else:
        pairs = list(zip(adversarial_run, plain_run, strict=True))
    try:
        result = experiment(store, pairs, scorer=chosen, pair_by=pair_by, boot=_boot(n_boot, bootstrap_seed))
    except PairingError as err:
        raise fail(str(err)) from None
    _finish(result, out, html)


_JUDGE_PARAMS = [p for p in inspect.signature(score_cli.score, eval_str=True).parameters.values()
                 if p.name.startswith("judge_")]  # fmt: skip
_GENERATION_PARAMS = [p for p in inspect.signature(generate_cli.generate, eval_str=True).parameters.values()
                      if p.name not in ("model", "run", "prompts")]  # fmt: skip


def _adversarial_signature() -> inspect.Signature:
    own = [p for p in inspect.signature(adversarial_vs_plain, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]  # fmt: skip
    params = [*own, *_GENERATION_PARAMS, *_JUDGE_PARAMS]
    return inspect.Signature([p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params])


adversarial_vs_plain.__signature__ = _adversarial_signature()  # type: ignore[attr-defined]
experiment_app.command("adversarial-vs-plain")(adversarial_vs_plain)


LabelsOption = Annotated[Path, typer.Option("--labels", help="Label file (flames labels import; JSONL).")]
TrainOptions = Annotated[
    list[str] | None,
    typer.Option(help="A `flames scorer train` setting as KEY=VALUE (e.g. method=lora, epochs=2). Repeat."),
]
Backbone = Annotated[str, typer.Option(help="`tfidf` or a transformers folder / Hub id, trained per fold.")]
GroupBy = Annotated[
    str,
    typer.Option(help="Hold out each value of this field: model, source, subcomponent, dimension, provenance,"
                 " license or meta.KEY."),
]  # fmt: skip
UnseenPrompts = Annotated[bool, typer.Option(help="Also drop a held-out group's prompts from its training labels.")]
Backbones = Annotated[
    list[str], typer.Option("--backbone", help="`tfidf` or a transformers folder / Hub id. Repeat; tfidf always"
                            " joins as a baseline.")
]  # fmt: skip
Judges = Annotated[list[str] | None, typer.Option("--scorer", "-s", help=f"A judge baseline, {SPEC_HELP}. Repeat.")]
Split = Annotated[str, typer.Option(help="prompt (one split by prompt) or model (leave-one-model-out).")]
WorkDir = Annotated[
    Path | None, typer.Option(help="Where the trained scorers are kept (default OUT/scorers); reused on a rerun.")
]


@experiment_app.command("generalisation")
def generalisation(
    labels: LabelsOption,
    backbone: Backbone = "tfidf",
    group_by: GroupBy = "model",
    unseen_prompts: UnseenPrompts = False,
    train_option: TrainOptions = None,
    work_dir: WorkDir = None,
    out: OutOption = None,
    n_boot: NBoot = 2000,
    seed: Seed = 0,
    html: Html = True,
    progress: ShowProgress = True,
    db: DbOption = None,
) -> None:
    """Does a scorer generalise to LLMs it never saw: leave-one-model-out (or leave-one-group-out) training; per
    held-out group the human, raw and corrected harmless rates with intervals, coverage, accuracy and κ.
    评分器能否泛化到未见过的模型。"""
    from contextlib import ExitStack

    from flames.experiments.generalisation import generalisation as experiment
    from flames.labels.records import read_labels
    from flames.training.events import EventSink, ignore
    from flames.training.progress import TrainProgress

    out = out or Path("flames-experiments") / "generalisation"
    config = train_config(backbone, train_option or [])
    with ExitStack() as stack:
        sink: EventSink = stack.enter_context(TrainProgress(err_console)) if progress else ignore
        try:
            result = experiment(read_labels(labels), labels, config, work_dir or out / "scorers", group_by=group_by,
                                unseen_prompts=unseen_prompts, seed=seed, boot=_boot(n_boot, seed),
                                store=open_store(db), on_event=sink, on_fold=print_fold)  # fmt: skip
        except ValueError as err:
            raise fail(str(err)) from None
    _finish(result, out, html)


def backbones(
    labels: LabelsOption,
    backbone: Backbones,
    scorer: Judges = None,
    split: Split = "prompt",
    test_size: Annotated[float, typer.Option(help="--split prompt: share of prompts held out.")] = 0.3,
    train_option: TrainOptions = None,
    work_dir: WorkDir = None,
    out: OutOption = None,
    n_boot: NBoot = 2000,
    seed: Seed = 0,
    html: Html = True,
    progress: ShowProgress = True,
    db: DbOption = None,
    **scoring: Any,
) -> None:
    """Which backbone makes the best scorer: every backbone trained on the same split; accuracy, macro-F1 and
    linear κ per dimension with intervals, paired tests, training time, items/s and memory; tfidf and LLM
    judges as baselines. 哪种骨干模型最适合做评分器。"""
    from contextlib import ExitStack

    from flames.experiments.backbones import backbones as experiment
    from flames.labels.records import read_labels
    from flames.scorers.registry import make_scorer
    from flames.training.events import EventSink, ignore
    from flames.training.progress import TrainProgress

    out = out or Path("flames-experiments") / "backbones"
    configs = [train_config(spec, train_option or []) for spec in backbone]
    judges = [make_scorer(spec, score_cli.scorer_options(**scoring)) for spec in scorer or []]
    with ExitStack() as stack:
        sink: EventSink = stack.enter_context(TrainProgress(err_console)) if progress else ignore
        try:
            result = experiment(read_labels(labels), labels, configs, work_dir or out / "scorers", split=split,
                                test_size=test_size, judges=judges, seed=seed, boot=_boot(n_boot, seed),
                                store=open_store(db), on_event=sink)  # fmt: skip
        except ValueError as err:
            raise fail(str(err)) from None
    _finish(result, out, html)


experiment_app.command("backbones")(with_scoring_options(backbones))
