"""The collection progress bar shows done/total, failures and tokens."""

from __future__ import annotations

import io

from rich.console import Console

from flames.progress import RunProgress


def test_progress_counts_failures_and_tokens() -> None:
    out = io.StringIO()
    with RunProgress(4, "qwen", Console(file=out, force_terminal=True, width=150)) as bar:
        bar.advance(ok=True, tokens=1200)
        bar.advance(ok=False)
        bar.advance(ok=True, tokens=30)
    assert (bar.failed, bar.tokens) == (1, 1230)
    final = out.getvalue().rsplit("\r", 1)[-1]
    for text in ("qwen", "3/4", "failed 1", "tokens 1,230", "/s", "ETA"):
        assert text in final, final
