"""The store side of scale-out: the batch tables' migration matches the models, and reserved work is not pending."""

from __future__ import annotations

import json
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import flames.annotate.schema  # noqa: F401  (its tables are part of the schema)
from flames.prompts import read_prompt_file
from flames.records import Completion
from flames.shard import Shard
from flames.store import BatchItem, RunSpec, Store
from flames.store.schema import Base


def test_migrations_create_exactly_the_models_tables(store_url: str) -> None:
    store = Store(store_url)
    with store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_open_batches_hold_their_slots_and_shards_split_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "p.jsonl"
    rows = [{"id": f"x{i}", "dimension": "Safety", "subcomponent": "Physical harm", "prompt": f"问{i}"}
            for i in range(8)]  # fmt: skip
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    store = Store(f"sqlite:///{tmp_path / 'f.db'}")
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}, samples=2), read_prompt_file(path))
    slots = store.pending(run)
    assert len(slots) == 16
    held = slots[:3]
    batch = store.add_batch(
        run.id, kind="generate", provider="openai", base_url="http://x/v1", endpoint="/v1/chat/completions",
        api_key_env="K", model="m", n_bytes=1,
        items=[BatchItem(f"{s.prompt_row_id}-{s.sample_index}", s.prompt_row_id, s.sample_index) for s in held],
    )  # fmt: skip
    left = store.pending(run)
    assert len(left) == 13 and not {(s.prompt_row_id, s.sample_index) for s in held} & {
        (s.prompt_row_id, s.sample_index) for s in left
    }
    halves = [store.pending(run, shard=Shard(i, 2)) for i in range(2)]
    assert sorted(s.prompt.id for h in halves for s in h) == sorted(s.prompt.id for s in left)
    assert all(s.prompt.id == t.prompt.id for h in halves for s in h for t in h if s.prompt_row_id == t.prompt_row_id)
    store.save_response(run.id, held[0], Completion("答"))
    assert store.answered(run.id, held) == {(held[0].prompt_row_id, held[0].sample_index)}
    store.close_batch(batch.id, {"answers": 1})
    assert len(store.pending(run)) == 15  # closing hands back what the batch did not answer
    store.update_run(run.id, status="complete")
    store.update_run(run.id, status="partial")
    assert store.get_run("r").status == "complete"  # a late writer never undoes 'complete'
    store.delete_run("r")  # its batches go with it
    assert store.batches(run.id) == [] and not store.has_run("r")
