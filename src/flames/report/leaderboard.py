"""A leaderboard across runs, ranked only where the numbers are comparable.

Two runs are ranked together only when the same scorer (name and config hash) judged answers to the same
set of prompts, and their overall figures average the same dimensions: a different judge or prompt set
changes what "harmless rate" measures, and an overall over four dimensions (say, every Legality prompt
blocked) is not FLAMES's mean of five. Incomparable runs land in separate groups, and the leaderboard says
why; a group whose overall leaves dimensions out names them wherever it shows "Overall". "Best in column"
is marked only where every run of the group has a value there. Prompt-design panel tries (`try:` runs) are
left out unless asked for. Each row shows how many prompts
the provider blocked and how many got no final answer (overall and per dimension), and a note names every
run whose rates rest on fewer answers than its prompt set asks for.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from rich import box
from rich.console import Console
from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text

from flames.metrics import BlockedAs, BootstrapConfig, GroupStats, MetricsReport, compute_metrics
from flames.official_format import IMPORTED_SCORER
from flames.report.charts import overall_label
from flames.report.formats import LeaderboardFormat as Format
from flames.report.source import ReportSource, load_source, source_of
from flames.report.tables import BLOCKED_AS_TEXT, coverage
from flames.report.text import md_escape, spreadsheet_row
from flames.store import Store, StoreError
from flames.taxonomy import DIMENSIONS, Dimension, bilingual, info, parse_dimension

OVERALL = "Overall"
COLUMNS = (OVERALL, *(d.value for d in DIMENSIONS))


@dataclass(frozen=True)
class Entry:
    source: ReportSource
    metrics: MetricsReport

    @property
    def name(self) -> str:
        return self.source.run.name

    @property
    def model(self) -> str:
        return self.source.run.resolved_model or self.source.run.model_spec

    @property
    def unscored(self) -> int:
        """Answers left unscored: shown next to the figures, since they are not in them."""
        return self.metrics.overall.n_unscored

    @property
    def blocked(self) -> int:
        return self.metrics.overall.n_blocked

    @property
    def no_answer(self) -> int:
        return self.metrics.overall.n_no_answer

    def coverage_note(self) -> str | None:
        """The run's headline note when its rates rest on fewer answers than its prompt set asks for."""
        note = coverage(self.metrics, self.source.expected)["note"]
        return f"{self.name}: {note}" if note else None

    def stats(self, column: str) -> GroupStats | None:
        if column == OVERALL:
            return self.metrics.overall
        return self.metrics.dimensions.get(parse_dimension(column))


@dataclass(frozen=True)
class ScorerKey:
    """What makes two runs' scores comparable. Imported files carry no scorer config: same name is assumed."""

    name: str
    config_hash: str
    imported: bool

    @classmethod
    def of(cls, source: ReportSource) -> ScorerKey:
        sc = source.scorer
        imported = sc.name == IMPORTED_SCORER
        return cls(sc.name, "" if imported else sc.config_hash, imported)

    def __str__(self) -> str:
        return (
            f"{self.name} (imported from files, unverified)" if self.imported else f"{self.name}@{self.config_hash[:8]}"
        )


@dataclass(frozen=True)
class LeaderboardGroup:
    """Runs ranked together, best first; `best[column]` = (indices with the best rate, with the best score)."""

    scorer: ScorerKey
    prompt_ids: frozenset[str]
    dimensions: tuple[Dimension, ...]
    """The dimensions every entry's overall averages (all five for FLAMES's overall)."""
    entries: tuple[Entry, ...]
    best: dict[str, tuple[frozenset[int], frozenset[int]]]

    @property
    def prompt_sets(self) -> list[str]:
        return sorted({e.source.run.prompt_set_name for e in self.entries})

    @property
    def overall_label(self) -> str:
        """"Overall", or "Overall (4 of 5 dimensions: …)" when the group's overall leaves dimensions out."""
        return overall_label(self.dimensions, OVERALL)

    def describe(self) -> str:
        partial = "" if self.overall_label == OVERALL else f"; {self.overall_label}"
        return f"scorer {self.scorer}, {len(self.prompt_ids)} prompts ({', '.join(self.prompt_sets)}){partial}"

    def column_title(self, col: str) -> str:
        """A column's bilingual heading; the overall's names the dimensions it averages when not all five."""
        return overall_label(self.dimensions) if col == OVERALL else bilingual(parse_dimension(col))


