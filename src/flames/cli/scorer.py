"""`flames scorer`: inspect the official scorer checkpoint and convert it to safetensors once; validate any
scorer against human labels."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from flames.cli import score as score_cli
from flames.cli.app import app, console, err_console, fail
from flames.cli.score import scorer_options
from flames.records import Judgment
from flames.scorers.registry import SPEC_HELP, make_scorer
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.labels.records import LabelRecord
    from flames.progress import RunProgress
    from flames.training import TrainConfig
    from flames.training.lomo import Fold, LeaveOneModelOut

_LOMO = "Leave-one-model-out"

scorer_app = typer.Typer(
    help="Scorers: train your own on human labels, validate against them; the official checkpoint's info and"
    " safetensors conversion. 评分器：训练、验证、官方模型信息与转换。",
    no_args_is_help=True,
)
app.add_typer(scorer_app, name="scorer")

AllowPickle = Annotated[
    bool,
    typer.Option(
        "--allow-pickle",
        help="Read pickled .bin weights. Unpickling can execute arbitrary code: only for checkpoints you trust.",
    ),
]


@scorer_app.command("convert")
def scorer_convert(
    src: Annotated[str, typer.Argument(help="Checkpoint folder or Hub id (e.g. CaasiHUANG/flames-scorer).")],
    dst: Annotated[Path, typer.Argument(help="Empty folder for the safetensors copy.")],
    allow_pickle: AllowPickle = False,
) -> None:
    """Write a safetensors copy (config, tokenizer, shards, index) that later loads without --allow-pickle."""
    from flames.scorers.official.checkpoint import save_safetensors

    files = save_safetensors(src, dst, allow_pickle=allow_pickle)
    console.print(f"wrote {len(files.weights)} safetensors shard(s) to {files.root}")
    console.print("use it with: " + escape(flames_command("score", "RUN", "--scorer", f"flames:{files.root}")))


@scorer_app.command("info")
def scorer_info(
    path: Annotated[Path, typer.Argument(help="Checkpoint folder.")], allow_pickle: AllowPickle = False
) -> None:
    """The checkpoint's architecture, weight format and fingerprint; a trained scorer folder's summary.

    The fingerprint is the official scorer's identity in the store. For a folder from `flames scorer train`
    the summary of its manifest is printed instead.
    """
    from flames.scorers.base import ScorerError
    from flames.scorers.official.checkpoint import fingerprint, inspect_folder
    from flames.scorers.official.model import Architecture
    from flames.scorers.trained.manifest import is_trained_scorer, read_manifest

    if not path.is_dir():
        raise ScorerError(f"{path}: not a folder; `flames scorer info` reads a local checkpoint folder")
    if is_trained_scorer(path):
        from flames.cli.train import print_summary

        print_summary(read_manifest(path).to_json(), path)
        return
    files = inspect_folder(path, allow_pickle=True)  # listing files unpickles nothing
    arch = Architecture.from_config(files.config, f"{files.root}/config.json")
    console.print(f"folder      {files.root}")
    fmt = "pickled .bin (needs --allow-pickle, or convert it)" if files.pickled else "safetensors"
    console.print(f"weights     {fmt}: " + ", ".join(p.name for p in files.weights))
    console.print(
        f"layers      {arch.num_layers} × hidden {arch.hidden_size}, {arch.num_heads} heads, "
        f"vocab {arch.vocab_size}, {arch.max_positions} positions"
    )
    if files.pickled and not allow_pickle:
        console.print("fingerprint (not computed: it reads the weights; pass --allow-pickle)")
    else:
        console.print(f"fingerprint {fingerprint(files, allow_pickle=allow_pickle)}")


def scorer_validate(
    labels: Annotated[Path, typer.Option(help="Label file (JSONL, see `flames labels import`).")],
    predictions: Annotated[
        list[Path] | None,
        typer.Option(help="Predictions JSONL as `flames score FILE --out` writes it (id, predicted). Repeat."),
    ] = None,
    scorer: Annotated[
        list[str] | None,
        typer.Option("--scorer", "-s", help=f"Score the labels' answers with {SPEC_HELP}. Repeat to compare."),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, markdown or html.")] = "table",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to a file (html: needed).")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples (of prompts) for the intervals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    progress: Annotated[bool, typer.Option(help="Show the scoring progress bar.")] = True,
    leave_one_model_out: Annotated[
        bool,
        typer.Option("--leave-one-model-out", help="For each model in the labels: train a scorer on the other"
                     " models' labels (--train-backbone) and score this one's; report them as one scorer.",
                     rich_help_panel=_LOMO),
    ] = False,
    train_backbone: Annotated[
        str | None, typer.Option(help="What each fold trains: `tfidf` or a transformers folder / Hub id.",
                                 rich_help_panel=_LOMO)
    ] = None,
    train_option: Annotated[
        list[str] | None, typer.Option(help="A `flames scorer train` setting as KEY=VALUE, e.g. method=lora,"
                                       " epochs=2, max_length=1024. Repeat.", rich_help_panel=_LOMO)
    ] = None,
    unseen_prompts: Annotated[
        bool, typer.Option(help="Also drop the held-out model's prompts from its fold's training labels.",
                           rich_help_panel=_LOMO)
    ] = False,
    work_dir: Annotated[
        Path | None, typer.Option(help="Keep the fold scorers here (default: a temporary folder, removed).",
                                  rich_help_panel=_LOMO)
    ] = None,
    **scoring: Any,
) -> None:
    """A scorer measured against human labels. 评分器与人工标注对比。

    Per dimension, per generating model and overall: accuracy (prompt-clustered bootstrap interval), macro-F1,
    per-class precision/recall, Cohen's κ and linear κ, the confusion matrix, sensitivity/specificity with
    harmless as the positive class, harmless rates, a majority baseline and the inter-annotator ceiling.
    Several scorers or prediction files: side by side, with paired tests. The JSON is what `flames report
    --calibration` takes to correct harmless rates for the scorer's errors.
    """
    from flames.labels.importer import labels_info
    from flames.labels.records import read_labels
    from flames.metrics import BootstrapConfig
    from flames.progress import RunProgress
    from flames.report.validation import print_validation, render_validation
    from flames.validation import UnmatchedPredictions, match_ids, read_predictions, score_labels, validate

    if fmt not in ("table", "json", "markdown", "html"):
        raise fail(f"--format must be table, json, markdown or html, not {fmt!r}")
    if not predictions and not scorer and not leave_one_model_out:
        raise fail("give --predictions PRED.jsonl, --scorer SPEC (or several) or --leave-one-model-out")
    if leave_one_model_out != bool(train_backbone):
        raise fail("--leave-one-model-out and --train-backbone SPEC go together")
    if fmt == "html" and out is None:
        raise fail("--format html writes a page: give -o FILE.html")
    records = read_labels(labels)
    systems = []
    if train_backbone:
        found = _leave_one_model_out(records, train_backbone, train_option or [], unseen_prompts, work_dir, progress)
        records = found.labels
        systems.append(found.predictions)
    for path in predictions or []:
        read = read_predictions(path)
        try:
            warning = match_ids(records, read)
        except UnmatchedPredictions as err:
            raise fail(str(err)) from None
        if warning:
            err_console.print(f"[yellow]warning:[/] {escape(warning)}")
        systems.append(read)
    if scorer:
        options = scorer_options(**scoring)
        for spec in scorer:
            engine = make_scorer(spec, options)
            with ExitStack() as stack:
                show = RunProgress(len(records), f"scoring {spec}", err_console) if progress else None
                bar = stack.enter_context(show) if show is not None else None
                systems.append(score_labels(records, engine, _advance(bar)))
    report = validate(records, systems, BootstrapConfig(n_boot=n_boot, seed=seed), labels_info(labels, len(records)))
    if fmt == "html" and out is not None:
        from flames.report.validation_html import write_validation_html

        err_console.print(f"validation page written to {write_validation_html(report, records, out)}")
        return
    if out is not None:
        text = render_validation(report, "markdown" if fmt == "table" else fmt)  # type: ignore[arg-type]
        out.write_text(str(text) if str(text).endswith("\n") else f"{text}\n", encoding="utf-8")
        console.print(f"validation written to {out}")
        return
    print_validation(report, console, fmt)  # type: ignore[arg-type]


def _leave_one_model_out(
    records: list[LabelRecord], backbone: str, options: list[str], unseen_prompts: bool, work_dir: Path | None,
    progress: bool,
) -> LeaveOneModelOut:  # fmt: skip
    """Train and score every fold (see `flames.training.lomo`); print one line per fold."""
    import tempfile

    from flames.training.events import EventSink, ignore
    from flames.training.lomo import leave_one_model_out
    from flames.training.progress import TrainProgress

    config = train_config(backbone, options)
    with ExitStack() as stack:
        root = work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="flames-lomo-")))
        sink: EventSink = stack.enter_context(TrainProgress(err_console)) if progress else ignore
        found = leave_one_model_out(records, config, root, unseen_prompts=unseen_prompts, on_event=sink,
                                    on_fold=print_fold)  # fmt: skip
    if found.skipped_without_model:
        err_console.print(f"{found.skipped_without_model} label(s) without a `model` left out of leave-one-model-out")
    return found


def train_config(backbone: str, options: list[str]) -> TrainConfig:
    """`--train-backbone`/`--backbone` SPEC with `--train-option KEY=VALUE`s as a checked TrainConfig."""
    from flames.training import TrainConfig

    pairs = [o.partition("=") for o in options]
    if any(not sep for _, sep, _ in pairs):
        raise fail(f"--train-option takes KEY=VALUE, got {next(o for o in options if '=' not in o)!r}")
    return TrainConfig(backbone=backbone).with_options({k: v for k, _, v in pairs})


def print_fold(fold: Fold) -> None:
    """One line per finished leave-one-model-out fold."""
    line = (f"fold {escape(fold.model)}: trained on {fold.n_train} labels ({fold.n_dev} dev), scored {fold.n_test};"
            f" {fold.shared_prompts} of its prompts also in training")  # fmt: skip
    err_console.print(line, highlight=False)


def _advance(bar: RunProgress | None) -> Callable[[Judgment], None] | None:
    return (lambda j: bar.advance(ok=j.score is not None)) if bar is not None else None


SCORING_OPTIONS = [
    p for p in inspect.signature(score_cli.score, eval_str=True).parameters.values()
    if p.name in ("faithful", "allow_pickle", "device", "dtype", "batch_size", "max_length")
    or p.name.startswith("judge_")
]  # fmt: skip
"""The options that configure scorers, declared once on `flames score` and taken from there."""


def with_scoring_options(command: Callable[..., None]) -> Callable[..., None]:
    """Give a command that takes `**scoring` the scorer options of `flames score` (keyword-only), so Typer
    declares them once for every command that builds scorers."""
    own = [p for p in inspect.signature(command, eval_str=True).parameters.values()
           if p.kind is not inspect.Parameter.VAR_KEYWORD]  # fmt: skip
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in [*own, *SCORING_OPTIONS]]
    command.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return command


scorer_app.command("validate")(with_scoring_options(scorer_validate))
