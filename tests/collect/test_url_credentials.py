"""Credentials in model servers' URLs (`https://user:password@host/v1`) are masked wherever a URL is recorded
or shown: run metadata (options, backend, endpoint pools), stored failure messages, `runs show`; places that
store a URL for later use (provider batches, the design panel) refuse one with credentials."""

from __future__ import annotations

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
from flames.models.base import BackendOptions
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
