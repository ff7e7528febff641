"""`flames scorer train`: human labels → a scorer folder that `--scorer flames:DIR` loads."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from flames.cli.app import console, err_console, fail
from flames.cli.scorer import scorer_app
from flames.suggest import flames_command

_MODEL = "Transformer backbones"
_TFIDF = "tfidf preset"


@scorer_app.command("train")
def scorer_train(
    labels: Annotated[Path, typer.Option("--labels", help="Training labels (flames-eval/labels/v1 JSONL).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New folder for the trained scorer.")],
    backbone: Annotated[
        str,
        typer.Option(
            help="`tfidf` (CPU preset: character n-grams + logistic heads), or a transformers "
            "folder / Hub id (encoder or decoder)."
        ),
    ] = "tfidf",
    dev: Annotated[
        Path | None,
        typer.Option("--dev", help="Dev labels: early stopping on their macro-F1, metrics in the manifest."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Scorer name in the store (default: the folder name).")] = None,
    method: Annotated[
        str, typer.Option(help="full (fine-tune every weight) or lora.", rich_help_panel=_MODEL)
    ] = "full",
    pooling: Annotated[
        str | None,
        typer.Option(
            help="cls, mean or last (default: cls for encoders, last real token for decoders).", rich_help_panel=_MODEL
        ),
    ] = None,
    template: Annotated[
        str, typer.Option(help="official (the FLAMES scorer's input) or plain.", rich_help_panel=_MODEL)
    ] = "official",
    max_length: Annotated[
        int, typer.Option(help="Token window; long answers are cut inside the response.", rich_help_panel=_MODEL)
    ] = 512,
    epochs: Annotated[int, typer.Option(min=1, rich_help_panel=_MODEL)] = 3,
    batch_size: Annotated[int, typer.Option(min=1, help="Labels per forward pass.", rich_help_panel=_MODEL)] = 8,
    grad_accum: Annotated[
        int, typer.Option(min=1, help="Forward passes per optimizer step.", rich_help_panel=_MODEL)
    ] = 1,
    lr: Annotated[
        float | None, typer.Option(help="Peak learning rate (default 2e-5 full, 2e-4 LoRA).", rich_help_panel=_MODEL)
    ] = None,
    schedule: Annotated[
        str, typer.Option(help="linear, cosine or constant (after warmup).", rich_help_panel=_MODEL)
    ] = "linear",
    warmup_ratio: Annotated[
        float, typer.Option(help="Share of steps spent warming up.", rich_help_panel=_MODEL)
    ] = 0.06,
    weight_decay: Annotated[float, typer.Option(rich_help_panel=_MODEL)] = 0.01,
    class_weights: Annotated[str, typer.Option(help="balanced (n / (k·n_class) per head) or none.")] = "balanced",
    patience: Annotated[
        int,
        typer.Option(
            min=0,
            help="Dev evaluations without improvement before stopping (0: never stop early).",
            rich_help_panel=_MODEL,
        ),
    ] = 2,
    eval_every: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Evaluate (and checkpoint) every N optimizer steps (default: each epoch).",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="Stop after N optimizer steps.", rich_help_panel=_MODEL)
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed for head/LoRA initialisation, data order and dropout.")] = 0,
    lora_r: Annotated[int, typer.Option(min=1, rich_help_panel=_MODEL)] = 16,
    lora_alpha: Annotated[int, typer.Option(min=1, rich_help_panel=_MODEL)] = 32,
    lora_dropout: Annotated[float, typer.Option(rich_help_panel=_MODEL)] = 0.05,
    device: Annotated[str, typer.Option(help="auto, cuda, cuda:1, mps, cpu.", rich_help_panel=_MODEL)] = "auto",
    bf16: Annotated[
        bool | None,
        typer.Option(
            "--bf16/--no-bf16", help="bfloat16 autocast (default: on GPUs that support it).", rich_help_panel=_MODEL
        ),
    ] = None,
    gradient_checkpointing: Annotated[
        bool | None,
        typer.Option(
            "--gradient-checkpointing/--no-gradient-checkpointing",
            help="Recompute activations to save memory (default: on GPU).",
            rich_help_panel=_MODEL,
        ),
    ] = None,
    resume: Annotated[
        bool,
        typer.Option(help="Continue an interrupted run in --out from its last checkpoint.", rich_help_panel=_MODEL),
    ] = False,
    allow_pickle: Annotated[
        bool,
        typer.Option(
            help="Allow a backbone with only pickled .bin weights (unpickling can run arbitrary code).",
            rich_help_panel=_MODEL,
        ),
    ] = False,
    ngram_max: Annotated[int, typer.Option(min=1, help="Longest character n-gram.", rich_help_panel=_TFIDF)] = 3,
    max_features: Annotated[
        int, typer.Option(min=1, help="N-grams kept per field (prompt, response).", rich_help_panel=_TFIDF)
    ] = 100_000,
    min_df: Annotated[
        int,
        typer.Option(min=1, help="Keep n-grams found in at least this many training texts.", rich_help_panel=_TFIDF),
    ] = 2,
    c: Annotated[
        float, typer.Option("--C", help="Inverse L2 strength of the logistic heads.", rich_help_panel=_TFIDF)
    ] = 4.0,
    progress: Annotated[bool, typer.Option(help="Show the progress bar.")] = True,
) -> None:
    """Train a scorer on human labels: five heads (official order and sizes) on a shared backbone. 训练评分模型。

    Each label trains only its dimension's head. The folder written holds safetensors weights (or the
    tfidf vocabulary and coefficients as JSON/npz), the tokenizer and `flames_scorer.json`; score with
    `flames score RUN --scorer flames:OUT`. Ctrl-C keeps the last checkpoint: rerun with --resume.
    """
    import json
    from contextlib import ExitStack

    from flames.labels.records import read_labels
    from flames.training import TrainConfig, train_scorer
    from flames.training.events import EventSink, ignore
    from flames.training.progress import TrainProgress

    config = TrainConfig(
        backbone=backbone, name=name, method=method, pooling=pooling, template=template, max_length=max_length,
        epochs=epochs, batch_size=batch_size, grad_accum=grad_accum, learning_rate=lr, weight_decay=weight_decay,
        warmup_ratio=warmup_ratio, schedule=schedule, class_weights=class_weights, patience=patience,
        eval_every=eval_every, max_steps=max_steps, seed=seed, lora_r=lora_r, lora_alpha=lora_alpha,
        lora_dropout=lora_dropout, device=device, bf16=bf16, gradient_checkpointing=gradient_checkpointing,
        allow_pickle=allow_pickle, tfidf_ngram_max=ngram_max, tfidf_max_features=max_features,
        tfidf_min_df=min_df, tfidf_c=c,
    ).check()  # fmt: skip
    train = read_labels(labels)
    dev_records = read_labels(dev) if dev else []
    for option, path, records in (("--labels", labels, train), ("--dev", dev, dev_records)):
        if path is not None and not records:
            raise fail(f"{option} {path}: the file holds no labels; give a flames-eval/labels/v1 file (`flames labels"
                       " import` writes one, `flames labels split` its train and dev parts)")  # fmt: skip
    sources = {"train": str(labels), **({"dev": str(dev)} if dev else {})}
    split_file = labels.parent / "split.json"  # written by `flames labels split` beside train.jsonl
    split = json.loads(split_file.read_text(encoding="utf-8")) if split_file.is_file() else None
    try:
        with ExitStack() as stack:
            sink: EventSink = stack.enter_context(TrainProgress(err_console)) if progress else ignore
            result = train_scorer(
                train, dev_records, config, out, resume=resume, on_event=sink, sources=sources, split=split
            )
    except KeyboardInterrupt:
        hint = "" if config.is_tfidf else " with --resume to continue from the last checkpoint"
        raise fail(f"interrupted; rerun the same command{hint}.", code=130) from None
    print_summary(result.manifest.to_json(), out)


def print_summary(manifest: dict[str, Any], out: Path) -> None:
    """Heads trained, dev metrics and how to use the scorer."""
    trained = [h["dimension"] for h in manifest["heads"] if h["trained"]]
    seconds = manifest["training"].get("seconds")
    kind = ", ".join(dict.fromkeys(v for v in (manifest["kind"], manifest["method"]) if v and v != manifest["name"]))
    console.print(f"trained [bold]{escape(manifest['name'])}[/]" + (f" ({escape(kind)})" if kind else "")
                  + f" in {seconds} s; heads trained: {', '.join(trained)}", highlight=False)  # fmt: skip
    dev = manifest.get("dev_metrics")
    if dev:
        for dim, row in [*dev["dimensions"].items(), ("overall", dev["overall"])]:
            if row["n"]:
                unscored = f"  unscored {row['n_unscored']}" if row["n_unscored"] else ""
                console.print(f"  dev {dim:<16} n={row['n']:<5} accuracy {row['accuracy']:.3f}  macro-F1 "
                              f"{row['macro_f1']:.3f}{unscored}", highlight=False)  # fmt: skip
    built = (manifest["training"]["data"].get("dev") or {}).get("provenance", {}).get("construction", 0)
    if dev and built:
        console.print(f"  note: {built} dev label(s) come from construction (how the data was built, e.g. JADE-DB's "
                      "refusal-style safe answers), not from people judging each answer: dev figures measure "
                      "agreement with that construction", highlight=False)  # fmt: skip
    split = manifest["training"]["split"]
    if dev and split["shared_prompts"]:
        console.print(f"  note: {split['shared_prompts']} prompt(s) appear in both train and dev labels; dev figures "
                      "are optimistic for new prompts (split with `--by prompt`)", highlight=False)  # fmt: skip
    console.print("use it: " + escape(flames_command("score", "RUN", "--scorer", f"flames:{out}")), highlight=False)
