"""`flames generate` end to end against the loopback server: commit per answer, resume, refusals."""

from __future__ import annotations

from pathlib import Path

from collect.chat_server import TRANSIENT_FAULTS, ChatServer
from collect.conftest import MakePrompts, prompt_text
from typer.testing import CliRunner

from flames.cli import app
from flames.cli.app import USER_ERRORS
from flames.store import Store

runner = CliRunner()


def cli(server: ChatServer, db_url: str, prompts: Path, *args: str) -> tuple[int, str]:
    """Exit code and output; a user error (printed by `flames` without traceback, exit 2) comes back as 2."""
    result = runner.invoke(
        app,
        ["generate", "--model", "openai:tiny", "--run", "r", "--db", db_url, "--prompts", str(prompts),
         "--base-url", server.base_url, "--timeout", "0.5", "--no-progress", *args],
    )  # fmt: skip
    if isinstance(result.exception, USER_ERRORS):
        return 2, str(result.exception)
    return result.exit_code, result.output


def test_faulty_server_run_completes_without_loss_duplicates_or_stored_errors(
    make_prompts: MakePrompts, db_url: str
) -> None:
    ps = make_prompts(30)

    def faults(prompt: str, attempt: int) -> str | None:
        i = int(prompt[1:].split("个")[0])
        return TRANSIENT_FAULTS[i % 7] if i % 7 < len(TRANSIENT_FAULTS) and attempt <= 2 else None

    # a 2 s timeout (not the helper's 0.5 s): on a loaded machine a healthy answer can take longer than 0.5 s,
    # and the server counts an answer the client gave up on, which would read as paying twice
    with ChatServer(faults=faults, hang_s=3.0, retry_after="0.1") as server:
        code, out = cli(server, db_url, Path(ps.source), "--concurrency", "16", "--timeout", "2")
    assert code == 0, out
    store = Store(db_url)
    run = store.get_run("r")
    rows = store.responses(run)
    assert [r.prompt.prompt for r in rows] == [prompt_text(i) for i in range(30)]
    assert all(r.text == f"回答：{r.prompt.prompt}" for r in rows)
    assert store.failures(run) == [] and run.status == "complete"
    assert all(server.answered[p.prompt] == 1 for p in ps.prompts)
    assert run.resolved_model == "served/tiny"


def test_rerun_resumes_retries_failures_and_never_asks_twice(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(6)
    broken = prompt_text(2)
    with ChatServer(faults=lambda p, n: "500" if p == broken else None) as server:
        code, out = cli(server, db_url, Path(ps.source), "--max-retries", "1")
        assert code == 1 and "1 items failed" in out
        store = Store(db_url)
        run = store.get_run("r")
        assert [(p.prompt, e[:8]) for p, _, e in store.failures(run)] == [(broken, "HTTP 500")]
        assert broken not in {r.prompt.prompt for r in store.responses(run)}
        asked = server.requests
    with ChatServer() as healed:
        code, out = cli(healed, db_url, Path(ps.source))
        assert code == 0, out
        assert healed.requests == 1 and healed.answered[broken] == 1
        assert cli(healed, db_url, Path(ps.source))[1].startswith("run r: nothing to do")
        assert healed.requests == 1
    assert asked == 5 + 2
    assert len(store.responses(run)) == 6 and store.failures(run) == []


def test_changed_config_under_same_run_is_refused(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(2)
    with ChatServer() as server:
        assert cli(server, db_url, Path(ps.source))[0] == 0
        code, out = cli(server, db_url, Path(ps.source), "--temperature", "0.7")
    assert code == 2 and "different model or generation config" in out
    assert server.requests == 2


def test_samples_system_prompt_body_and_limit(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(5)
    with ChatServer() as server:
        code, out = cli(
            server, db_url, Path(ps.source), "--samples", "2", "--seed", "7", "--limit", "2",
            "--system-prompt", "你是助手", "--body", '{"top_k": 5}', "--temperature", "0.8",
        )  # fmt: skip
    assert code == 0, out
    assert sorted((b["messages"][1]["content"], b["seed"]) for b in server.bodies) == [
        (prompt_text(0), 7), (prompt_text(0), 8), (prompt_text(1), 7), (prompt_text(1), 8)
    ]  # fmt: skip
    assert all(b["messages"][0] == {"role": "system", "content": "你是助手"} and b["top_k"] == 5 for b in server.bodies)
    store = Store(db_url)
    run = store.get_run("r")
    assert run.generation_config["extra"] == {"top_k": 5} and run.status == "partial"
    assert [(r.prompt.prompt, r.sample_index) for r in store.responses(run)] == [
        (prompt_text(0), 0), (prompt_text(0), 1), (prompt_text(1), 0), (prompt_text(1), 1)
    ]  # fmt: skip


def test_bad_body_and_header_are_usage_errors(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(1)
    with ChatServer() as server:
        code, out = cli(server, db_url, Path(ps.source), "--body", "{top_k: 5}")
        assert code == 2 and "--body" in out and "not valid JSON" in out
        code, out = cli(server, db_url, Path(ps.source), "--header", "no-colon")
        assert code == 2 and "Name: value" in out
        code, out = cli(server, db_url, Path(ps.source), "--model", "gpt-4o")
        assert code == 2 and "KIND:TARGET" in out
    assert server.requests == 0


def test_a_rejected_key_stops_the_run_and_keeps_what_was_answered(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(6)
    with ChatServer(faults=lambda p, n: "401" if p == prompt_text(3) else None) as server:
        code, out = cli(server, db_url, Path(ps.source), "--concurrency", "1")
    assert code == 2 and "HTTP 401" in out and "OPENAI_API_KEY" in out
    store = Store(db_url)
    run = store.get_run("r")
    assert [r.prompt.prompt for r in store.responses(run)] == [prompt_text(i) for i in range(3)]
    assert run.status == "partial" and server.requests == 4


def test_a_model_that_does_not_load_leaves_no_run_behind(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(2)
    with ChatServer() as server:
        code, out = cli(server, db_url, Path(ps.source), "--model", "hf:/no/such/model")
        assert code == 2 and "no such model directory" in out
        assert not Store(db_url).has_run("r")
        assert cli(server, db_url, Path(ps.source))[0] == 0  # the fixed command reuses the name
    assert Store(db_url).get_run("r").model_spec == "openai:tiny"
