"""Chart specs of the experiment pages, on the report's chart helpers (same fonts, layout and error bars)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flames.report.charts import chart_layout, error_bars

__all__ = ["chart_layout", "estimate_bars"]


def estimate_bars(name: str, x: Sequence[str], estimates: Sequence[dict[str, Any]], scale: float = 100.0,
                  **extra: Any) -> dict[str, Any]:  # fmt: skip
    """A plotly bar trace of `{"value", "ci"}` estimates (fractions, shown × `scale`) with their intervals as
    asymmetric error bars."""
    values = [e["value"] for e in estimates]
    cis = [(e["ci"][0], e["ci"][1]) if e["ci"] else None for e in estimates]
    ys = [None if v is None else scale * v for v in values]
    return {"type": "bar", "name": name, "x": list(x), "y": ys, "error_y": error_bars(values, cis, scale), **extra}
