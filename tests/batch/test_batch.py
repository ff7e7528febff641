"""Provider batch APIs against a loopback fake of /files and /batches: submit, record at once, collect exactly
once, and every way a batch can end badly (half failed, expired, failed, cancelled, a lost reply, a crash)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from batch.batch_server import BatchServer
from batch.conftest import prompt_text
from collect.chat_server import ChatServer
from typer.testing import CliRunner

from flames.batch import BatchError
from flames.batch.files import request_line, split_lines
from flames.batch.providers import DASHSCOPE, OPENAI, ZHIPU, BatchProvider, provider_for
from flames.cli import app
from flames.cli.app import USER_ERRORS
from flames.records import Completion
from flames.store import BatchItem, Store, WorkItem

runner = CliRunner()


def flames(*args: str) -> tuple[int, str]:
    """Exit code and output with line breaks folded (the console wraps at 80 columns)."""
    result = runner.invoke(app, list(args))
    if isinstance(result.exception, USER_ERRORS):
        return 2, " ".join(str(result.exception).split())
    return result.exit_code, " ".join(result.output.split())


def generate(url: str, db: str, prompts: Path, *extra: str, model: str = "openai:m") -> tuple[int, str]:
    return flames("generate", "--model", model, "--run", "r", "--db", db, "--prompts", str(prompts),
                  "--base-url", url, "--no-progress", *extra)  # fmt: skip


def answers(store: Store) -> dict[str, str]:
    return {r.prompt.prompt: r.text for r in store.responses(store.get_run("r"))}


def test_batch_is_recorded_at_once_holds_its_slots_and_is_imported_exactly_once(
    prompts_file: Path, db_url: str
) -> None:
    with BatchServer() as server:
        code, out = generate(server.base_url, db_url, prompts_file, "--batch", "--max-new-tokens", "64")
        assert code == 0 and "10 requests submitted to openai" in out, out
        store = Store(db_url)
        run = store.get_run("r")
        [batch] = store.batches(run.id)
        assert batch.remote_id in server.batches and batch.input_file_id and batch.status == "validating"
        assert run.status == "batch"
        lines = server.input_lines(batch.remote_id)
        assert lines[0]["method"] == "POST" and lines[0]["url"] == "/v1/chat/completions"
        assert lines[0]["body"] == {"model": "m", "messages": [{"role": "user", "content": prompt_text(0)}],
                                    "max_tokens": 64, "temperature": 0.0}  # fmt: skip
        # while the batch is open its slots are held: no second batch, no live request pays for them again
        assert store.pending(run) == []
        assert (
            "no requests left to submit"
            in generate(server.base_url, db_url, prompts_file, "--batch", "--max-new-tokens", "64")[1]
        )
        assert server.creates == 1
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0 and "10 results imported, 10 requests billed" in out, out
        assert answers(store) == {prompt_text(i): f"回答：{prompt_text(i)}" for i in range(10)}
        run = store.get_run("r")
        assert run.status == "complete" and run.resolved_model == "served/m"
        [stored] = store.responses(run)[:1]
        assert stored.finish_reason == "stop" and stored.completion_tokens
        # a second collect finds nothing to import; nothing was billed twice
        assert "no open batches" in flames("batch", "collect", "r", "--db", db_url)[1]
        assert len(server.billed) == 10 and set(server.billed.values()) == {1}
        [closed] = store.batches(run.id)
        assert closed.result["answers"] == 10 and closed.result["billed"] == 10 and closed.result["prompt_tokens"] > 0
        code, out = flames("batch", "status", "r", "--db", db_url, "--json")
        assert code == 0 and '"status": "collected"' in out


def test_files_are_split_at_the_providers_limits(prompts_file: Path, db_url: str) -> None:
    with BatchServer() as server:
        code, out = generate(server.base_url, db_url, prompts_file, "--batch", "--batch-max-requests", "4")
        assert code == 0 and "in 3 batch(es)" in out, out
        store = Store(db_url)
        run = store.get_run("r")
        assert [b.n_requests for b in store.batches(run.id)] == [4, 4, 2]
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    assert len(answers(store)) == 10 and set(server.billed.values()) == {1}
    items = [BatchItem(f"c{i}", i) for i in range(5)]
    lines = [request_line(it, "/v1/chat/completions", {"model": "m", "messages": [], "x": "字" * 20}) for it in items]
    small = BatchProvider("t", "/v1/chat/completions", 100, max_bytes=3 * len(lines[0].data))
    assert [len(c) for c in split_lines(lines, small)] == [3, 2]
    tiny = BatchProvider("t", "/v1/chat/completions", 100, max_bytes=len(lines[0].data) - 1)
    with pytest.raises(BatchError, match=r"c0 is .* bytes, over t's limit"):
        split_lines(lines, tiny)


def test_error_lines_of_a_half_completed_batch_go_back_to_pending_and_a_new_batch_finishes_the_run(
    prompts_file: Path, db_url: str
) -> None:
    with BatchServer(fates=["half", "complete"]) as server:
        assert generate(server.base_url, db_url, prompts_file, "--batch")[0] == 0
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0 and "5 results imported" in out and "5 back to pending" in out, out
        store = Store(db_url)
        run = store.get_run("r")
        failures = store.failures(run)
        assert len(failures) == 5 and all("batch: HTTP 500" in e and "internal error" in e for _, _, e in failures)
        assert len(store.pending(run)) == 5
        code, out = generate(server.base_url, db_url, prompts_file, "--batch")
        assert "5 requests submitted" in out, out
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    assert len(answers(store)) == 10 and store.failures(run) == []
    assert store.get_run("r").status == "complete"
    assert len(server.billed) == 10 and set(server.billed.values()) == {1}


def test_an_expired_batch_keeps_what_it_answered_and_the_rest_is_asked_live(prompts_file: Path, db_url: str) -> None:
    with BatchServer(fates=["expire"]) as server:
        assert generate(server.base_url, db_url, prompts_file, "--batch")[0] == 0
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    store = Store(db_url)
    assert len(answers(store)) == 5
    assert all("batch_expired" in e for _, _, e in store.failures(store.get_run("r")))
    with ChatServer() as live:
        code, out = generate(live.base_url, db_url, prompts_file)
        assert code == 0, out
    assert live.requests == 5 and set(live.answered.values()) == {1}
    assert set(answers(store)) == {prompt_text(i) for i in range(10)}
    assert not set(live.answered) & set(server.billed)  # no slot paid for twice


def test_a_failed_batch_stores_nothing_and_hands_every_request_back(prompts_file: Path, db_url: str) -> None:
    with BatchServer(fates=["fail"]) as server:
        assert generate(server.base_url, db_url, prompts_file, "--batch")[0] == 0
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0 and "0 results imported, 0 requests billed" in out and "10 back to pending" in out, out
    store = Store(db_url)
    run = store.get_run("r")
    [batch] = store.batches(run.id)
    assert batch.result["status"] == "failed" and not batch.is_open
    assert answers(store) == {} and len(store.pending(run)) == 10 and not server.billed


def test_cancel_keeps_what_was_finished(prompts_file: Path, db_url: str) -> None:
    with BatchServer(fates=["slow"]) as server:
        assert generate(server.base_url, db_url, prompts_file, "--batch")[0] == 0
        code, out = flames("batch", "status", "r", "--db", db_url, "--json")
        assert code == 0 and '"status": "in_progress"' in out
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert "1 batch(es) still running" in out and "in_progress" in out
        code, out = flames("batch", "cancel", "r", "--db", db_url)
        assert code == 0 and "cancelling" in out, out
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    store = Store(db_url)
    run = store.get_run("r")
    assert len(answers(store)) == 5 and len(store.pending(run)) == 5 and store.failures(run) == []
    assert store.batches(run.id)[0].result["unanswered"] == 5


def test_a_lost_create_reply_is_found_by_metadata_not_created_twice(prompts_file: Path, db_url: str) -> None:
    with BatchServer(lost_create_replies=1) as server:
        code, out = generate(server.base_url, db_url, prompts_file, "--batch")
        assert code == 0, out
        assert server.creates == 1 and len(server.batches) == 1
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    assert len(answers(Store(db_url))) == 10 and set(server.billed.values()) == {1}


def test_a_submission_that_died_is_finished_or_given_back_by_collect(
    prompts_file: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flames.batch import collect as collect_module
    from flames.batch import submit as submit_module

    class Killed(BaseException):
        """The process dying at this point (nothing after it runs)."""

    async def crash(*args: object) -> None:
        raise Killed

    with BatchServer() as server:
        with monkeypatch.context() as m:  # killed after the upload, before the batch was created
            m.setattr(submit_module, "create_remote", crash)
            with pytest.raises(Killed):
                runner.invoke(app, ["generate", "--model", "openai:m", "--run", "r", "--db", db_url, "--prompts",
                                    str(prompts_file), "--base-url", server.base_url, "--batch"],
                              catch_exceptions=False)  # fmt: skip
        store = Store(db_url)
        run = store.get_run("r")
        [batch] = store.batches(run.id)
        assert batch.status == "uploaded" and batch.remote_id is None and store.pending(run) == []
        # a fresh record may belong to a submission still in progress: left alone
        assert "still running" in flames("batch", "collect", "r", "--db", db_url)[1]
        assert server.creates == 0
        monkeypatch.setattr(collect_module, "STALE", timedelta(0))
        code, out = flames("batch", "collect", "r", "--db", db_url)
        assert code == 0 and "10 results imported" in out, out
        assert server.creates == 1 and set(server.billed.values()) == {1}
        # killed before the upload finished: nothing was billed, the requests go back to pending
        ps2 = prompts_file.with_name("more.jsonl")
        ps2.write_text(prompts_file.read_text(encoding="utf-8").replace("可以", "能"), encoding="utf-8")
        with monkeypatch.context() as m:
            m.setattr(submit_module.BatchClient, "upload", crash)
            with pytest.raises(Killed):
                args = ["generate", "--model", "openai:m", "--run", "r2", "--db", db_url, "--prompts", str(ps2),
                        "--base-url", server.base_url, "--batch"]  # fmt: skip
                runner.invoke(app, args, catch_exceptions=False)
        run2 = store.get_run("r2")
        assert store.pending(run2) == []
        assert flames("batch", "collect", "r2", "--db", db_url)[0] == 0
        assert len(store.pending(run2)) == 10 and server.creates == 1
        assert "abandoned" in store.batches(run2.id)[0].result
        shown = json.loads(flames("batch", "status", "r2", "--db", db_url, "--json")[1])  # not "collected"
        assert [b["status"] for b in shown] == ["abandoned"]


def test_first_write_wins(prompts_file: Path, db_url: str) -> None:
    with BatchServer() as server:
        assert generate(server.base_url, db_url, prompts_file, "--batch")[0] == 0
        store = Store(db_url)
        run = store.get_run("r")
        [batch] = store.batches(run.id)
        first = store.batch_items(batch.id)[0]
        assert first.prompt_row_id is not None
        # another writer stored this slot first (e.g. an older live run on another machine)
        prompt = dict(store.prompts(run.prompt_set_id))[first.prompt_row_id]
        store.save_response(run.id, WorkItem(first.prompt_row_id, 0, prompt), Completion("先到的回答", "stop"))
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    assert answers(store)[prompt.prompt] == "先到的回答"
    [closed] = store.batches(run.id)
    assert closed.result["already_stored"] == 1 and closed.result["answers"] == 9


def test_zhipu_v4_paths_and_dashscopes_test_model(prompts_file: Path, db_url: str, tmp_path: Path) -> None:
    with BatchServer(prefix="/api/paas/v4", endpoints=["/v4/chat/completions"]) as zhipu:
        code, out = generate(
            zhipu.base_url, db_url, prompts_file, "--batch", "--batch-endpoint", "/v4/chat/completions"
        )
        assert code == 0, out
        assert {line["url"] for line in zhipu.input_lines(next(iter(zhipu.batches)))} == {"/v4/chat/completions"}
        assert flames("batch", "collect", "r", "--db", db_url)[0] == 0
    assert len(answers(Store(db_url))) == 10
    other = f"sqlite:///{tmp_path / 'ds.db'}"
    with BatchServer(endpoints=["/v1/chat/ds-test"]) as dashscope:
        code, out = generate(dashscope.base_url, other, prompts_file, "--batch", "--batch-endpoint", "/v1/chat/ds-test",
                             model="openai:batch-test-model")  # fmt: skip
        assert code == 0, out
        assert flames("batch", "collect", "r", "--db", other)[0] == 0
    assert set(answers(Store(other)).values()) == {"这是测试模型的固定回答。"}
    # the provider, its path and limits follow the base URL; the test model has its own path and small limits
    assert provider_for("https://api.openai.com/v1", "gpt-4o-mini") == OPENAI
    assert provider_for("https://dashscope.aliyuncs.com/compatible-mode/v1", "qwen-plus") == DASHSCOPE
    test = provider_for("https://dashscope.aliyuncs.com/compatible-mode/v1", "batch-test-model")
    assert (test.endpoint, test.max_requests, test.max_bytes) == ("/v1/chat/ds-test", 100, 1024 * 1024)
    zp = provider_for("https://open.bigmodel.cn/api/paas/v4", "glm-4-flash")
    assert zp == ZHIPU and zp.endpoint == "/v4/chat/completions" and "completion_window" not in zp.create_body
    assert (
        provider_for("http://gw:1/v1", "m", endpoint="v4/chat/completions", max_requests=10).endpoint
        == "/v4/chat/completions"
    )


def test_batch_needs_an_api_model_one_endpoint_and_a_key(
    prompts_file: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out = generate("http://127.0.0.1:9/v1", db_url, prompts_file, "--batch", model="hf:some/model")
    assert code == 2 and "needs an openai: model" in out
    code, out = flames("generate", "--model", "openai:m", "--run", "r", "--db", db_url, "--prompts", str(prompts_file),
                       "--base-url", "http://a:1/v1", "--base-url", "http://b:1/v1", "--batch")  # fmt: skip
    assert code == 2 and "single --base-url" in out
    monkeypatch.delenv("OPENAI_API_KEY")
    code, out = generate("http://127.0.0.1:9/v1", db_url, prompts_file, "--batch")
    assert code == 2 and "export OPENAI_API_KEY" in out


def test_batch_lines_are_read_like_live_replies() -> None:
    import json

    from flames.batch.files import read_results
    from flames.models.base import Failure
    from flames.models.context_length import is_context_length_error

    body = {"id": "c1", "model": "served/m", "usage": {"prompt_tokens": 3, "completion_tokens": 2},
            "choices": [{"message": {"role": "assistant", "content": "好的"}, "finish_reason": "stop"}]}  # fmt: skip
    too_long = {"error": {"message": "This model's maximum context length is 8192 tokens.",
                          "code": "context_length_exceeded"}}  # fmt: skip
    lines = [
        {"custom_id": "a", "response": {"status_code": 200, "body": body}, "error": None},
        {"custom_id": "b", "response": {"status_code": 400, "body": too_long}, "error": None},
        {"custom_id": "c", "response": {"status_code": 200, "body": {"choices": []}}, "error": None},
        {"custom_id": "d", "response": None, "error": {"code": "batch_expired", "message": "window expired"}},
    ]
    out = read_results("".join(json.dumps(x) + "\n" for x in lines).encode(), "out.jsonl")
    assert isinstance(out["a"], Completion) and out["a"].text == "好的" and out["a"].completion_tokens == 2
    assert isinstance(out["b"], Failure) and is_context_length_error(out["b"].error)  # final for the judge, as live
    assert isinstance(out["c"], Failure) and "malformed reply" in out["c"].error
    assert isinstance(out["d"], Failure) and out["d"].error == "batch: batch_expired: window expired"
    with pytest.raises(BatchError, match=r"out\.jsonl, line 1: not a batch result line"):
        read_results(b"{not json}\n", "out.jsonl")