@dataclass(frozen=True)
class Leaderboard:
    groups: tuple[LeaderboardGroup, ...]
    skipped: tuple[tuple[str, str], ...]
    """(run, reason) for runs left out (no judgments, or not scored by the requested scorer)."""
    blocked_as: BlockedAs = "exclude"
    tries_left_out: int = 0
    """Prompt-design panel tries (`try:` runs) not listed (`include_tries=False`)."""

    def not_comparable(self) -> list[str]:
        """Why each later group is not ranked with the first one."""
        if len(self.groups) < 2:
            return []
        first = self.groups[0]
        return [f"Group {i + 1} is not ranked with group 1: {why_not_comparable(first, g)}."
                for i, g in enumerate(self.groups) if i > 0]  # fmt: skip

    def coverage_notes(self) -> list[str]:
        """Runs whose rates rest on fewer answers than their prompt set asks for, and why."""
        return [n for g in self.groups for e in g.entries if (n := e.coverage_note())]

    def scorer_notes(self) -> list[str]:
        """Which scorer ranks the runs that several scorers judged (when none was asked for)."""
        several = [e.name for g in self.groups for e in g.entries if e.source.other_scorers]
        if not several:
            return []
        return [f"Run(s) judged by several scorers are ranked by the newest scorer with final judgments on each"
                f" ({', '.join(several)}); rank by another with --scorer NAME@HASH."]  # fmt: skip

    def notes(self) -> list[str]:
        """Everything a reader must know next to the table: coverage, comparability, how blocked prompts count,
        which scorer was chosen, what was left out."""
        withheld = any(e.blocked or e.no_answer for g in self.groups for e in g.entries)
        how = [f"Blocked and unanswered prompts: {BLOCKED_AS_TEXT[self.blocked_as]}."] if withheld else []
        tries = (
            [f"{self.tries_left_out} prompt-design panel tries (try:… runs) are not listed; --include-tries lists"
             " them."] if self.tries_left_out else []
        )  # fmt: skip
        return self.coverage_notes() + self.not_comparable() + how + self.scorer_notes() + tries


def why_not_comparable(a: LeaderboardGroup, b: LeaderboardGroup) -> str:
    reasons = []
    if a.dimensions != b.dimensions:
        reasons.append(
            f"its overall averages {len(b.dimensions)} of {len(DIMENSIONS)} dimensions"
            f" ({', '.join(d.value for d in b.dimensions) or 'none scored'}), group 1's {len(a.dimensions)}"
        )
    if a.scorer != b.scorer:
        reasons.append(f"different scorer ({a.scorer} vs {b.scorer})")
    if a.prompt_ids != b.prompt_ids:
        only_a, only_b = len(a.prompt_ids - b.prompt_ids), len(b.prompt_ids - a.prompt_ids)
        reasons.append(
            f"different prompts answered ({len(a.prompt_ids)} vs {len(b.prompt_ids)};"
            f" {only_a} only in group 1, {only_b} only in this group)"
        )
    return "; ".join(reasons)


def _rank_key(e: Entry) -> tuple[float, float, str]:
    o = e.metrics.overall
    return (-(o.harmless_rate if o.harmless_rate is not None else -1.0),
            -(o.harmless_score if o.harmless_score is not None else -1.0), e.name)  # fmt: skip


def _best(entries: tuple[Entry, ...]) -> dict[str, tuple[frozenset[int], frozenset[int]]]:
    """Per column, the rows holding the highest rate and the highest score (ties all marked); nothing is
    marked in a column where some row has no value (a "—" might hide a better one) or with a single row."""
    out = {}
    for col in COLUMNS:
        marks = []
        for attr in ("harmless_rate", "harmless_score"):
            values: list[float | None] = [getattr(g, attr) if (g := e.stats(col)) else None for e in entries]
            present = [v for v in values if v is not None]
            top = max(present) if len(present) == len(values) > 1 else None
            marks.append(frozenset(i for i, v in enumerate(values) if top is not None and v == top))
        out[col] = (marks[0], marks[1])
    return out


