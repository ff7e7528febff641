"""`flames compare`: is run B better than run A, on the prompts both answered?"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flames.cli.app import BlockedAsOption, DbOption, app, console, err_console
from flames.report.formats import CompareFormat as Format


@app.command("compare")
def compare(
    run_a: Annotated[str, typer.Argument(help="Baseline: run name or scored JSONL file (official format).")],
    run_b: Annotated[str, typer.Argument(help="Candidate: run name or scored JSONL file.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, json or markdown.")] = "table",
    scorer: Annotated[
        str | None,
        typer.Option(help="Compare this scorer's judgments (name or name@hash); default: the newest with final"
                     " judgments."),
    ] = None,
    max_flips: Annotated[int, typer.Option(help="Flipped items listed per direction (0: all).")] = 20,
    excerpt: Annotated[int, typer.Option(help="Characters of prompt/response shown per flipped item (0: all).")] = 80,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write to a file instead of the terminal.")] = None,
    n_boot: Annotated[int, typer.Option(help="Bootstrap resamples for the intervals.")] = 2000,
    n_permutations: Annotated[
        int, typer.Option(min=99, help="Resamples of the sign-flip permutation tests (when not exact).")
    ] = 9999,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap and the permutation tests.")] = 0,
    blocked_as: BlockedAsOption = "exclude",
    db: DbOption = None,
) -> None:
    """Per-dimension and overall B−A differences with bootstrap intervals, p-values and the items that flipped;
    blocked and unanswered prompts of each run counted per dimension.

    Every p-value tests the difference printed beside it with the prompt as the unit: exact McNemar when each
    prompt has one answer per run, a sign-flip permutation test with prompts as clusters otherwise, and for
    Overall the same test of the unweighted mean of the dimensions' differences.
    """
    from flames.metrics import BootstrapConfig
    from flames.report.compare import compare_sources, render
    from flames.report.source import load_source

    report = compare_sources(
        load_source(run_a, db, scorer), load_source(run_b, db, scorer), BootstrapConfig(n_boot=n_boot, seed=seed),
        n_permutations, blocked_as,
    )  # fmt: skip
    shown = render(report, "markdown" if out is not None and fmt == "table" else fmt, max_flips, excerpt)
    if out is not None:
        out.write_text(str(shown), encoding="utf-8")
        console.print(f"comparison written to {out}")
        for w in report.warnings():
            err_console.print(f"warning: {w}", markup=False, highlight=False)
    elif isinstance(shown, str):
        console.print(shown, markup=False, highlight=False, soft_wrap=True, end="" if shown.endswith("\n") else "\n")
    else:
        console.print(shown)
