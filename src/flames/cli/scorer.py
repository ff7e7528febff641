"""`flames scorer`: inspect the official scorer checkpoint and convert it to safetensors once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flames.cli.app import app, console

scorer_app = typer.Typer(
    help="The official FLAMES scorer checkpoint: info, convert to safetensors. 官方评分模型。", no_args_is_help=True
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
    console.print(f"use it with: flames score RUN --scorer flames:{files.root}")


@scorer_app.command("info")
def scorer_info(
    path: Annotated[Path, typer.Argument(help="Checkpoint folder.")], allow_pickle: AllowPickle = False
) -> None:
    """The checkpoint's architecture, weight format and fingerprint (the scorer's identity in the store)."""
    from flames.scorers.base import ScorerError
    from flames.scorers.official.checkpoint import fingerprint, inspect_folder
    from flames.scorers.official.model import Architecture

    if not path.is_dir():
        raise ScorerError(f"{path}: not a folder; `flames scorer info` reads a local checkpoint folder")
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