def build_leaderboard(
    entries: list[Entry], skipped: list[tuple[str, str]] | None = None, blocked_as: BlockedAs = "exclude",
    tries_left_out: int = 0,
) -> Leaderboard:  # fmt: skip
    """Group entries by (scorer, prompt ids with a final outcome, dimensions the overall averages) and rank
    each group; groups whose overall covers more dimensions first, then larger groups."""
    keyed: dict[tuple[ScorerKey, frozenset[str], tuple[Dimension, ...]], list[Entry]] = {}
    for e in entries:
        ids = frozenset(r.prompt_id for r in e.source.records)
        dims = tuple(e.metrics.dimensions_in_overall)
        keyed.setdefault((ScorerKey.of(e.source), ids, dims), []).append(e)
    groups = []
    for (scorer, ids, dims), members in keyed.items():
        ranked = tuple(sorted(members, key=_rank_key))
        groups.append(LeaderboardGroup(scorer, ids, dims, ranked, _best(ranked)))
    groups.sort(key=lambda g: (-len(g.dimensions), -len(g.entries), _rank_key(g.entries[0])))
    return Leaderboard(tuple(groups), tuple(skipped or ()), blocked_as, tries_left_out)


def load_leaderboard(
    targets: list[str],
    db: str | None,
    scorer: str | None,
    boot: BootstrapConfig | None = None,
    blocked_as: BlockedAs = "exclude",
    include_tries: bool = False,
) -> Leaderboard:
    """Entries for the named runs/files, or for every scored run in the store when none is named (without
    prompt-design panel tries unless `include_tries`)."""
    boot = boot or BootstrapConfig()
    sources: list[ReportSource] = []
    skipped: list[tuple[str, str]] = []
    tries = 0
    if targets:
        sources = [load_source(t, db, scorer) for t in targets]
    else:
        store = Store(db)
        for run in store.list_runs():
            if run.panel_try and not include_tries:
                tries += 1
                continue
            try:
                sources.append(source_of(store, run, scorer))
            except StoreError as err:
                skipped.append((run.name, str(err)))
        if not sources:
            raise StoreError(f"no scored runs in {store.safe_url}" + (f" for scorer {scorer!r}" if scorer else ""))
    entries = [Entry(s, compute_metrics(s.records, boot, blocked_as)) for s in sources]
    return build_leaderboard(entries, skipped, blocked_as, tries)


# -- rendering ---------------------------------------------------------------------------------------------


def _cell(g: GroupStats | None) -> tuple[str, str]:
    if g is None or g.harmless_rate is None or g.harmless_score is None:
        return "—", "—"
    return f"{100 * g.harmless_rate:.2f}", f"{g.harmless_score:.2f}"


def _withheld(g: GroupStats | None) -> str:
    """'blocked 3 · no answer 1' for a cell whose slice has any (else empty)."""
    if g is None:
        return ""
    parts = [f"blocked {g.n_blocked}" if g.n_blocked else "", f"no answer {g.n_no_answer}" if g.n_no_answer else ""]
    return " · ".join(p for p in parts if p)


def to_json(board: Leaderboard) -> dict[str, Any]:
    def row(rank: int, e: Entry, g: LeaderboardGroup) -> dict[str, Any]:
        cols = {}
        for col in COLUMNS:
            st = e.stats(col)
            rate_best, score_best = g.best[col]
            cols[col] = {
                **(st.to_json() if st else {}),
                "best_rate": rank - 1 in rate_best,
                "best_score": rank - 1 in score_best,
            }
        n = e.metrics.overall.n
        return {"rank": rank, "run": e.name, "model": e.model, "scorer": str(ScorerKey.of(e.source)),
                "other_scorers": list(e.source.other_scorers), "n_scored": n, "n_unscored": e.unscored,
                "n_blocked": e.blocked, "n_no_answer": e.no_answer, "n_expected": e.source.expected,
                "columns": cols}  # fmt: skip

    return {
        "schema": "flames-eval/leaderboard/v1",
        "blocked_as": board.blocked_as,
        "groups": [
            {
                "scorer": str(g.scorer),
                "scorer_name": g.scorer.name,
                "scorer_config_hash": g.scorer.config_hash or None,
                "n_prompts": len(g.prompt_ids),
                "prompt_sets": g.prompt_sets,
                "overall_dimensions": [d.value for d in g.dimensions],
                "overall_label": g.overall_label,
                "rows": [row(i + 1, e, g) for i, e in enumerate(g.entries)],
            }
            for g in board.groups
        ],
        "not_comparable": board.not_comparable(),
        "coverage_notes": board.coverage_notes(),
        "skipped": [{"run": r, "reason": why} for r, why in board.skipped],
        "notes": board.notes(),
        "panel_tries_left_out": board.tries_left_out,
    }


