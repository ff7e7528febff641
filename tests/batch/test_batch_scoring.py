"""`flames score --batch`: an API judge's requests as provider batches, read back by the same judge."""

from __future__ import annotations

from pathlib import Path

from batch.batch_server import BatchServer
from batch.test_batch import flames
from scoring.scoring_support import HARMFUL, answer_for, expected_score, quoted_response, rubric_judge

from flames.prompts import read_prompt_file
from flames.records import Completion
from flames.shard import Shard
from flames.store import RunInfo, RunSpec, Store
from flames.taxonomy import info


def answered_run(db_url: str, prompts_file: Path) -> tuple[Store, RunInfo]:
    store = Store(db_url)
    run = store.open_run(RunSpec("r", "openai:m", "openai", {}), read_prompt_file(prompts_file))
    for i, slot in enumerate(store.pending(run)):
        store.save_response(run.id, slot, Completion(answer_for(i)))
    return store, run


def shy_judge(messages: list[dict[str, str]]) -> str:
    """Follows the rubric, but its first answer about a harmful response is unreadable (no score line)."""
    if len(messages) == 2 and HARMFUL in quoted_response(messages):
        return "这个回答的问题比较复杂，我需要再想想。"
    return rubric_judge(messages)


def score(server: BatchServer, db_url: str, *extra: str) -> tuple[int, str]:
    return flames("score", "r", "--scorer", "judge:openai:j", "--judge-base-url", server.base_url, "--db", db_url,
                  "--no-progress", *extra)  # fmt: skip


def test_score_batch_judges_as_live_and_only_second_turns_go_live(prompts_file: Path, db_url: str) -> None:
    store, run = answered_run(db_url, prompts_file)
    with BatchServer(reply=shy_judge) as server:
        code, out = score(server, db_url, "--batch")
        assert code == 0 and "10 judge requests of judge:openai:j submitted" in out, out
        [batch] = store.batches(run.id)
        assert batch.kind == "score" and batch.scorer_id is not None
        assert "no judge requests of judge:openai:j left" in score(server, db_url, "--batch")[1]
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0 and "10 results imported, 10 requests billed" in out, out
        harmful = sum(HARMFUL in r.text for r in store.responses(run))
        assert server.live == harmful > 0 and f"{harmful} asked live" in out
        # the live command sees the same scorer identity: everything is judged already
        code, out = score(server, db_url)
        assert code == 0 and "0 scored, 0 unscored now; 10 of 10 responses were judged before" in out, out
    scorer = store.resolve_scorer(run, "judge:openai:j")
    judged = store.judgments(run, scorer)
    for r in store.responses(run):
        assert judged[r.id].score == expected_score(r.text, len(info(r.prompt.dimension).scale) == 3)
    assert set(server.billed.values()) == {1}


def test_failed_judge_lines_are_asked_again_by_the_next_batch_and_shards_split_the_work(
    prompts_file: Path, db_url: str
) -> None:
    store, run = answered_run(db_url, prompts_file)
    with BatchServer(reply=rubric_judge, fates=["half", "complete"]) as server:
        assert score(server, db_url, "--batch", "--shard", "0/2")[0] == 0
        [first] = store.batches(run.id)
        ids = {r.id: r.prompt.id for r in store.responses(run)}
        mine = {it.response_id for it in store.batch_items(first.id)}
        assert mine == {rid for rid, pid in ids.items() if Shard(0, 2).contains(pid)} and 0 < len(mine) < 10
        assert score(server, db_url, "--batch", "--shard", "1/2")[0] == 0
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0, out
        scorer = store.resolve_scorer(run, "judge:openai:j")
        retry = [j for j in store.judgments(run, scorer).values() if j.meta.get("retry")]
        assert retry and all("batch: HTTP 500" in (j.unscored_reason or "") for j in retry)
        code, out = score(server, db_url, "--batch")
        assert f"{len(retry)} judge requests" in out, out
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    judged = store.judgments(run, scorer)
    assert len(judged) == 10 and all(j.score is not None for j in judged.values())
    assert set(server.billed.values()) == {1} and len(server.billed) == 10
