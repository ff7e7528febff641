"""Mapping rules (a source's own labels → FLAMES scores) and the tally every import prints.

A rule has an id and a version, written into each record's `mapping`, so a label set always says how its
scores were made. Applying a rule to one native label has three outcomes:

- *kept*: the native label maps to a score on the dimension's scale;
- *collapsed*: it maps to 2 on a 3/1 dimension (Legality, Data protection) and becomes 1 — the FLAMES
  binary dimensions count everything short of harmless as 1;
- *dropped*: the rule excludes it on purpose (e.g. ShieldLM's "controversial"), the value is unknown, or the
  row cannot be a label (no response, no label); the reason is counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flames.taxonomy import Dimension, info


def native_key(value: Any) -> str:
    """How a native label is looked up in a rule: stripped, lower-case text (`True` → 'true', 1.0 → '1')."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


@dataclass(frozen=True)
class MappingRule:
    """Native label → FLAMES score (None: dropped on purpose), with an id and version recorded per record."""

    id: str
    version: int
    description: str
    scores: Mapping[str, int | None]
    """Keys as `native_key` spells them."""

    @property
    def ref(self) -> dict[str, Any]:
        """The `mapping` field of a record made by this rule."""
        return {"rule": self.id, "version": self.version}

    @property
    def binary(self) -> bool:
        """True when the rule only ever gives 3 or 1: its labels cannot check the 3-vs-2 boundary."""
        return {s for s in self.scores.values() if s is not None} <= {3, 1}


@dataclass
class RuleTally:
    kept: Counter[str] = field(default_factory=Counter)
    """'native → score' counts."""
    collapsed: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    """Reason counts."""


@dataclass
class ImportTally:
    """What each mapping rule did during one import: kept, collapsed and dropped counts, with reasons."""

    rules: dict[str, MappingRule] = field(default_factory=dict)
    counts: dict[str, RuleTally] = field(default_factory=dict)

    def _of(self, rule: MappingRule) -> RuleTally:
        self.rules.setdefault(rule.id, rule)
        return self.counts.setdefault(rule.id, RuleTally())

    def apply(self, rule: MappingRule, native: Any, dimension: Dimension) -> int | None:
        """The score `rule` gives `native` on `dimension`'s scale (None when dropped), counted."""
        key = native_key(native)
        tally = self._of(rule)
        if key not in rule.scores:
            known = ", ".join(repr(k) for k in rule.scores)
            tally.dropped[f"unknown label {key!r} (the rule knows {known})"] += 1
            return None
        score = rule.scores[key]
        if score is None:
            tally.dropped[f"{key!r} is excluded by the rule"] += 1
            return None
        if score not in info(dimension).scale:
            low = info(dimension).scale[-1]
            tally.collapsed[f"{key} → {score} → {low} ({dimension.value} is scored 3/1)"] += 1
            return low
        tally.kept[f"{key} → {score}"] += 1
        return score

    def keep(self, rule: MappingRule, what: str) -> None:
        """Count a record kept without mapping (e.g. a row already in the normalised format)."""
        self._of(rule).kept[what] += 1

    def drop(self, rule: MappingRule, reason: str) -> None:
        """Count a row the rule could not use (no response, no label…)."""
        self._of(rule).dropped[reason] += 1

    def map_only(self, rule: MappingRule, native: Any, dimension: Dimension) -> int | None:
        """The score without counting it (for secondary labels such as individual annotators')."""
        score = rule.scores.get(native_key(native))
        if score is None:
            return None
        return score if score in info(dimension).scale else info(dimension).scale[-1]

    @property
    def binary(self) -> bool:
        """True when every rule used only gives 3 or 1."""
        return all(r.binary for r in self.rules.values())

    def lines(self) -> list[str]:
        """One summary line per rule and outcome, for the terminal."""
        out: list[str] = []
        for rule_id, t in self.counts.items():
            rule = self.rules[rule_id]
            out.append(f"rule {rule_id} v{rule.version}: {rule.description}")
            for what, counter in (("kept", t.kept), ("collapsed", t.collapsed), ("dropped", t.dropped)):
                total = sum(counter.values())
                detail = "; ".join(f"{k} ×{n}" for k, n in counter.most_common())
                out.append(f"  {what} {total}" + (f": {detail}" if detail else ""))
        return out

    def to_json(self) -> list[dict[str, Any]]:
        """Per rule: id, version, description and the three outcome counters (for the manifest)."""
        return [
            {
                **self.rules[rule_id].ref,
                "description": self.rules[rule_id].description,
                "binary": self.rules[rule_id].binary,
                "kept": dict(t.kept),
                "collapsed": dict(t.collapsed),
                "dropped": dict(t.dropped),
            }
            for rule_id, t in self.counts.items()
        ]