def to_csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["group", "rank", "run", "model", "scorer", "n_scored", "n_unscored", "n_blocked", "n_no_answer",
            "blocked_as", "overall_dimensions"]  # fmt: skip
    for col in COLUMNS:
        head += [f"{col} rate", f"{col} rate lo", f"{col} rate hi", f"{col} score", f"{col} score lo",
                 f"{col} score hi", f"{col} best rate", f"{col} best score", f"{col} blocked",
                 f"{col} no answer"]  # fmt: skip
    w.writerow(head)
    for gi, g in enumerate(board.groups, start=1):
        for i, e in enumerate(g.entries):
            line: list[Any] = [gi, i + 1, e.name, e.model, str(g.scorer), e.metrics.overall.n, e.unscored,
                               e.blocked, e.no_answer, board.blocked_as, g.overall_label]  # fmt: skip
            for col in COLUMNS:
                st = e.stats(col)
                rci = (st.harmless_rate_ci if st else None) or (None, None)
                sci = (st.harmless_score_ci if st else None) or (None, None)
                line += [st.harmless_rate if st else None, *rci, st.harmless_score if st else None, *sci,
                         i in g.best[col][0], i in g.best[col][1], st.n_blocked if st else 0,
                         st.n_no_answer if st else 0]  # fmt: skip
            w.writerow(spreadsheet_row(line))
    return buf.getvalue()


def to_markdown(board: Leaderboard) -> str:
    lines = [
        "## FLAMES leaderboard 排行榜",
        "",
        "Cells: harmless rate % / harmless score 无害率 / 无害分, 95% intervals below; **bold** = best in column"
        " (marked only where every run has a value).",
    ]
    for gi, g in enumerate(board.groups, start=1):
        lines += ["", f"### Group {gi}: {md_escape(g.describe())}", ""]
        lines.append("| # | Run | Model | Unscored 未评分 | Blocked 拦截 | No answer 无回答 | "
                     + " | ".join(md_escape(g.column_title(c)) for c in COLUMNS) + " |")  # fmt: skip
        lines.append("|---:|---|---|---:|---:|---:|" + "---:|" * len(COLUMNS))
        for i, e in enumerate(g.entries):
            cells = []
            for col in COLUMNS:
                rate, score = _cell(e.stats(col))
                rate = f"**{rate}**" if i in g.best[col][0] else rate
                score = f"**{score}**" if i in g.best[col][1] else score
                withheld = _withheld(e.stats(col))
                cell = f"{rate} / {score}<br>{_intervals(e.stats(col))}"
                cells.append(cell + (f"<br>{withheld}" if withheld else ""))
            head = (f"| {i + 1} | {md_escape(e.name)} | {md_escape(e.model)} | {e.unscored} | {e.blocked} |"
                    f" {e.no_answer} | ")  # fmt: skip
            lines.append(head + " | ".join(cells) + " |")
    lines += ["", *(f"> {md_escape(n)}" for n in board.notes())]
    lines += [f"> Skipped {md_escape(r)}: {md_escape(why)}" for r, why in board.skipped]
    return "\n".join(lines).rstrip() + "\n"


def _intervals(g: GroupStats | None) -> str:
    if g is None or g.harmless_rate_ci is None or g.harmless_score_ci is None:
        return ""
    (rl, rh), (sl, sh) = g.harmless_rate_ci, g.harmless_score_ci
    return f"[{100 * rl:.1f}, {100 * rh:.1f}] / [{sl:.1f}, {sh:.1f}]"


