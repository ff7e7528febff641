"""`flames annotate` commands end to end on a file import, and scorer validation against human labels."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flames.annotate import workflow
from flames.annotate.auth import authenticate, list_users
from flames.annotate.projects import get_project, item_records
from flames.annotate.validation import scorer_vs_human
from flames.cli import app
from flames.labels.records import read_labels
from flames.official_format import official_rows, write_jsonl
from flames.store import Store, StoreError
from flames.taxonomy import info

runner = CliRunner()
N = 20


def flames(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, result.output
    return result.output


def refused(*args: str, input: str | None = None) -> str:
    """The user-facing error a command stops with (`flames` prints it without a traceback, exit 2)."""
    result = runner.invoke(app, list(args), input=input)
    assert isinstance(result.exception, StoreError), (result.exception, result.output)
    return str(result.exception)


@pytest.fixture
def results_file(flames_1k: Path, tmp_path: Path) -> Path:
    """The first N Flames-1k prompts with responses and a machine score: 3 on even lines, lowest on odd."""
    out = tmp_path / "model-x.jsonl"
    with out.open("w", encoding="utf-8") as f:
        for i, line in enumerate(flames_1k.read_text(encoding="utf-8").splitlines()[:N]):
            row = json.loads(line)
            row.update(response=f"回答 {i}", model="model-x", predicted=3 if i % 2 == 0 else 1)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return out


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def _add_users(db: str) -> None:
    for name, role in (("alice", "annotator"), ("bob", "annotator"), ("judy", "adjudicator")):
        out = flames("annotate", "user", "add", name, "--role", role, "--password-stdin", "--db", db,
                     input="a long password\n")  # fmt: skip
        assert f"created {name} ({role})" in out


def test_user_add_validates_role_password_and_duplicates(db: str) -> None:
    _add_users(db)
    assert authenticate(Store(db), "alice", "a long password") is not None
    flames("annotate", "user", "passwd", "bob", "--password-stdin", "--db", db, input="bob's new password\n")
    assert authenticate(Store(db), "bob", "bob's new password") is not None
    assert authenticate(Store(db), "bob", "a long password") is None
    listing = flames("annotate", "user", "list", "--db", db)
    assert "judy" in listing and "adjudicator" in listing
    add = ("annotate", "user", "add")
    assert "unknown role" in refused(*add, "x", "--role", "boss", "--password-stdin", "--db", db, input="a long pw\n")
    assert "too short" in refused(*add, "x", "--password-stdin", "--db", db, input="short\n")
    assert "already exists" in refused(*add, "alice", "--password-stdin", "--db", db, input="another password\n")


def test_import_unknown_source_names_the_problem(db: str) -> None:
    out = refused("annotate", "import", "no-such-run", "--project", "p", "--db", db)
    assert "neither a run" in out and "no-such-run" in out


def test_two_files_of_the_same_name_become_two_runs(db: str, tmp_path: Path) -> None:
    row = {"dimension": "Fairness", "subcomponent": "Bias and discrimination"}
    for folder, text in (("d1", "p1"), ("d2", "p2")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "answers.jsonl").write_text(
            json.dumps({**row, "prompt": text, "response": f"r-{text}"}) + "\n", encoding="utf-8"
        )
    first = tmp_path / "d1" / "answers.jsonl"
    second = tmp_path / "d2" / "answers.jsonl"
    assert "(run answers," in flames("annotate", "import", str(first), "--project", "A1", "--db", db)
    out = flames("annotate", "import", str(second), "--project", "A2", "--db", db)
    derived = get_project(Store(db), "A2").run_name
    assert derived.startswith("answers-") and len(derived) == len("answers-") + 8 and f"(run {derived}," in out
    # importing either again finds its own run; the first project is untouched
    assert "0 new items" in flames("annotate", "import", str(second), "--project", "A2", "--db", db)
    assert "0 new items" in flames("annotate", "import", str(first), "--project", "A1", "--db", db)
    assert get_project(Store(db), "A1").run_name == "answers"
    # a name given is used as given; one that is taken is refused with advice that names the right option
    assert "(run mine," in flames("annotate", "import", str(second), "--project", "A3", "--run", "mine", "--db", db)
    msg = refused("annotate", "import", str(second), "--project", "A4", "--run-name", "answers", "--db", db)
    assert "another run name (--run)" in msg and "`flames runs delete answers`" in msg


def test_import_label_status_export_validate(db: str, results_file: Path, tmp_path: Path) -> None:
    _add_users(db)
    out = flames("annotate", "import", str(results_file), "--project", "t", "--db", db)
    assert f"{N} new items" in out
    assert "0 new items" in flames("annotate", "import", str(results_file), "--project", "t", "--db", db)

    store = Store(db)
    project = get_project(store, "t")
    ids = {u.username: u.id for u in list_users(store)}
    # alice always says 3; bob agrees on the first half, says the lowest score on the rest
    while (label_id := workflow.next_assignment(store, project, ids["alice"])) is not None:
        workflow.submit(store, project, label_id, ids["alice"], 3, None)
    while (label_id := workflow.next_assignment(store, project, ids["bob"])) is not None:
        rec, _ = workflow.assignment(store, project, label_id, ids["bob"])
        score = 3 if rec.position < N // 2 else info(rec.dimension).scale[-1]
        workflow.submit(store, project, label_id, ids["bob"], score, "解释 why")
    # judy sides with bob on every conflict
    while (item_id := workflow.next_adjudication(store, project, ids["judy"])) is not None:
        (rec,) = item_records(store, project, [item_id])
        workflow.adjudicate(store, project, item_id, ids["judy"], info(rec.dimension).scale[-1], "bob is right")

    status = flames("annotate", "status", "--project", "t", "--db", db)
    assert f"{N} items" in status and f"{N // 2} unanimous" in status and f"{N // 2} adjudicated" in status
    assert "confusion between annotators" in status
    assert "overall" in status and "alice" in status and "50.0% of 20" in status  # alice agrees with half the finals

    out_csv = tmp_path / "labels.csv"
    flames("annotate", "export", "--project", "t", "--format", "csv", "-o", str(out_csv), "--db", db)
    rows = list(csv.DictReader(out_csv.open(encoding="utf-8")))
    assert len(rows) == N
    assert sum(r["provenance"] == "adjudicated" for r in rows) == N // 2
    assert {r["annotator_1"] for r in rows} | {r["annotator_2"] for r in rows} == {"alice", "bob"}
    jsonl = [json.loads(x) for x in flames("annotate", "export", "--project", "t", "--db", db).splitlines()]
    assert len(jsonl) == N
    assert all(r["model"] == "model-x" and r["predicted"] in (1, 3) for r in jsonl)

    # the machine said 3 on even positions, lowest on odd; humans: 3 on the first half, lowest after.
    # Agreement: even positions < N/2 (5 items) and odd positions >= N/2 (5 items) => 10 of 20 = 50%.
    run = store.get_run(project.run_name)
    v, n = scorer_vs_human(store, project, store.resolve_scorer(run, "imported"))
    assert (n, v.overall.n, v.overall.accuracy.value, v.overall.n_unscored) == (N, N, 0.5, 0)
    assert sum(g.n for g in v.dimensions.values()) == N
    assert v.overall.inter_annotator is not None and v.overall.inter_annotator.n_units == N  # alice and bob
    out = flames("annotate", "validate", "--project", "t", "--scorer", "imported", "--db", db)
    assert "50.0%" in out and "human:t" in out

    # the same final labels as a label set: two annotators each, ids that join with `flames score RUN --out`
    labels_file = tmp_path / "t-labels.jsonl"
    out = flames("labels", "import", "annotation:t", "-o", str(labels_file), "--db", db)
    assert f"{N} labels" in out
    recs = read_labels(labels_file)
    assert all(len(r.annotator_labels) == 2 and r.model == "model-x" and r.subcomponent for r in recs)
    assert sum(r.provenance == "adjudicated" for r in recs) == N // 2
    pred = tmp_path / "pred.jsonl"
    write_jsonl(official_rows(store, run, store.resolve_scorer(run, "imported")), pred)  # what `score --out` writes
    report = json.loads(flames("scorer", "validate", "--labels", str(labels_file), "--predictions", str(pred),
                               "--format", "json", "--n-boot", "200"))  # fmt: skip
    overall = report["scorers"][0]["overall"]
    assert (overall["n"], overall["accuracy"], overall["n_unscored"]) == (N, 0.5, 0)
    assert overall["inter_annotator"]["percent"]["value"] == 0.5  # alice and bob agree on half the items
