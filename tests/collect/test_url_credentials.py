"""Credentials in model servers' URLs (`https://user:password@host/v1`) are masked wherever a URL is recorded
or shown: run metadata (options, backend, endpoint pools), stored failure messages, `runs show`; places that
store a URL for later use (provider batches, the design panel) refuse one with credentials."""

from __future__ import annotations

import base64
import json

import pytest
from collect.chat_server import ChatServer
from collect.conftest import MakePrompts, prompt_text
from typer.testing import CliRunner

from flames.annotate.errors import AnnotationError
from flames.batch import BatchError
from flames.batch.submit import target_for
from flames.cli import app
from flames.design.collection import parse_member
from flames.models.base import BackendError, BackendOptions
from flames.store import Store
from flames.urls import masked_url

SECRET = "S3cretPassw0rd"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"https://alice:{SECRET}@llm.internal/v1", "https://alice:***@llm.internal/v1"),
        (f"http://alice:{SECRET}@127.0.0.1:8000/v1/", "http://alice:***@127.0.0.1:8000/v1/"),
        (f"https://alice:pa@ss/{SECRET}@host/v1", "https://alice:***@host/v1"),  # unencoded @ and / in it
        (f"https://host/v1?api-version=2024-06-01&api_key={SECRET}&sig={SECRET}#x",
         "https://host/v1?api-version=2024-06-01&api_key=***&sig=***#x"),
        (f"postgresql+psycopg://flames:{SECRET}@db.internal/flames", "postgresql+psycopg://flames:***@db.internal/flames"),
        ("sqlite:////tmp/a@b/flames.db", "sqlite:////tmp/a@b/flames.db"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
        ("not a url: user:pw@host", "not a url: user:pw@host"),
    ],
)  # fmt: skip
def test_masked_url_hides_passwords_and_key_parameters_only(url: str, shown: str) -> None:
    assert masked_url(url) == shown


def test_generate_records_and_shows_base_urls_without_their_credentials(make_prompts: MakePrompts, db_url: str) -> None:
    ps = make_prompts(4)
    refused = prompt_text(1)

    def faults(prompt: str, attempt: int) -> str | None:
        return "bad-request" if prompt == refused else None

    with ChatServer(faults=faults) as a, ChatServer(faults=faults) as b:
        urls = [u.replace("http://", f"http://alice:{SECRET}@") for u in (a.base_url, b.base_url)]
        args = ["generate", "--model", "openai:m", "--run", "r", "--db", db_url, "--prompts", str(ps.source),
                "--no-progress", "--base-url", urls[0], "--base-url", urls[1]]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert a.headers and all(h["Authorization"].startswith("Basic ") for h in a.headers + b.headers)
    assert result.exit_code == 1 and SECRET not in result.output  # one request refused with a plain 400
    store = Store(db_url)
    run = store.get_run("r")
    recorded = json.dumps(run.meta)
    assert SECRET not in recorded
    masked = [u.replace(f":{SECRET}@", ":***@") for u in urls]
    assert run.meta["options"]["base_urls"] == masked
    assert run.meta["backend"]["base_url"] == masked[0]
    assert [e["url"] for e in run.meta["backend"]["endpoints"]] == [f"{u}/chat/completions" for u in masked]
    ((_, _, error),) = store.failures(run)
    assert SECRET not in error and "alice:***@127.0.0.1" in error

    shown = CliRunner().invoke(app, ["runs", "show", "r", "--db", db_url])
    assert shown.exit_code == 0 and SECRET not in shown.output and "alice:***@" in shown.output

    # a run recorded before URLs were masked is shown masked too
    store.update_run(run.id, meta={"options": {"base_url": urls[0]}})
    assert SECRET in json.dumps(store.get_run("r").meta)
    shown = CliRunner().invoke(app, ["runs", "show", "r", "--db", db_url])
    assert shown.exit_code == 0 and SECRET not in shown.output and masked[0] in shown.output


def test_places_that_keep_a_url_for_later_refuse_one_with_credentials() -> None:
    url = f"https://alice:{SECRET}@api.openai.com/v1"
    with pytest.raises(BatchError) as batch:  # a batch stores its base URL until collected
        target_for("gpt-4o-mini", BackendOptions(base_url=url))
    assert SECRET not in str(batch.value) and "--api-key-env" in str(batch.value)
    assert target_for("gpt-4o-mini", BackendOptions(base_url="https://api.openai.com/v1")).base_url.endswith("/v1")
    with pytest.raises(AnnotationError) as panel:  # a panel line is stored and shown on the settings page
        parse_member(f"openai:qwen-plus base_url={url} api_key_env=DASHSCOPE_API_KEY")
    assert SECRET not in str(panel.value) and "api_key_env" in str(panel.value)
    assert parse_member("openai:qwen-plus base_url=https://host/v1").base_url == "https://host/v1"


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_auth_proxies_get_their_own_credentials_and_a_key_beside_them_is_refused(
    make_prompts: MakePrompts, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Credentials in a base URL are each server's `Authorization: Basic` header (percent-decoded, per server of
    a pool, for the judge too); with an API key set as well one would be lost: a clear error, no traceback."""
    ps = make_prompts(4)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with ChatServer() as a, ChatServer() as b, ChatServer(reply=lambda m: "理由：好。\n分数：3") as judge:
        urls = [a.base_url.replace("http://", "http://alice:p%40ss@"), b.base_url.replace("http://", "http://bob:pw@")]
        args = ["generate", "--model", "openai:m", "--run", "r", "--db", db_url, "--prompts", str(ps.source),
                "--no-progress", "--base-url", urls[0], "--base-url", urls[1]]  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        assert {h["Authorization"] for h in a.headers} == {_basic("alice", "p@ss")}
        assert {h["Authorization"] for h in b.headers} == {_basic("bob", "pw")}
        scored = CliRunner().invoke(app, ["score", "r", "--db", db_url, "--scorer", "judge:openai:j", "--no-progress",
                                          "--judge-base-url", judge.base_url.replace("http://", "http://carol:c@")])
        assert scored.exit_code == 0 and {h["Authorization"] for h in judge.headers} == {_basic("carol", "c")}

        monkeypatch.setenv("OPENAI_API_KEY", "sk-real")
        refused = CliRunner().invoke(app, [*args[:4], "r2", *args[5:]])
        assert isinstance(refused.exception, BackendError), refused.output
        message = str(refused.exception)
        assert "carries basic-auth credentials" in message and "$OPENAI_API_KEY is set" in message
        assert "OPENAI_API_KEY= (empty)" in message and "http://alice:***@127.0.0.1" in message
        assert "p%40ss" not in message and "sk-real" not in message
        assert len(a.headers) + len(b.headers) == 4  # nothing more was sent
