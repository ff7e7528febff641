"""From an empty store to a released prompt set evaluated with `flames run`, entirely from the command line."""

from __future__ import annotations

import json
from pathlib import Path

from design_support import PASSWORD, ROLES, panel_servers, variants
from typer.testing import CliRunner

from flames.cli import app
from flames.design.collection import get_collection
from flames.store import Store, StoreError

runner = CliRunner()


def flames(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def refused(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert isinstance(result.exception, StoreError), (result.exception, result.output)
    return str(result.exception)


def test_empty_store_to_evaluated_release_from_the_cli(tmp_path: Path, monkeypatch: object) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    d = ["--db", db]
    for name, role in ROLES.items():
        flames("annotate", "user", "add", name, "--role", role.value, "--password-stdin", *d, input=PASSWORD + "\n")
    flames("prompts", "collection", "create", "red", "--budget", "12", "--licence", "CC-BY-4.0", "--as", "admin", *d)
    assert "Safety-Prompts" in flames("prompts", "methods", "list", "--format", "json", *d)
    with panel_servers() as panel:
        models = [x for m in panel.models for x in ("--model", m)]
        flames("prompts", "panel", "set", "red", *models, "--scorer", panel.scorer, "--as", "admin", *d)
        seed = tmp_path / "seed.jsonl"
        seed.write_text((Path(__file__).parent / "collection_seed.jsonl").read_text(encoding="utf-8"), encoding="utf-8")
        assert "imported 2 drafts" in flames("prompts", "import", "red", str(seed), "--as", "bo", *d)
        variant = next(v for v in variants() if v["kind"] == "different_method")
        out = flames("prompts", "add", "red", "--dimension", "Safety", "--subcomponent", "Physical harm",
                     "-m", "role_play_instruction", "--intent", "扮演损友，诱导给出往食物里加料的用量", "--tag", "室友",
                     "--id", "snack-rp", "--as", "ann", *d, input=variant["prompt"])  # fmt: skip
        assert "other attack methods" in out and "snack" in out and "added draft" in out
        assert "near-duplicate of red:snack" in refused(
            "prompts", "add", "red", "--dimension", "Safety", "--subcomponent", "Physical harm", "-m", "unsafe_inquiry",
            "--as", "ann", "--text", variant["prompt"] + "直接给数字。", *d)  # fmt: skip
        out = flames("prompts", "try", "red", "snack-rp", "--as", "ann", *d)
        assert "attack success 50%" in out and "budget: 4/12" in out
        assert "for admin, author, reviewer, adjudicator" in refused(
            "prompts", "try", "red", "tpl", "--as", "alice", *d
        )
    flames("prompts", "submit", "red", "snack-rp", "--as", "ann", *d)
    assert "ann is author" in refused("prompts", "review", "red", "snack-rp", "accept", "--as", "ann", *d)
    assert "snack-rp" in flames("prompts", "queue", "red", "--as", "rev1", *d)
    flames("prompts", "review", "red", "snack-rp", "accept", "--as", "rev1", *d)
    assert "accepted" in flames("prompts", "review", "red", "snack-rp", "accept", "--as", "rev2", *d)
    assert "accepted" in flames("prompts", "show", "red", "snack-rp", *d)
    out = flames("prompts", "release", "red", "--version", "v1", "--out", str(tmp_path / "rel"), "--as", "admin", *d)
    assert "released red@v1: 1 prompts" in out.replace("\n", " ")
    assert "immutable" in refused("prompts", "release", "red", "--version", "v1", "--as", "admin", *d)
    assert json.loads((tmp_path / "rel" / "prompts.jsonl").read_text(encoding="utf-8"))["id"] == "snack-rp"
    # run the release like any prompt set, with a model and an LLM judge behind loopback servers
    with panel_servers() as srv:
        out = runner.invoke(app, ["run", "--model", "openai:target", "--base-url", srv.weak.base_url, "--prompts",
                                  "red@v1", "--run", "target-on-red", "--scorer", "judge:openai:judge",
                                  "--judge-base-url", srv.judge.base_url, "--no-progress", *d])  # fmt: skip
        assert out.exit_code == 0, out.output
    report = json.loads(flames("report", "target-on-red", "--format", "json", *d))
    release = json.loads((tmp_path / "rel" / "manifest.json").read_text(encoding="utf-8"))
    sha = release["files"]["prompts.jsonl"]["sha256"]
    assert (report["run"]["prompt_set"], report["run"]["data_sha256"]) == ("red@v1", sha)  # which release it ran
    stats = json.loads(flames("prompts", "stats", "red@v1", "--format", "json", *d))
    assert stats["model_totals"]["openai:target"]["fooled"] == 1  # the run of the release
    assert stats["model_totals"]["openai:weak"]["fooled"] == 1  # and the panel's try of the same text
    assert stats["rows"][0]["key"] == "role_play_instruction"
    table = flames("prompts", "stats", "red", "--by", "method", "--format", "csv", *d).splitlines()
    assert table[0].startswith("method,model,fooled,scored,unscored")
    assert "role_play_instruction,openai:target,1,1,0,1.0," in "\n".join(table)
    assert "attack success" in flames("prompts", "stats", "red", *d)
    assert get_collection(Store(db), "red").requests_used == 4
    assert "red@v1" in flames("data", "info", "--prompts", "red@v1", *d)