def _full_table(gi: int, g: LeaderboardGroup) -> Table:
    """One group with every figure: rate / score, their intervals (rate's, then score's), blocked and
    no-answer counts per cell."""
    table = Table(title=Text(f"Group {gi}: {g.describe()}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Run")
    table.add_column("Model")
    table.add_column("Unscored /\nblocked /\nno answer", justify="right")
    for col in COLUMNS:
        table.add_column(g.column_title(col) + "\nrate / score", justify="right")
    for i, e in enumerate(g.entries):
        cells: list[Text] = []
        for col in COLUMNS:
            rate, score = _cell(e.stats(col))
            t = Text()
            t.append(rate, style="bold green" if i in g.best[col][0] else None)
            t.append(" / ")
            t.append(score, style="bold green" if i in g.best[col][1] else None)
            if intervals := _intervals(e.stats(col)):
                t.append("\n" + intervals.replace(" / ", "\n"), style="dim")
            if withheld := _withheld(e.stats(col)):
                t.append("\n" + withheld, style="yellow")
            cells.append(t)
        table.add_row(str(i + 1), Text(e.name), Text(e.model), f"{e.unscored} / {e.blocked} / {e.no_answer}", *cells)
    return table


def _compact_table(gi: int, g: LeaderboardGroup) -> Table:
    """One group for a narrow terminal: the harmless rate (%) per column under its Chinese heading, and the
    unscored / blocked / no-answer counts in one column."""
    table = Table(title=Text(f"Group {gi}: {g.describe()}"), title_justify="left", box=box.SIMPLE_HEAD,
                  padding=(0, 1), pad_edge=False)  # fmt: skip
    table.add_column("#", justify="right")
    table.add_column("Run", overflow="fold")
    for col in COLUMNS:
        heading = "总体" if col == OVERALL else info(parse_dimension(col)).zh
        table.add_column(heading + ("*" if col == OVERALL and g.overall_label != OVERALL else ""), justify="right")
    table.add_column("excl.", justify="right")
    for i, e in enumerate(g.entries):
        cells = []
        for col in COLUMNS:
            st = e.stats(col)
            rate = f"{100 * st.harmless_rate:.1f}" if st is not None and st.harmless_rate is not None else "—"
            cells.append(Text(rate, style="bold green" if i in g.best[col][0] else ""))
        table.add_row(str(i + 1), Text(e.name), *cells, f"{e.unscored}/{e.blocked}/{e.no_answer}")
    return table


COMPACT_LEGEND = (
    "Compact view for a narrow terminal: harmless rate % per column (总体 = "
    + ", ".join(["Overall", *(f"{info(d).zh} = {d.value}" for d in DIMENSIONS)])
    + "); excl. = unscored / blocked / no answer; * = overall over fewer than five dimensions (see the group's"
    " title). Scores, intervals and models: a wider terminal, --format markdown or --format html."
)


def rich_tables(board: Leaderboard, width: int | None = None) -> RichGroup:
    """The terminal view: one table per group, compact (rates only) when the full tables would be wider
    than `width` columns."""
    tables = [_full_table(gi, g) for gi, g in enumerate(board.groups, start=1)]
    compact = width is not None and max(_natural_width(t) for t in tables) > width
    if compact:
        tables = [_compact_table(gi, g) for gi, g in enumerate(board.groups, start=1)]
    parts: list[Table | Text] = [*tables]
    parts += [Text(n, style="yellow") for n in board.notes()]
    parts += [Text(f"Skipped {r}: {why}", style="dim") for r, why in board.skipped]
    legend = COMPACT_LEGEND if compact else (
        "Bold green = best in column (where every run has a value); below each cell the 95% intervals of the"
        " rate, then of the score."
    )
    parts.append(Text(legend, style="dim"))
    return RichGroup(*parts)


def _natural_width(table: Table) -> int:
    """The columns `table`'s cells take when none is wrapped (headings may wrap)."""
    table.show_header = False
    try:
        return Console(width=10_000).measure(table).maximum
    finally:
        table.show_header = True


def to_html(board: Leaderboard) -> str:
    """A small self-contained page (no scripts) with the same cells as the other formats."""
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("flames.report", "templates"), autoescape=True)
    groups = [
        {
            "title": f"Group {gi}: {g.describe()}",
            "columns": [g.column_title(c) for c in COLUMNS],
            "rows": [
                {"rank": i + 1, "run": e.name, "model": e.model, "unscored": e.unscored, "blocked": e.blocked,
                 "no_answer": e.no_answer,
                 "cells": [(*_cell(e.stats(c)), i in g.best[c][0], i in g.best[c][1], _intervals(e.stats(c)),
                            _withheld(e.stats(c))) for c in COLUMNS]}
                for i, e in enumerate(g.entries)
            ],
        }
        for gi, g in enumerate(board.groups, start=1)
    ]  # fmt: skip
    return env.get_template("leaderboard.html.j2").render(
        groups=groups, notes=board.notes(), skipped=board.skipped
    )


def render(board: Leaderboard, fmt: Format, width: int | None = None) -> str | RichGroup:
    """The leaderboard in one format; the terminal table (`table`) fits `width` columns when given."""
    if fmt == "json":
        return json.dumps(to_json(board), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(board)
    if fmt == "markdown":
        return to_markdown(board)
    if fmt == "html":
        return to_html(board)
    return rich_tables(board, width)
