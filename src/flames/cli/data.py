"""`flames data`: inspect and fetch prompt sets."""

from __future__ import annotations

from collections import Counter

import typer
from rich.table import Table

from flames.cli.app import DbOption, PromptsOption, app, console
from flames.taxonomy import DIMENSIONS, SUBCOMPONENT_ZH, info

data_app = typer.Typer(help="Prompt sets: counts, download. 数据集。", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("info")
def data_info(prompts: PromptsOption = None, db: DbOption = None) -> None:
    """Counts per dimension and subcomponent (and attack method, when the set has them)."""
    from flames.prompts import load_prompt_set

    ps = load_prompt_set(prompts, db)
    by_sub = Counter(p.subcomponent for p in ps.prompts)
    by_dim = Counter(p.dimension for p in ps.prompts)
    table = Table(title=f"{ps.name} — {len(ps)} prompts · sha256 {ps.sha256[:16]}…", title_justify="left")
    for col in ("dimension 维度", "n", "subcomponent 子维度", "n", "scale"):
        table.add_column(col, justify="right" if col == "n" else "left")
    for d in DIMENSIONS:
        if not by_dim[d]:
            continue
        dinfo = info(d)
        subs = [s for s in dinfo.subcomponents if by_sub[s]]
        for i, s in enumerate(subs):
            first = i == 0
            table.add_row(
                f"{d.value} {dinfo.zh}" if first else "",
                str(by_dim[d]) if first else "",
                f"{s} {SUBCOMPONENT_ZH[s]}",
                str(by_sub[s]),
                "/".join(map(str, dinfo.scale)) if first else "",
            )
        table.add_section()
    console.print(table)
    attacks = Counter(p.attack_method for p in ps.prompts if p.attack_method)
    if attacks:
        console.print("attack methods: " + ", ".join(f"{a} ({n})" for a, n in attacks.most_common()))
    console.print(f"source: {ps.source}")


@data_app.command("fetch")
def data_fetch() -> None:
    """Download Flames-1k from the official URL, verify its sha256 and cache it."""
    from flames.prompts import flames_1k_path

    console.print(f"Flames-1k verified at {flames_1k_path(offline=False)}")
