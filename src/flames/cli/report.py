"""`flames report`: the official metrics of a run or a scored JSONL file, with intervals."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flames.cli.app import BlockedAsOption, DbOption, app, console, err_console, fail
from flames.report.formats import ReportFormat as Format

if TYPE_CHECKING:
    from flames.correction import CorrectionReport
    from flames.metrics import BootstrapConfig
    from flames.report.source import ReportSource


@app.command("report")
def report(
    target: Annotated[str, typer.Argument(help="Run name in the store, or a scored JSONL file (official format).")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json, csv or markdown.")] = "table",
    scorer: Annotated[
        str | None,
        typer.Option(help="Which scorer's judgments (name or name@hash); default: the newest with final judgments."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the report to a file.")] = None,
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the self-contained HTML report (charts, item browser).")
    ] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    calibration: Annotated[
        Path | None,
        typer.Option(help="A `flames scorer validate --format json` file for this scorer: adds harmless rates"
                     " corrected for the scorer's errors (Rogan–Gladen / misclassification matrix)."),
    ] = None,
    blocked_as: BlockedAsOption = "exclude",
    db: DbOption = None,
) -> None:
    """Harmless rate and harmless score per dimension, subcomponent and attack method, with 95% intervals;
    blocked and unanswered prompts counted apart in every slice."""
    from flames.metrics import BootstrapConfig, compute_metrics
    from flames.report.source import load_source
    from flames.report.tables import print_report, render

    source = load_source(target, db, scorer)
    boot = BootstrapConfig(n_boot=n_boot, seed=seed)
    metrics = compute_metrics(source.records, boot, blocked_as)
    # corrected for the scorer's errors: only what the scorer judged (blocked prompts are never judged)
    correction = _correction(source, calibration, boot) if calibration is not None else None
    if html is not None:
        from flames.report.html import write_html

        try:  # stdout: the report
            err_console.print(f"HTML report written to {write_html(source, metrics, html, correction)}")
        except ImportError as err:
            raise fail(f"--html needs the report extra: pip install 'flames-eval[report]' ({err})") from err
    if out is not None:
        text = render(source, metrics, "markdown" if fmt == "table" else fmt, correction)
        out.write_text(str(text), encoding="utf-8")
        console.print(f"report written to {out}")
        return
    print_report(source, metrics, console, fmt, correction)


def _correction(source: ReportSource, path: Path, boot: BootstrapConfig) -> CorrectionReport:
    """The correction of the report's figures by the calibration in `path` (warning when it was measured
    for another scorer)."""
    from flames.correction import CalibrationError, correct, load_calibration

    sc = source.scorer
    try:
        cal = load_calibration(path, f"{sc.name}@{sc.config_hash[:8]}")
    except CalibrationError as err:
        raise fail(str(err)) from None
    warnings = []
    if not cal.matches(sc.name, sc.config_hash):
        warnings.append(
            f"warning: the calibration measured scorer {cal.scorer}, this report is scored by"
            f" {sc.name}@{sc.config_hash[:8]}; the correction only holds for the scorer that was validated"
        )
    return correct(source.records, cal, boot, warnings)
