"""Options and commands for running past one process: `--shard I/N`, `--executor ray`, the `--batch` options
of `flames generate` and `flames score`, and `flames batch status|collect|cancel RUN`.

Batches run on the provider's side for up to 24 hours at half the live price; the store records each one the
moment it exists, so these commands work from any machine that reaches the store and has the key.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from flames.cli.app import DbOption, app, console, fail, open_store
from flames.shard import SHARD_HELP, Shard, parse_shard
from flames.suggest import flames_command

if TYPE_CHECKING:
    from flames.batch.collect import Collected
    from flames.batch.submit import Submitted
    from flames.executors.ray_executor import RayExecutor
    from flames.store import BatchInfo

_BATCH = "Provider batch API (openai: models and judges)"

BatchFlag = Annotated[
    bool,
    typer.Option("--batch", help="Submit the pending requests to the provider's batch API (about half the price,"
                 " answers within 24 h) instead of asking live; then `flames batch collect RUN`.",
                 rich_help_panel=_BATCH),
]  # fmt: skip
BatchEndpoint = Annotated[
    str | None,
    typer.Option(help="Request path inside the batch. Default by provider: /v1/chat/completions; Zhipu"
                 " (open.bigmodel.cn) /v4/chat/completions; DashScope's batch-test-model /v1/chat/ds-test.",
                 rich_help_panel=_BATCH),
]  # fmt: skip
BatchMaxRequests = Annotated[
    int | None,
    typer.Option(min=1, help="Most requests per batch file (default: the provider's limit, 50,000; files are also"
                 " split at its size limit).", rich_help_panel=_BATCH),
]  # fmt: skip
_SCALE = "Scale-out"
ShardOption = Annotated[
    Shard | None,
    typer.Option("--shard", envvar="FLAMES_SHARD", parser=parse_shard, metavar="I/N", help=SHARD_HELP,
                 rich_help_panel=_SCALE),
]  # fmt: skip
ExecutorOption = Annotated[
    str,
    typer.Option(help="local (this process) or ray (a Ray cluster: the [ray] extra).", rich_help_panel=_SCALE),
]
AddressOption = Annotated[
    str | None,
    typer.Option(help="Ray cluster to join with --executor ray: auto (the running cluster) or ray://HOST:10001;"
                 " default a new local instance.", rich_help_panel=_SCALE),
]  # fmt: skip
WorkersOption = Annotated[
    int | None,
    typer.Option(min=1, help="Ray actors (default: one per GPU for local models; 1 for APIs, each actor keeping"
                 " --concurrency requests in flight).", rich_help_panel=_SCALE),
]  # fmt: skip


def ray_executor(executor: str, address: str | None, workers: int | None) -> RayExecutor | None:
    """The executor the command-line options ask for; None for this process."""
    if executor == "local":
        if address or workers:
            raise typer.BadParameter("--address and --workers go with --executor ray", param_hint="--executor")
        return None
    if executor != "ray":
        raise typer.BadParameter(f"{executor!r}: use local or ray", param_hint="--executor")
    from flames.executors.ray_executor import RayExecutor

    return RayExecutor(address=address, workers=workers)


batch_app = typer.Typer(
    help="Provider batch jobs of a run: status, collect, cancel. 批处理任务。", no_args_is_help=True
)
app.add_typer(batch_app, name="batch")


def print_submitted(submitted: Submitted, what: str) -> None:
    """What `--batch` did, and what to run next."""
    run = submitted.run.name
    if not submitted.batches:
        console.print(f"run [bold]{run}[/]: no {what} left to submit (stored, or held by open batches).")
        return
    ids = ", ".join(b.remote_id or "?" for b in submitted.batches)
    console.print(
        f"run [bold]{run}[/]: {submitted.requests} {what} submitted to {submitted.target.provider.name}"
        f" ({submitted.target.base_url}) in {len(submitted.batches)} batch(es): {ids}."
        f" Follow with `{escape(flames_command('batch', 'status', run))}`; import with"
        f" `{escape(flames_command('batch', 'collect', run))}`."
    )


def _table(batches: list[BatchInfo], title: str) -> Table:
    from flames.batch.collect import summary_row

    table = Table(title=title, title_justify="left")
    for col in ("batch", "kind", "status", "requests", "provider: done/failed", "billed", "tokens in/out",
                "imported", "back to pending"):  # fmt: skip
        table.add_column(col)
    for batch in batches:
        row = summary_row(batch)
        counts, result = row["provider_counts"], row["result"]
        imported = result.get("answers", result.get("judgments"))
        back = int(result.get("failed", 0)) + int(result.get("unanswered", 0)) if result else None
        table.add_row(
            row["batch"], row["kind"], row["status"], str(row["requests"]),
            f"{counts.get('completed', '–')}/{counts.get('failed', '–')}" if counts else "–",
            str(result.get("billed", "–")),
            f"{result['prompt_tokens']:,}/{result['completion_tokens']:,}" if "prompt_tokens" in result else "–",
            "–" if imported is None else str(imported), "–" if back is None else str(back),
        )  # fmt: skip
    return table


@batch_app.command("status")
def batch_status(
    run: Annotated[str, typer.Argument(help="Run name.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    db: DbOption = None,
) -> None:
    """Ask the provider where each open batch of a run stands; list collected ones with their counts."""
    from flames import aio
    from flames.batch.collect import refresh, summary_row

    store = open_store(db)
    info = store.get_run(run)

    async def refresh_all() -> list[BatchInfo]:
        return [await refresh(store, b) for b in store.batches(info.id)]

    batches = aio.run(refresh_all())
    if as_json:
        console.file.write(json.dumps([summary_row(b) for b in batches], ensure_ascii=False, indent=2) + "\n")
        return
    if not batches:
        raise fail(f"run {run!r} has no batches; submit some with `flames generate --batch` or `flames score --batch`")
    console.print(_table(batches, f"batches of run {run}"))


@batch_app.command("collect")
def batch_collect(
    run: Annotated[str, typer.Argument(help="Run name.")],
    wait: Annotated[bool, typer.Option(help="Poll until every open batch has finished and is collected.")] = False,
    poll: Annotated[float, typer.Option(min=1.0, help="Seconds between polls with --wait.")] = 60.0,
    db: DbOption = None,
) -> None:
    """Import the results of every finished batch of a run, exactly once.

    Answers (or judgments) are stored as live ones would be; a slot that already holds one keeps it.
    Failed lines are recorded as failures and, like requests an expired or cancelled batch never ran, go back
    to the pending work: retry them with `--batch` again or live.
    """
    from flames import aio
    from flames.batch.collect import collect_run

    store = open_store(db)
    info = store.get_run(run)
    done = aio.run(collect_run(store, info, wait=wait, poll_s=poll))
    if done.closed:
        console.print(_table(done.closed, f"collected now from run {run}"))
        console.print(
            f"{done.total('answers') + done.total('judgments')} results imported{_withheld(done)},"
            f" {done.total('billed')} requests"
            f" billed by the provider ({done.total('prompt_tokens'):,} tokens in,"
            f" {done.total('completion_tokens'):,} out), {done.total('already_stored')} already stored,"
            f" {done.total('failed') + done.total('unanswered')} back to pending,"
            f" {done.total('live_requests')} asked live."
        )
    if done.waiting:
        states = ", ".join(f"{b.remote_id or 'not created'}: {b.status}" for b in done.waiting)
        console.print(f"{len(done.waiting)} batch(es) still running ({states}); collect again later, or --wait.")
    elif not done.closed:
        console.print(f"run [bold]{run}[/]: no open batches.")
    c = store.counts(store.get_run(run))
    console.print(f"run [bold]{run}[/] holds {c.ok}/{c.expected} answers in {store.safe_url}.")


def _withheld(done: Collected) -> str:
    """' (and 2 blocked, 1 without an answer)' when a batch's replies held such final outcomes."""
    blocked, none = done.total("blocked"), done.total("no_answer")
    return f" (and {blocked} blocked, {none} without an answer)" if blocked or none else ""


@batch_app.command("cancel")
def batch_cancel(run: Annotated[str, typer.Argument(help="Run name.")], db: DbOption = None) -> None:
    """Cancel every open batch of a run. What they already answered is still imported by `collect`."""
    from flames import aio
    from flames.batch.collect import cancel_run

    store = open_store(db)
    cancelled = aio.run(cancel_run(store, store.get_run(run)))
    if not cancelled:
        console.print(f"run [bold]{run}[/]: no batch to cancel.")
        return
    for batch in cancelled:
        console.print(
            f"batch {batch.remote_id or f'(local {batch.id})'}: {'abandoned' if not batch.is_open else batch.status}"
        )
    console.print(f"collect what they finished with `{escape(flames_command('batch', 'collect', run))}` once they"
                  " show 'cancelled'.")  # fmt: skip
