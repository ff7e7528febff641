"""`flames leaderboard`: runs side by side, ranked only where the same scorer judged the same prompts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flames.cli.app import BlockedAsOption, DbOption, app, console, fail
from flames.report.formats import LeaderboardFormat as Format


@app.command("leaderboard")
def leaderboard(
    targets: Annotated[
        list[str] | None,
        typer.Argument(help="Run names and/or scored JSONL files (official format). Default: every scored run."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, markdown, csv, json or html.")] = "table",
    scorer: Annotated[
        str | None,
        typer.Option(help="Rank by this scorer's judgments (name or name@hash); default: each run's newest scorer"
                     " with final judgments."),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file instead of the terminal.")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 2000,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    blocked_as: BlockedAsOption = "exclude",
    include_tries: Annotated[
        bool, typer.Option("--include-tries", help="Also list prompt-design panel tries (try:… runs).")
    ] = False,
    db: DbOption = None,
) -> None:
    """Overall and per-dimension "rate / score" with 95% intervals, best per column marked; blocked and
    unanswered prompts counted per run and dimension. Runs are ranked together only when one scorer judged
    the same prompts and their overall averages the same dimensions. A terminal too narrow for the full
    table gets a compact one (rates only)."""
    from flames.metrics import BootstrapConfig
    from flames.report.leaderboard import load_leaderboard, render

    boot = BootstrapConfig(n_boot=n_boot, seed=seed)
    board = load_leaderboard(targets or [], db, scorer, boot, blocked_as, include_tries)
    try:
        shown = render(board, "markdown" if out is not None and fmt == "table" else fmt, console.width)
    except ImportError as err:
        raise fail(f"--format html needs the report extra: pip install 'flames-eval[report]' ({err})") from err
    if out is not None:
        out.write_text(str(shown), encoding="utf-8")
        console.print(f"leaderboard written to {out}")
    elif isinstance(shown, str):
        console.print(shown, markup=False, highlight=False, soft_wrap=True, end="" if shown.endswith("\n") else "\n")
    else:
        console.print(shown)
