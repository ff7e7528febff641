"""`flames runs`: list, inspect, export, import and delete runs in the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from flames.cli.app import DbOption, app, console, fail, open_store
from flames.interop import Source as ImportSource
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.dependents import DependentKind
    from flames.store import StoredResponse

runs_app = typer.Typer(help="Runs in the store: list, show, export, import, delete. 运行记录。", no_args_is_help=True)
app.add_typer(runs_app, name="runs")


@runs_app.command("list")
def runs_list(db: DbOption = None) -> None:
    """One line per run: model, prompt set, progress, scorers, status."""
    store = open_store(db, writes=False)
    table = Table(title=f"runs in {store.safe_url}", title_justify="left")
    for col in ("run", "model", "prompts", "answers", "blocked/no answer", "failed", "scorers", "status", "created"):
        table.add_column(col, no_wrap=col == "answers")
    for run in store.list_runs():
        c = store.counts(run)
        scorers = ", ".join(s.name for s in store.scorers_for(run)) or "—"
        table.add_row(
            run.name, run.resolved_model or run.model_spec, run.prompt_set_name, f"{c.ok}/{c.expected}",
            f"{c.blocked}/{c.no_answer}", str(c.failed), scorers, run.status, run.created_at.strftime("%Y-%m-%d %H:%M"),
        )  # fmt: skip
    console.print(table)


def _outcome_json(r: StoredResponse) -> dict[str, Any]:
    """A blocked or no-answer slot for `runs show`: why, and the provider's own code where there is one."""
    provider: dict[str, Any] = {k: r.meta[k] for k in ("provider", "code", "http_status") if k in r.meta}
    return {
        "id": r.prompt.id, "sample_index": r.sample_index, "dimension": r.prompt.dimension.value,
        "outcome": r.outcome, "detail": r.detail, "finish_reason": r.finish_reason,
        "completion_tokens": r.completion_tokens, **provider,
    }  # fmt: skip


@runs_app.command("show")
def runs_show(name: str, db: DbOption = None) -> None:
    """Everything recorded about a run, as JSON: provenance, progress, scorers, recent failures, and the
    prompts that were blocked or got no answer (`blocked`, `no_answer`: the first 50 of each, with the
    provider's code and message, or the reason)."""
    from flames.report.tables import run_json
    from flames.urls import masked_urls

    store = open_store(db, writes=False)
    run = store.get_run(name)
    c = store.counts(run)
    unanswered = [r for r in store.responses(run, withheld=True) if r.outcome != "answered"]
    info = {
        **run_json(run),
        "config_hash": run.config_hash,
        "meta": masked_urls(run.meta),  # runs recorded before base URLs were masked are shown masked too
        "updated_at": run.updated_at.isoformat(),
        "progress": dict(
            prompts=c.prompts, expected=c.expected, ok=c.ok, blocked=c.blocked, no_answer=c.no_answer, failed=c.failed
        ),
        "scorers": [{"name": s.name, "config_hash": s.config_hash, "kind": s.kind} for s in store.scorers_for(run)],
        "failures": [{"id": p.id, "sample_index": k, "error": e} for p, k, e in store.failures(run)[:20]],
        "blocked": [_outcome_json(r) for r in unanswered if r.outcome == "blocked"][:50],
        "no_answer": [_outcome_json(r) for r in unanswered if r.outcome == "no_answer"][:50],
    }
    console.file.write(json.dumps(info, ensure_ascii=False, indent=2, default=str) + "\n")


@runs_app.command("export")
def runs_export(
    name: str,
    out: Annotated[Path, typer.Option("--out", "-o", help="JSONL file to write (official FLAMES format).")],
    scorer: Annotated[
        str | None,
        typer.Option(help="Scorer whose judgments fill `predicted`; default the newest with final judgments."),
    ] = None,
    no_scores: Annotated[bool, typer.Option("--no-scores", help="Export responses only.")] = False,
    db: DbOption = None,
) -> None:
    """Write the run's responses (and scores) as official-format JSONL."""
    from flames.official_format import official_rows, write_jsonl

    store = open_store(db, writes=False)
    run = store.get_run(name)
    unjudged = scorer is None and not store.scorers_for(run, final_only=True)  # nothing final to export yet
    chosen = None if no_scores or unjudged else store.resolve_scorer(run, scorer)
    rows = official_rows(store, run, chosen)
    write_jsonl(rows, out)
    console.print(f"{len(rows)} rows written to {out}" + (f" (scores: {chosen.name})" if chosen else ""))


