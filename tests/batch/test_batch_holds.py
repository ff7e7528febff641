"""A batch holds its slots through the store's leases (`flames.store.holds`): one whose upload or creation
failed gives them back at once; one still open is named, with what to do, by a live run it leaves nothing to
(never "nothing to do" with slots not final, and a non-zero exit)."""

from __future__ import annotations

from pathlib import Path

from batch.batch_server import BatchServer
from batch.test_batch import answers, generate

from flames.store import Store


def test_a_batch_whose_upload_failed_gives_its_slots_back_at_once(prompts_file: Path, db_url: str) -> None:
    with BatchServer(key="sk-another") as server:  # the provider refuses our key at the upload
        code, out = generate(server.base_url, db_url, prompts_file, "--batch")
        assert code == 2 and "/files" in out and "HTTP 401" in out, out
        store = Store(db_url)
        run = store.get_run("r")
        [batch] = store.batches(run.id)
        assert not batch.is_open and "the upload failed" in batch.result["abandoned"]
        assert len(store.pending(run)) == 10
        code, out = generate(server.base_url, db_url, prompts_file)  # live: every slot asked, none held
        assert code == 0 and "recorded now 10 answered" in out and server.live == 10, out
    assert len(answers(store)) == 10


def test_a_batch_the_provider_refused_to_create_gives_its_slots_back(prompts_file: Path, db_url: str) -> None:
    with BatchServer(endpoints=("/v4/chat/completions",)) as server:  # it takes no /v1 batches: HTTP 400
        code, out = generate(server.base_url, db_url, prompts_file, "--batch")
        assert code == 2 and "HTTP 400" in out, out
        store = Store(db_url)
        run = store.get_run("r")
        [batch] = store.batches(run.id)
        assert not batch.is_open and "creating it failed" in batch.result["abandoned"] and server.creates == 0
        assert len(store.pending(run)) == 10


def test_slots_held_by_an_open_batch_are_named_not_called_nothing_to_do(prompts_file: Path, db_url: str) -> None:
    with BatchServer(fates=["slow"]) as server:
        code, out = generate(server.base_url, db_url, prompts_file, "--batch", "--batch-max-requests", "6")
        assert code == 0, out
        store = Store(db_url)
        first, second = (b.remote_id for b in store.batches(store.get_run("r").id))
        code, out = generate(server.base_url, db_url, prompts_file)
        assert code == 1 and server.live == 0, out
        assert "nothing to do" not in out and "0/10 final outcomes" in out
        assert f"6 held by open batch {first} (status validating)" in out
        assert f"4 held by open batch {second}" in out and "`flames batch cancel r`" in out
