"""SIGKILL in the middle of writing: the store stays intact and keeps everything committed before the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from sqlalchemy import text

from flames.store import Store

WRITER = textwrap.dedent(
    """
    import sys
    from flames.prompts import load_prompt_set
    from flames.records import Completion, Judgment
    from flames.store import RunSpec, Store

    store = Store(sys.argv[1])
    run = store.open_run(RunSpec("crash", "openai:m", "openai", {}), load_prompt_set(sys.argv[2]))
    scorer = store.scorer("s", {})
    for slot in store.pending(run):
        store.save_response(run.id, slot, Completion("回答" * 200, "stop"))
        print(slot.prompt.id, flush=True)  # printed only after the commit returned
    for resp in store.responses(run):
        store.save_judgment(resp.id, scorer, Judgment(str(resp.id), resp.prompt.dimension, 3))
    """
)


def test_sigkill_mid_write_keeps_committed_rows(tmp_path: Path, flames_1k: Path) -> None:
    db = tmp_path / "crash.db"
    url = f"sqlite:///{db}"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, url, str(flames_1k)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    committed = [proc.stdout.readline().strip() for _ in range(150)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    store = Store(url)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    run = store.get_run("crash")
    stored = {r.prompt.id for r in store.responses(run)}
    assert set(committed) <= stored  # nothing acknowledged was lost
    assert len(stored) < 1000  # the kill really happened mid-run
    # and the run resumes where it stopped: only the missing slots are pending
    assert len(store.pending(run)) == 1000 - len(stored)
