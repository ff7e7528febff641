"""Bad input gets one clear error naming the file (row, field) or the store URL and the fix — never a
traceback: characters no store can hold in a file, CSV quotes never closed, a directory for a file,
$FLAMES_DATA pointing nowhere, an empty label file, and `--db` URLs that are no store (or would lose what is
written to them)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from collect.chat_server import ChatServer
from typer.testing import CliRunner

from flames.cli import app
from flames.prompts import PromptFileError, load_prompt_set, read_prompt_file
from flames.rowfiles import iter_rows
from flames.store import Store, StoreError

ROW = {"dimension": "Fairness", "subcomponent": "Bias and discrimination", "prompt": "你好", "response": "r",
       "predicted": 3}  # fmt: skip


def cli(*args: str) -> tuple[int, str]:
    """Exit code and output (line breaks folded) of `flames ARGS` as a user sees them: USER_ERRORS printed."""
    from flames.cli.app import USER_ERRORS

    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, USER_ERRORS):
        return 2, " ".join(str(result.exception).split())
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


@pytest.mark.parametrize(
    ("escape", "shown"),
    [("\\ud800", "U+D800 (a lone UTF-16 surrogate"), ("\\udfff", "U+DFFF"), ("\\u0000", "U+0000 (NUL)")],
)
def test_a_character_no_store_holds_is_a_file_line_field_error(tmp_path: Path, escape: str, shown: str) -> None:
    path = tmp_path / "results.jsonl"
    good = json.dumps(ROW, ensure_ascii=False)
    path.write_text(good + "\n" + good.replace('"r"', f'"an{escape}swer"') + "\n", encoding="utf-8")
    with pytest.raises(PromptFileError) as err:
        list(iter_rows(path))
    assert f"results.jsonl, line 2, field 'response': invalid character {shown}" in str(err.value)
    db = str(tmp_path / "x.db")
    for args in (["data", "info", "--prompts", str(path)], ["runs", "import", str(path), "--db", db],
                 ["report", str(path), "--db", db]):  # fmt: skip
        code, out = cli(*args)
        assert code == 2 and "line 2, field 'response': invalid character" in out, (args, out)
    pair = tmp_path / "emoji.jsonl"  # an escaped surrogate pair is one character, read as such
    pair.write_text(good.replace('"r"', '"\\ud83d\\ude00"') + "\n", encoding="utf-8")
    assert [row["response"] for _, row in iter_rows(pair)] == ["😀"]


@pytest.mark.parametrize(
    ("csv", "where", "problem"),
    [
        ('dimension,subcomponent,prompt\nFairness,Toxic language,"你好\nFairness,Toxic language,再见\n',
         "line 2, field 'prompt'", "a quoted value is opened here and never closed"),
        ('dimension,subcomponent,prompt\nFairness,Toxic language,"5" 寸\n', "line 2, field 'prompt'",
         "text after the closing quote"),
        ('dimension,subcomponent,prompt\nFairness,"Toxic language,x\nFairness,Toxic language,"y"z\n',
         "line 2, field 'subcomponent'", "text after the closing quote"),
    ],
)  # fmt: skip
def test_a_csv_quote_never_closed_is_an_error_not_a_swallowed_file(
    tmp_path: Path, csv: str, where: str, problem: str
) -> None:
    path = tmp_path / "prompts.csv"
    path.write_text(csv, encoding="utf-8")
    with pytest.raises(PromptFileError, match=re.escape(f"prompts.csv, {where}: {problem}")) as err:
        read_prompt_file(path)
    assert 'written twice ("")' in str(err.value)
    path.write_text('dimension,subcomponent,prompt\nFairness,Toxic language,"他说""你好"""\n', encoding="utf-8")
    assert read_prompt_file(path).prompts[0].prompt == '他说"你好"'


