"""Prompt sets: Flames-1k, users' files in three formats, and errors that say where and how to fix."""

from __future__ import annotations

import hashlib
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from flames import prompts as P
from flames.prompts import PromptFileError, load_prompt_set, prompt_id, read_prompt_file
from flames.taxonomy import Dimension

EXPECTED_1K = {  # docs/benchmark.md §1
    "Bias and discrimination": 195, "Toxic language": 54, "Physical harm": 70, "Mental harm": 52,
    "Property safety": 65, "Non-anthropomorphism": 242, "Disobey social norm": 71,
    "Non-environmental friendly": 54, "Chinese values": 76, "Law violation": 46, "Personal data": 54,
    "Sensitive information": 21,
}  # fmt: skip


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


ROW = {"dimension": "Fairness", "subcomponent": "Toxic language", "prompt": "你好"}


def test_flames_1k_counts_ids_and_name(flames_1k: Path) -> None:
    ps = load_prompt_set(flames_1k)
    assert ps.name == "flames-1k" and ps.sha256 == P.FLAMES_1K_SHA256 and len(ps) == 1000
    assert Counter(p.subcomponent for p in ps.prompts) == EXPECTED_1K
    assert Counter(p.dimension for p in ps.prompts)[Dimension.SAFETY] == 429
    assert len({p.id for p in ps.prompts}) == 1000
    assert load_prompt_set(flames_1k).prompts[17].id == ps.prompts[17].id  # stable across loads


def test_flames_1k_by_name_from_env_and_offline_error(flames_1k: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PromptFileError, match=r"--prompts .*FLAMES_DATA"):
        load_prompt_set("flames-1k")
    monkeypatch.setenv("FLAMES_DATA", str(flames_1k.parent))
    assert len(load_prompt_set("flames-1k")) == 1000


@pytest.fixture
def file_server(flames_1k: Path, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A loopback HTTP server standing in for the official URL."""
    root = tmp_path / "www"
    root.mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}", root
    srv.shutdown()


def test_download_verifies_sha256_and_caches(
    file_server: tuple[str, Path], flames_1k: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, root = file_server
    (root / "good.jsonl").write_bytes(flames_1k.read_bytes())
    (root / "bad.jsonl").write_bytes(flames_1k.read_bytes() + b"\n")
    monkeypatch.setattr(P, "FLAMES_1K_URL", f"{base}/bad.jsonl")
    with pytest.raises(PromptFileError, match="expected f53400dc"):
        P.flames_1k_path(offline=False)
    monkeypatch.setattr(P, "FLAMES_1K_URL", f"{base}/good.jsonl")
    path = P.flames_1k_path(offline=False)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == P.FLAMES_1K_SHA256
    (root / "good.jsonl").unlink()  # the cached copy is used from now on, even offline
    assert P.flames_1k_path(offline=True) == path


def test_user_sets_in_jsonl_csv_parquet_agree(tmp_path: Path) -> None:
    rows = [
        {**ROW, "attack_method": "disguise", "source": "team-a"},
        {"id": "q2", "dimension": "Virtue", "subcomponent": "chinese values", "prompt": "中庸之道？"},
    ]
    a = read_prompt_file(write_jsonl(tmp_path / "set.jsonl", rows))
    (tmp_path / "set.csv").write_text(
        "id,dimension,subcomponent,prompt,attack_method,source\n"
        ",Fairness,Toxic language,你好,disguise,team-a\nq2,Virtue,chinese values,中庸之道？,,\n",
        encoding="utf-8",
    )
    b = read_prompt_file(tmp_path / "set.csv")
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns = ["id", "dimension", "subcomponent", "prompt", "attack_method", "source"]
    pq.write_table(pa.Table.from_pylist([{c: r.get(c) for c in columns} for r in rows]), tmp_path / "set.parquet")
    c = read_prompt_file(tmp_path / "set.parquet")
    for ps in (a, b, c):
        first, second = ps.prompts
        assert first.id == prompt_id(Dimension.FAIRNESS, "Toxic language", "你好")
        assert first.attack_method == "disguise" and first.metadata == {"source": "team-a"}
        assert (second.id, second.dimension, second.subcomponent) == ("q2", Dimension.MORALITY, "Chinese values")


@pytest.mark.parametrize(
    ("content", "line", "field", "message"),
    [
        ('{"dimension": "Fairness",\n', 1, None, "invalid JSON"),
        ('{"dimension": "Honesty", "subcomponent": "x", "prompt": "p"}\n', 1, "dimension", "unknown dimension"),
        (
            '{"dimension": "Legality", "subcomponent": "Personal data", "prompt": "p"}\n',
            1, "subcomponent", "belongs to 'Data protection'",
        ),
        (
            '{"dimension": "Fairness", "subcomponent": "Toxic language", "prompt": "  "}\n',
            1, "prompt", "must not be empty",
        ),
        ('{"dimension": "Fairness", "subcomponent": "Toxic language"}\n', 1, "prompt", "missing required field"),
        ('["a"]\n', 1, None, "expected a JSON object"),
    ],
)  # fmt: skip
def test_errors_name_file_line_and_field(
    tmp_path: Path, content: str, line: int, field: str | None, message: str
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROW, ensure_ascii=False) + "\n" + content, encoding="utf-8")
    with pytest.raises(PromptFileError, match=message) as err:
        read_prompt_file(path)
    assert (err.value.path, err.value.line, err.value.field) == (str(path), line + 1, field)
    assert str(path) in str(err.value) and f"line {line + 1}" in str(err.value)


def test_duplicate_ids_point_at_both_lines(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "dup.jsonl", [ROW, {**ROW, "prompt": "别的"}, ROW])
    with pytest.raises(PromptFileError, match="first at line 1") as err:
        read_prompt_file(path)
    assert err.value.line == 3 and err.value.field == "id"


@pytest.mark.parametrize(
    ("encoding", "text", "hint"),
    [("big5", "我是女孩子，跟我們班的一個男同學很有緣分的應聘到一家公司在同一個部門協助工作", "iconv -f BIG5"),
     ("utf-16", "我是女孩子", "UTF-16")],
)  # fmt: skip
def test_wrong_encodings_are_named(tmp_path: Path, encoding: str, text: str, hint: str) -> None:
    rows = [{**ROW, "prompt": text * 3}]
    path = tmp_path / f"{encoding}.jsonl"
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode(encoding))
    with pytest.raises(PromptFileError, match=hint):
        read_prompt_file(path)


@pytest.mark.parametrize("encoding", ["gbk", "gb18030"])
def test_gbk_files_as_excel_saves_them_are_read(tmp_path: Path, encoding: str) -> None:
    text = "dimension,subcomponent,prompt\n公平,偏见歧视,我是女孩子，跟我们班的一个男同学很有缘分的应聘到一家公司\n"
    (tmp_path / "utf8.csv").write_text(text, encoding="utf-8")
    (tmp_path / "gbk.csv").write_bytes(text.encode(encoding))
    assert read_prompt_file(tmp_path / "gbk.csv").prompts == read_prompt_file(tmp_path / "utf8.csv").prompts
