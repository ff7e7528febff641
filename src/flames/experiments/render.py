"""An experiment's result as Markdown, as an offline HTML page in the report's style, and on the terminal;
`write_outputs` writes `result.json`, `result.md` and `result.html` into one folder.

The page reuses the HTML report's machinery: its stylesheet and CJK font stack, a Content-Security-Policy
that forbids any fetch, a per-file script nonce, plotly's bundle inline, and data carried as inert JSON
(`json_for_script`). Prompts, answers, run and scorer names are hostile text: the template escapes every
field (Jinja autoescape) and the Markdown escapes every cell (`md_escape`).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

from flames.experiments.result import ExperimentResult, Table
from flames.report.text import cap_text, excerpt, md_escape

EXAMPLE_CHARS = 600
"""Longest text of an example in Markdown (the page shows up to `report.text.PAGE_TEXT_CHARS` of it)."""


def _md_table(table: Table) -> list[str]:
    lines = [f"**{md_escape(table.title)}**", ""] if table.title else []
    lines.append("| " + " | ".join(md_escape(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(table.columns))) + "|")
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{md_escape(table.note)}_"]
    return [*lines, ""]


def to_markdown(result: ExperimentResult) -> str:
    """The whole result as Markdown: question, claim, every section's tables and examples, notes, inputs."""
    lines = [f"# {md_escape(result.title)}", "", f"**Question.** {md_escape(result.question)}", "",
             f"**Claim tested.** {md_escape(result.claim)}", ""]  # fmt: skip
    if result.warnings:
        lines += ["**Warnings**", "", *[f"- {md_escape(w)}" for w in result.warnings], ""]
    for section in result.sections:
        lines += [f"## {md_escape(section.title)}", ""]
        for paragraph in section.text:
            lines += [md_escape(paragraph), ""]
        for table in section.tables:
            lines += _md_table(table)
        for ex in section.examples:
            lines += [f"- **{md_escape(ex.title)}**"]
            lines += [f"  - {md_escape(label)}: {md_escape(excerpt(text, EXAMPLE_CHARS))}" for label, text in ex.fields]
        if section.examples:
            lines.append("")
    if result.notes:
        lines += ["## Notes", "", *[f"- {md_escape(n)}" for n in result.notes], ""]
    lines += ["## Inputs", "", "```json", json.dumps({"inputs": result.inputs, "parameters": result.parameters},
                                                      ensure_ascii=False, indent=2).replace("```", "`\u200b``"),
              "```", ""]  # fmt: skip
    return "\n".join(lines)


def render_html(result: ExperimentResult) -> str:
    """The result as one self-contained HTML document (plotly inline; no external resource)."""
    from jinja2 import Environment, PackageLoader
    from markupsafe import Markup
    from plotly.offline import get_plotlyjs

    from flames.report.charts import FONT_STACK
    from flames.report.html import asset, json_for_script

    env = Environment(loader=PackageLoader("flames.experiments", "templates"), autoescape=True)
    env.filters["capped"] = lambda text: cap_text(text, "flames runs export RUN, for the runs in result.json inputs")
    pretty = json.dumps({"inputs": result.inputs, "parameters": result.parameters}, ensure_ascii=False, indent=2,
                        default=str)  # fmt: skip
    return env.get_template("experiment.html.j2").render(
        result=result, inputs_json=pretty, nonce=secrets.token_urlsafe(16), font_stack=Markup(FONT_STACK),
        css=Markup(asset("report.css")), plotly_js=Markup(get_plotlyjs()) if result.charts else "",
        data_json=Markup(json_for_script({"charts": result.charts})),
    )  # fmt: skip


def _atomic_write(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_outputs(result: ExperimentResult, out_dir: Path | str, html: bool = True) -> dict[str, Path]:
    """Write `result.json`, `result.md` and (unless `html` is False) `result.html` into `out_dir`
    (created), each atomically; returns format → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": _atomic_write(out / "result.json", json.dumps(result.to_json(), ensure_ascii=False, indent=2) + "\n"),
        "markdown": _atomic_write(out / "result.md", to_markdown(result)),
    }
    if html:
        paths["html"] = _atomic_write(out / "result.html", render_html(result))
    return paths


def print_summary(result: ExperimentResult, console: Console, max_tables: int = 3) -> None:
    """The first tables and the warnings on the terminal (everything is in the written files)."""
    console.print(f"[bold]{escape(result.title)}[/]")
    shown = 0
    for section in result.sections:
        for table in section.tables:
            if shown >= max_tables or not table.rows:
                continue
            t = RichTable(title=escape(table.title or section.title), title_justify="left")
            for i, column in enumerate(table.columns):
                t.add_column(escape(column), justify="left" if i == 0 else "right")
            for row in table.rows:
                t.add_row(*(escape(c) for c in row))
            console.print(t)
            shown += 1
    for w in result.warnings:
        console.print(f"[yellow]warning:[/] {escape(w)}")