@runs_app.command("import")
def runs_import(
    path: Annotated[Path, typer.Argument(help="Results file, or an OpenCompass work dir.")],
    source: Annotated[
        ImportSource,
        typer.Option(
            "--from",
            help="Which tool wrote it: official (FLAMES JSONL/JSON/CSV/xlsx), opencompass (work dir or a"
            " predictions file), eval-anything (details_Flames.jsonl); auto tells them apart.",
        ),
    ] = "auto",
    run: Annotated[
        str | None, typer.Option("--run", help="Run name; default: the file's stem (OpenCompass: the model).")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Model name; default: the file's `model` field.")] = None,
    prompts: Annotated[
        str | None, typer.Option("--prompts", help="eval-anything: the prompt set answered (default flames-1k).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="OpenCompass: its FLAMES data files (default DIR/data/flames).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Import another tool's answers (and `predicted` scores, if any) as runs, to score and report here."""
    from flames.interop.results import import_results

    store = open_store(db)
    held = {r.name: store.counts(r).ok for r in store.list_runs()}  # a repeated import stores nothing again
    for info in import_results(store, path, source, run, model, prompts, data):
        c = store.counts(info)
        new = c.ok - held.get(info.name, 0)
        again = f" ({c.ok - new} were already stored)" if new < c.ok else ""
        console.print(f"imported {new} responses to {c.prompts} prompts as run {info.name!r}{again} into"
                      f" {store.safe_url}")  # fmt: skip


@runs_app.command("delete")
def runs_delete(
    name: str,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    delete_annotations: Annotated[
        bool,
        typer.Option(
            "--delete-annotations",
            help="Also delete the annotation projects built on the run, with all their human labels and"
            " adjudications (export them first: `flames annotate export --project NAME -o FILE`).",
        ),
    ] = False,
    delete_design_evidence: Annotated[
        bool,
        typer.Option(
            "--delete-design-evidence",
            help="Also delete a prompt-design try's panel answers (the evidence reviewers read and the attack"
            " success statistics count); a new try asks the panel again, and pays again.",
        ),
    ] = False,
    db: DbOption = None,
) -> None:
    """Delete a run with its responses, judgments and batches, after listing everything that goes.

    Refused while annotation projects (human labels) or prompt-design panel answers depend on the run, unless
    --delete-annotations / --delete-design-evidence says that they go too.
    """
    from flames.dependents import contents, delete_run

    store = open_store(db)
    found = contents(store, name)
    chosen: dict[DependentKind, bool] = {"annotations": delete_annotations, "design": delete_design_evidence}
    allow = {kind for kind, wanted in chosen.items() if wanted}
    refused = [d for d in found.dependents if d.kind not in allow]
    if refused:
        options = sorted({_DEPENDENT_OPTION[d.kind] for d in refused})
        exports = [flames_command("annotate", "export", "--project", d.name, "-o", f"{d.name}.jsonl")
                   for d in refused if d.kind == "annotations"]  # fmt: skip
        raise fail(
            f"run {name!r} was not deleted: it is used by\n"
            + "".join(f"  - {d.describe()}\n" for d in refused)
            + "".join(f"Keep a copy of the labels first: `{e}`\n" for e in exports)
            + f"To delete them with the run: `{flames_command('runs', 'delete', name, *options)}`"
        )
    items = "".join(f"\n  - {line}" for line in found.lines())
    if not yes:
        console.print(f"deleting run {escape(repr(name))} deletes:{escape(items)}", highlight=False)
        typer.confirm("delete all of this?", abort=True)
    delete_run(store, name, allow)
    console.print(f"deleted run {escape(repr(name))}:{escape(items)}", highlight=False)


_DEPENDENT_OPTION = {"annotations": "--delete-annotations", "design": "--delete-design-evidence"}
"""The option of `runs delete` that lets each kind of dependent (`flames.dependents.DependentKind`) go."""
