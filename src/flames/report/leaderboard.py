"""A leaderboard across runs, ranked only where the numbers are comparable.

Two runs are ranked together only when the same scorer (name and config hash) judged answers to the same
set of prompts: a different judge or a different prompt set changes what "harmless rate" measures.
Incomparable runs land in separate groups, and the leaderboard says why. Each row shows how many prompts
the provider blocked and how many got no final answer (overall and per dimension), and a note names every
run whose rates rest on fewer answers than its prompt set asks for.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import Any

from rich.console import Group as RichGroup
from rich.table import Table
from rich.text import Text

from flames.metrics import BlockedAs, BootstrapConfig, GroupStats, MetricsReport, compute_metrics
from flames.official_format import IMPORTED_SCORER
from flames.report.charts import OVERALL_LABEL
from flames.report.formats import LeaderboardFormat as Format
from flames.report.source import ReportSource, load_source
from flames.report.tables import BLOCKED_AS_TEXT, coverage
from flames.report.text import md_escape, spreadsheet_row
from flames.store import Store, StoreError
from flames.taxonomy import DIMENSIONS, bilingual, parse_dimension

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
    entries: tuple[Entry, ...]
    best: dict[str, tuple[frozenset[int], frozenset[int]]]

    @property
    def prompt_sets(self) -> list[str]:
        return sorted({e.source.run.prompt_set_name for e in self.entries})

    def describe(self) -> str:
        return f"scorer {self.scorer}, {len(self.prompt_ids)} prompts ({', '.join(self.prompt_sets)})"


@dataclass(frozen=True)
class Leaderboard:
    groups: tuple[LeaderboardGroup, ...]
    skipped: tuple[tuple[str, str], ...]
    """(run, reason) for runs left out (no judgments, or not scored by the requested scorer)."""
    blocked_as: BlockedAs = "exclude"

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

    def notes(self) -> list[str]:
        """Everything a reader must know next to the table: coverage, comparability, how blocked prompts count."""
        withheld = any(e.blocked or e.no_answer for g in self.groups for e in g.entries)
        how = [f"Blocked and unanswered prompts: {BLOCKED_AS_TEXT[self.blocked_as]}."] if withheld else []
        return self.coverage_notes() + self.not_comparable() + how


def why_not_comparable(a: LeaderboardGroup, b: LeaderboardGroup) -> str:
    reasons = []
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
    """Per column, the rows holding the highest rate and the highest score (ties all marked)."""
    out = {}
    for col in COLUMNS:
        marks = []
        for attr in ("harmless_rate", "harmless_score"):
            values = {i: getattr(g, attr) for i, e in enumerate(entries) if (g := e.stats(col)) is not None}
            present = {i: v for i, v in values.items() if v is not None}
            top = max(present.values(), default=None)
            marks.append(frozenset(i for i, v in present.items() if v == top))
        out[col] = (marks[0], marks[1])
    return out


def build_leaderboard(
    entries: list[Entry], skipped: list[tuple[str, str]] | None = None, blocked_as: BlockedAs = "exclude"
) -> Leaderboard:
    """Group entries by (scorer, prompt ids with a final outcome) and rank each group; larger groups first."""
    keyed: dict[tuple[ScorerKey, frozenset[str]], list[Entry]] = {}
    for e in entries:
        ids = frozenset(r.prompt_id for r in e.source.records)
        keyed.setdefault((ScorerKey.of(e.source), ids), []).append(e)
    groups = []
    for (scorer, ids), members in keyed.items():
        ranked = tuple(sorted(members, key=_rank_key))
        groups.append(LeaderboardGroup(scorer, ids, ranked, _best(ranked)))
    groups.sort(key=lambda g: (-len(g.entries), _rank_key(g.entries[0])))
    return Leaderboard(tuple(groups), tuple(skipped or ()), blocked_as)


def load_leaderboard(
    targets: list[str],
    db: str | None,
    scorer: str | None,
    boot: BootstrapConfig | None = None,
    blocked_as: BlockedAs = "exclude",
) -> Leaderboard:
    """Entries for the named runs/files, or for every scored run in the store when none is named."""
    boot = boot or BootstrapConfig()
    sources: list[ReportSource] = []
    skipped: list[tuple[str, str]] = []
    if targets:
        sources = [load_source(t, db, scorer) for t in targets]
    else:
        store = Store(db)
        for run in store.list_runs():
            try:
                chosen = store.resolve_scorer(run, scorer)
            except StoreError as err:
                skipped.append((run.name, str(err)))
                continue
            sources.append(ReportSource(store, run, chosen, store.scored_records(run, chosen)))
        if not sources:
            raise StoreError(f"no scored runs in {store.safe_url}" + (f" for scorer {scorer!r}" if scorer else ""))
    entries = [Entry(s, compute_metrics(s.records, boot, blocked_as)) for s in sources]
    return build_leaderboard(entries, skipped, blocked_as)


# -- rendering ---------------------------------------------------------------------------------------------


def _cell(g: GroupStats | None) -> tuple[str, str]:
    if g is None or g.harmless_rate is None or g.harmless_score is None:
        return "—", "—"
    return f"{100 * g.harmless_rate:.2f}", f"{g.harmless_score:.2f}"


def _column_title(col: str) -> str:
    return OVERALL_LABEL if col == OVERALL else bilingual(parse_dimension(col))


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
        return {"rank": rank, "run": e.name, "model": e.model, "n_scored": n, "n_unscored": e.unscored,
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
                "rows": [row(i + 1, e, g) for i, e in enumerate(g.entries)],
            }
            for g in board.groups
        ],
        "not_comparable": board.not_comparable(),
        "coverage_notes": board.coverage_notes(),
        "skipped": [{"run": r, "reason": why} for r, why in board.skipped],
    }


def to_csv(board: Leaderboard) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    head = ["group", "rank", "run", "model", "scorer", "n_scored", "n_unscored", "n_blocked", "n_no_answer",
            "blocked_as"]  # fmt: skip
    for col in COLUMNS:
        head += [f"{col} rate", f"{col} rate lo", f"{col} rate hi", f"{col} score", f"{col} score lo",
                 f"{col} score hi", f"{col} best rate", f"{col} best score", f"{col} blocked",
                 f"{col} no answer"]  # fmt: skip
    w.writerow(head)
    for gi, g in enumerate(board.groups, start=1):
        for i, e in enumerate(g.entries):
            line: list[Any] = [gi, i + 1, e.name, e.model, str(g.scorer), e.metrics.overall.n, e.unscored,
                               e.blocked, e.no_answer, board.blocked_as]  # fmt: skip
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
        "Cells: harmless rate % / harmless score 无害率 / 无害分, 95% intervals below; **bold** = best in column.",
    ]
    for gi, g in enumerate(board.groups, start=1):
        lines += ["", f"### Group {gi}: {md_escape(g.describe())}", ""]
        lines.append("| # | Run | Model | Unscored 未评分 | Blocked 拦截 | No answer 无回答 | "
                     + " | ".join(_column_title(c) for c in COLUMNS) + " |")  # fmt: skip
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


def rich_tables(board: Leaderboard) -> RichGroup:
    parts: list[Table | Text] = []
    for gi, g in enumerate(board.groups, start=1):
        table = Table(title=Text(f"Group {gi}: {g.describe()}"), title_justify="left")
        for name, justify in (("#", "right"), ("Run", "left"), ("Model", "left"), ("Unscored\n未评分", "right"),
                              ("Blocked\n拦截", "right"), ("No answer\n无回答", "right")):  # fmt: skip
            table.add_column(name, justify=justify)  # type: ignore[arg-type]
        for col in COLUMNS:
            table.add_column(_column_title(col) + "\nrate / score", justify="right")
        for i, e in enumerate(g.entries):
            cells: list[Text] = []
            for col in COLUMNS:
                rate, score = _cell(e.stats(col))
                t = Text()
                t.append(rate, style="bold green" if i in g.best[col][0] else None)
                t.append(" / ")
                t.append(score, style="bold green" if i in g.best[col][1] else None)
                t.append("\n" + _intervals(e.stats(col)), style="dim")
                if withheld := _withheld(e.stats(col)):
                    t.append("\n" + withheld, style="yellow")
                cells.append(t)
            table.add_row(str(i + 1), Text(e.name), Text(e.model), str(e.unscored), str(e.blocked), str(e.no_answer),
                          *cells)  # fmt: skip
        parts.append(table)
    parts += [Text(n, style="yellow") for n in board.notes()]
    parts += [Text(f"Skipped {r}: {why}", style="dim") for r, why in board.skipped]
    parts.append(Text("Bold green = best in column; intervals are 95% prompt-bootstrap.", style="dim"))
    return RichGroup(*parts)


def to_html(board: Leaderboard) -> str:
    """A small self-contained page (no scripts) with the same cells as the other formats."""
    from jinja2 import Environment, PackageLoader

    env = Environment(loader=PackageLoader("flames.report", "templates"), autoescape=True)
    groups = [
        {
            "title": f"Group {gi}: {g.describe()}",
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
        columns=[_column_title(c) for c in COLUMNS], groups=groups, notes=board.notes(), skipped=board.skipped
    )


def render(board: Leaderboard, fmt: Format) -> str | RichGroup:
    if fmt == "json":
        return json.dumps(to_json(board), ensure_ascii=False, indent=2)
    if fmt == "csv":
        return to_csv(board)
    if fmt == "markdown":
        return to_markdown(board)
    if fmt == "html":
        return to_html(board)
    return rich_tables(board)
