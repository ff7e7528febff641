"""`flames labels`: import human label sets into the normalised format, and split them for training."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from flames.cli.app import DbOption, app, console, err_console, fail

labels_app = typer.Typer(
    help="Human label sets: import public sets or your own, split them. 人工标注数据集：导入、划分。",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")


def _pairs(values: list[str] | None, option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, value = v.partition("=")
        if not sep or not key.strip():
            raise fail(f"{option} takes KEY=VALUE, got {v!r}")
        out[key.strip()] = value.strip()
    return out


@labels_app.command("import")
def import_(
    source: Annotated[str, typer.Argument(help="jsonl, csv, xlsx, annotation:PROJECT, jade-v3, xstest-v2, libra-test,"
                                          " shieldlm, do-not-answer, beavertails, wildguardtest.")],
    path: Annotated[Path | None, typer.Argument(help="The file to read (not for annotation:PROJECT).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="The label file to write (JSONL).")] = Path("labels.jsonl"),
    model: Annotated[str | None, typer.Option(help="The LLM that wrote the answers (or the one model to keep"
                                              " from a wide set such as do-not-answer).")] = None,
    dimension: Annotated[str | None, typer.Option(help="FLAMES dimension of every label (default: the"
                                                  " source's own, see docs/labels.md).")] = None,
    column: Annotated[list[str] | None, typer.Option(help="jsonl/csv/xlsx: FIELD=COLUMN, e.g. prompt=question;"
                                                     " annotator_labels=C1,C2. Repeat.")] = None,
    label_map: Annotated[list[str] | None, typer.Option(help="jsonl/csv/xlsx: NATIVE=SCORE, e.g. safe=3. Repeat."
                                                        " Default: the label is a score.")] = None,
    encoding: Annotated[str | None, typer.Option(help="CSV encoding (default UTF-8; jade-v3: GB18030).")] = None,
    sheet: Annotated[str | None, typer.Option(help="xlsx worksheet (default: the first).")] = None,
    source_name: Annotated[str | None, typer.Option(help="jsonl/csv/xlsx: the `source` of every record.")] = None,
    license: Annotated[str | None, typer.Option(help="Licence of your own labels.")] = None,
    provenance: Annotated[str | None, typer.Option(help="jsonl/csv/xlsx: human, adjudicated, construction or"
                                                   " model:NAME (default human).")] = None,
    db: DbOption = None,
) -> None:
    """Import labels into the normalised JSONL format; print what each mapping rule kept, collapsed or dropped.

    Also writes LABELS.manifest.json: source, licence, mapping rules and counts, and whether the set can
    validate FLAMES's 3-vs-2 boundary (binary safe/unsafe sets cannot).
    """
    from flames.labels.importer import import_labels, write_import
    from flames.labels.readers.base import ReaderOptions
    from flames.taxonomy import parse_dimension

    try:
        label_scores = {k: int(v) for k, v in _pairs(label_map, "--label-map").items()}
        options = ReaderOptions(
            model=model, dimension=parse_dimension(dimension) if dimension else None,
            columns=_pairs(column, "--column"), label_map=label_scores, encoding=encoding, sheet=sheet,
            source=source_name, license=license, provenance=provenance, db=db,
        )  # fmt: skip
        result = import_labels(source, path, options)
    except ValueError as err:  # LabelFileError is a ValueError too: both are the user's to fix
        raise fail(str(err)) from None
    manifest = write_import(result, out, options)
    console.print(f"{len(result.records)} labels from {escape(source)} written to {escape(str(out))}"
                  f" (manifest {escape(str(manifest))})")  # fmt: skip
    for line in result.tally.lines():
        console.print(escape(line), highlight=False)
    if result.reader.notes:
        console.print(f"[yellow]note:[/] {escape(result.reader.notes)}")
    if not result.validates_3_vs_2:
        console.print("[yellow]these labels never use the score 2: they cannot validate the 3-vs-2 boundary.[/]")


@labels_app.command("split")
def split(
    labels: Annotated[Path, typer.Argument(help="A label file (JSONL).")],
    by: Annotated[str, typer.Option(help="model, prompt, model+prompt or random.")] = "prompt",
    holdout_models: Annotated[str | None, typer.Option(help="Comma-separated models for the test side"
                                                       " (--by model or model+prompt).")] = None,
    folds: Annotated[int | None, typer.Option(help="K folds instead of one split (fold-1/ … fold-K/).")] = None,
    test_size: Annotated[float, typer.Option(help="Share of groups in test (without folds or holdout).")] = 0.2,
    dev_size: Annotated[float, typer.Option(help="Share of training groups moved to dev.jsonl (0: none).")] = 0.0,
    seed: Annotated[int, typer.Option(help="Shuffle seed.")] = 0,
    out_dir: Annotated[Path | None, typer.Option("--out-dir", "-o", help="Folder for the split files"
                                                 " (default: LABELS-split-BY beside the labels).")] = None,
) -> None:
    """Write train/test (and dev) files grouped by model, prompt or both; warn about prompt leakage."""
    from flames.labels.records import read_labels
    from flames.labels.split import split_labels, write_splits

    records = read_labels(labels)
    held = [m.strip() for m in holdout_models.split(",") if m.strip()] if holdout_models else []
    try:
        splits = split_labels(records, by, holdout_models=held, folds=folds, test_size=test_size,
                              dev_size=dev_size, seed=seed)  # fmt: skip
    except ValueError as err:
        raise fail(str(err)) from None
    folder = out_dir or labels.with_name(f"{labels.name.removesuffix('.jsonl')}-split-{by.replace('+', '-')}")
    for split, written in zip(splits, write_splits(splits, folder, by, seed, parent=labels), strict=True):
        sizes = ", ".join(f"{name} {len(part)}" for name, part in split.parts().items())
        extra = f", {split.dropped} dropped (mixed model/prompt cells)" if split.dropped else ""
        console.print(f"{escape(str(written))}: {sizes}{extra}")
        leaked, prompts = split.leaked
        if leaked:
            err_console.print(
                f"[yellow]warning:[/] {leaked} of {len(split.test)} test labels ({prompts} prompts) share a prompt"
                " with training labels. FLAMES prompts are answered by every model, so a scorer can learn the"
                " prompt instead of judging the answer; use --by prompt or --by model+prompt for a clean test."
            )
