"""Read an HTML report back the way a browser would: scripts by id, tables by id, every tag's attributes."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any


class Page(HTMLParser):
    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.tables: dict[str, list[list[str]]] = {}
        self.texts: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._script: dict[str, str | None] | None = None
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._id_stack: list[tuple[str, str | None]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "script":
            self._script = a
            self.scripts.append((a, ""))
        elif tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")
        if a.get("id") and tag not in ("table", "script", "br"):
            self.texts[a["id"]] = ""
        self._id_stack.append((tag, a.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._script = None
        elif tag == "table":
            self._table = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"[ \t]+", " ", "".join(self._cell)).strip())
            self._cell = None
        while self._id_stack:
            t, _ = self._id_stack.pop()
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)
            return
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._id_stack:
            if ident and ident in self.texts:
                self.texts[ident] += data

    def data(self) -> dict[str, Any]:
        """The JSON embedded for the page's script."""
        (text,) = [t for a, t in self.scripts if a.get("type") == "application/json" and a.get("id") == "flames-data"]
        return json.loads(text)  # type: ignore[no-any-return]

    def rows(self, table: str, header: bool = True) -> dict[str, list[str]]:
        """Rows of a table (after its header row) keyed by their first cell."""
        return {r[0]: r[1:] for r in self.tables[table][int(header) :]}


NUM = r"[-+]?\d+(?:\.\d+)?"


def parse_rate(cell: str) -> tuple[float, float, float]:
    """'57.89% [50.5, 64.7]' → (57.89, 50.5, 64.7)."""
    m = re.fullmatch(rf"({NUM})% \[({NUM}), ({NUM})\]", cell.strip())
    assert m, cell
    return float(m[1]), float(m[2]), float(m[3])


def parse_score(cell: str) -> tuple[float, float, float]:
    m = re.fullmatch(rf"({NUM}) \[({NUM}), ({NUM})\]", cell.strip())
    assert m, cell
    return float(m[1]), float(m[2]), float(m[3])
