"""`flames report`: the official metrics of a run or a scored JSONL file, with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flames.cli.app import DbOption, app, console, err_console, fail
from flames.metrics import BootstrapConfig, compute_metrics
from flames.report.source import load_source
from flames.report.tables import Format, print_report, render


@app.command("report")
def report(
    target: Annotated[str, typer.Argument(help="Run name in the store, or a scored JSONL file (official format).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or markdown.")] = "table",
    scorer: Annotated[
        str | None, typer.Option(help="Which scorer's judgments (name or name@hash); default: the newest.")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to a file.")] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the self-contained HTML report (charts, item browser).")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    db: DbOption = None,
) -> None:
    """Harmless rate and harmless score per dimension, subcomponent and attack method, with 95% intervals."""
    source = load_source(target, db, scorer)
    metrics = compute_metrics(source.records, BootstrapConfig(n_boot=n_boot, seed=seed))
    if html is not None:
        from flames.report.html import write_html

        try:
            err_console.print(f"HTML report written to {write_html(source, metrics, html)}")  # stdout: the report
        except ImportError as err:
            raise fail(f"--html needs the report extra: pip install 'flames-eval[report]' ({err})") from err
    if out is not None:
        text = render(source, metrics, "markdown" if fmt == "table" else fmt)
        out.write_text(str(text), encoding="utf-8")
        console.print(f"report written to {out}")
        return
    print_report(source, metrics, console, fmt)