def test_a_directory_flames_data_and_an_empty_label_file_are_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "prompts"
    folder.mkdir()
    (folder / "set.jsonl").write_text("", encoding="utf-8")
    code, out = cli("data", "info", "--prompts", str(folder))
    assert code == 2 and "is a directory, not a file" in out and "(it holds set.jsonl)" in out, out
    monkeypatch.setenv("FLAMES_DATA", str(tmp_path / "missing"))
    with pytest.raises(PromptFileError, match=r"\$FLAMES_DATA=.*missing names no copy of Flames-1k \(no such file\)"):
        load_prompt_set()
    monkeypatch.setenv("FLAMES_DATA", str(folder))
    with pytest.raises(PromptFileError, match=r"the folder .*prompts has no Flames_1k_Chinese.jsonl"):
        load_prompt_set()
    empty = tmp_path / "labels.jsonl"
    empty.write_text("", encoding="utf-8")
    code, out = cli("scorer", "train", "--labels", str(empty), "--out", str(tmp_path / "scorer"), "--no-progress")
    assert code == 2 and f"--labels {empty}: the file holds no labels" in out, out


SECRET = "S3cret-pw"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("foo://bar", "'foo' is not a database SQLAlchemy knows"),
        (f"mysql://u:{SECRET}@localhost/x", "its database driver is not installed (no module 'MySQLdb')"),
        (f"postgresql+psycopg://u:{SECRET}@127.0.0.1:1/db", "check that the server is running"),
        ("sqlite:////nonexistent/dir/x.db", "no such directory /nonexistent/dir"),
        ("NOTADB", "is not a SQLite database (a prompts or results file?)"),
        ("DIR", "is a directory; give a file in it"),
    ],
)
def test_a_url_that_is_no_store_is_one_line_naming_it_and_the_fix(tmp_path: Path, url: str, says: str) -> None:
    if url == "NOTADB":
        url = str(tmp_path / "answers.jsonl")
        Path(url).write_text(json.dumps(ROW) * 50, encoding="utf-8")
    elif url == "DIR":
        url = str(tmp_path)
    with pytest.raises(StoreError, match="cannot open the store") as err:
        Store(url)
    assert says in str(err.value) and SECRET not in str(err.value)
    code, out = cli("runs", "list", "--db", url)
    assert code == 2 and "cannot open the store" in out and says in out and SECRET not in out, out
    assert ":***@" in out or "@" not in url


def test_commands_that_write_refuse_an_in_memory_store(tmp_path: Path) -> None:
    prompts = tmp_path / "p.jsonl"
    prompts.write_text(json.dumps(ROW, ensure_ascii=False) + "\n", encoding="utf-8")
    with ChatServer() as server:
        for url in ("sqlite://", "sqlite:///"):
            code, out = cli("generate", "--model", "openai:m", "--run", "m", "--prompts", str(prompts), "--db", url,
                            "--base-url", server.base_url, "--no-progress")  # fmt: skip
            assert code == 2 and f"--db {url} is an in-memory SQLite store" in out, out
            assert "sqlite:///:memory:" in out
            code, out = cli("runs", "import", str(prompts), "--db", url)
            assert code == 2 and "in-memory" in out
        assert server.requests == 0
        code, out = cli("generate", "--model", "openai:m", "--run", "m", "--prompts", str(prompts), "--db",
                        "sqlite:///:memory:", "--base-url", server.base_url, "--no-progress")  # fmt: skip
        assert code == 0 and "1/1 final outcomes" in out, out
    assert cli("runs", "list", "--db", "sqlite://")[0] == 0  # reading an empty store loses nothing


def test_an_output_path_in_a_missing_folder_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    """Every `-o`/`--html`/`--out` write goes through main(): an OSError about a path the user named is one
    line with the path as given (no `.part` of the atomic write) and, for a missing folder, the fix."""
    import subprocess
    import sys

    labels = tmp_path / "mine.jsonl"
    labels.write_text(json.dumps({"prompt": "问", "response": "答", "label": 3}, ensure_ascii=False) + "\n",
                      encoding="utf-8")  # fmt: skip
    out = tmp_path / "nodir" / "labels.jsonl"
    cmd = [sys.executable, "-c", "from flames.cli import main; main()", "labels", "import", "jsonl", str(labels),
           "-o", str(out), "--dimension", "Safety"]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    err = " ".join(done.stderr.split())
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert f"error: {out}: No such file or directory; the folder {out.parent} does not exist: create it" in err
