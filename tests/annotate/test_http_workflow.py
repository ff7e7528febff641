"""The labelling workflow through HTTP, on SQLite and PostgreSQL: assignment, overlap, blindness,
adjudication, provenance, skip/flag, concurrent and repeated submissions."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from annotate_helpers import claim, csrf_of, post_form
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from flames.annotate.projects import Project, human_scorer, item_records
from flames.annotate.schema import LabelRow
from flames.store import RunInfo, Store
from flames.store.schema import utcnow
from flames.taxonomy import info

Clients = Callable[[str], TestClient]


def item_of(store: Store, project: Project, url: str) -> int:
    label_id = int(url.rsplit("/", 1)[1])
    with store.session() as s:
        return int(s.get_one(LabelRow, label_id).item_id)


def scale_of(store: Store, project: Project, item_id: int) -> tuple[int, ...]:
    (rec,) = item_records(store, project, [item_id])
    return info(rec.dimension).scale


def label(client: TestClient, url: str, score: int, explanation: str = "") -> int:
    resp = post_form(client, url, {"action": "label", "score": score, "explanation": explanation})
    return resp.status_code  # type: ignore[attr-defined, no-any-return]


def label_all(client: TestClient, store: Store, project: Project, pick: Callable[[tuple[int, ...]], int]) -> list[int]:
    items = []
    while (url := claim(client)) is not None:
        item_id = item_of(store, project, url)
        assert label(client, url, pick(scale_of(store, project, item_id))) == 303
        items.append(item_id)
    return items


def claim_until(client: TestClient, store: Store, project: Project, item_id: int) -> str:
    """Claim (labelling everything else as harmless) until `item_id` comes up; its assignment URL."""
    while (url := claim(client)) is not None:
        if item_of(store, project, url) == item_id:
            return url
        assert label(client, url, 3) == 303
    raise AssertionError(f"item {item_id} never offered")


def test_unauthenticated_requests_go_to_login(client_for: Clients, project: Project, store: Store) -> None:
    anon = TestClient(client_for("alice").app, follow_redirects=False)
    for path in ("/", "/p/p1/next", "/p/p1/a/1", "/admin/users", "/p/p1/agreement", "/p/p1/export"):
        resp = anon.get(path)
        assert resp.status_code == 303 and resp.headers["location"].startswith("/login?next="), path
    login_page = anon.get("/login")
    assert login_page.status_code == 200
    assert 'name="username"' in login_page.text and 'name="password"' in login_page.text


def test_each_item_goes_to_exactly_n_distinct_annotators(client_for: Clients, project: Project, store: Store) -> None:
    alice, bob, carol = client_for("alice"), client_for("bob"), client_for("carol")
    a_items = label_all(alice, store, project, lambda scale: scale[0])
    b_items = label_all(bob, store, project, lambda scale: scale[0])
    n_items = len(item_records(store, project))
    assert sorted(a_items) == sorted(b_items) and len(set(a_items)) == n_items  # full overlap, no repeats
    assert claim(carol) is None  # every item already has its two annotators
    for rec in item_records(store, project):
        who = [lab.annotator for lab in rec.labels]
        assert sorted(who) == ["alice", "bob"]
        assert rec.status == "done" and rec.provenance == "unanimous"


def test_labels_are_blind_until_submitted(client_for: Clients, project: Project, store: Store) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    url_a = claim(alice)
    assert url_a is not None
    assert label(alice, url_a, 1, "ALICE-SECRET-EXPLANATION") == 303
    url_b = claim(bob)
    assert url_b is not None and item_of(store, project, url_b) == item_of(store, project, url_a)
    page = bob.get(url_b).text
    assert "ALICE-SECRET-EXPLANATION" not in page and "alice" not in page
    # bob can neither open alice's assignment nor see it among his labels
    assert bob.get(url_a).status_code == 404
    assert "ALICE-SECRET-EXPLANATION" not in bob.get("/p/p1/mine").text
    assert post_form(bob, url_b, {"action": "label", "score": 3}, url=url_a).status_code == 404  # type: ignore[attr-defined]


def _disagree(client_for: Clients, store: Store, project: Project) -> tuple[int, TestClient, TestClient]:
    alice, bob = client_for("alice"), client_for("bob")
    url_a = claim(alice)
    assert url_a is not None
    item_id = item_of(store, project, url_a)
    assert label(alice, url_a, 3, "她拒绝了 refuses") == 303
    url_b = claim(bob)
    assert url_b is not None and item_of(store, project, url_b) == item_id
    assert label(bob, url_b, 1, "它给出了有害内容 harmful") == 303
    return item_id, alice, bob


def test_disagreement_goes_to_a_different_adjudicator(
    client_for: Clients, project: Project, store: Store, run: RunInfo
) -> None:
    item_id, alice, _ = _disagree(client_for, store, project)
    (rec,) = item_records(store, project, [item_id])
    assert rec.status == "adjudication" and rec.final_score is None
    assert alice.get("/p/p1/adjudicate").status_code == 403  # annotators do not adjudicate
    judy = client_for("judy")
    resp = judy.get("/p/p1/adjudicate")
    assert resp.status_code == 303 and resp.headers["location"] == f"/p/p1/adj/{item_id}"
    page = judy.get(f"/p/p1/adj/{item_id}").text
    assert "她拒绝了 refuses" in page and "它给出了有害内容 harmful" in page  # both labels and explanations
    assert "alice" in page and "bob" in page
    # a score off the dimension's scale is refused
    bad = 2 if 2 not in info(rec.dimension).scale else 4
    resp = post_form(judy, f"/p/p1/adj/{item_id}", {"decision": "score", "score": bad})
    assert resp.status_code == 400  # type: ignore[attr-defined]
    resp = post_form(judy, f"/p/p1/adj/{item_id}", {"decision": "score", "score": 1, "note": "有害"})
    assert resp.status_code == 303  # type: ignore[attr-defined]
    (rec,) = item_records(store, project, [item_id])
    assert (rec.status, rec.final_score, rec.provenance, rec.adjudicator) == ("done", 1, "adjudicated", "judy")
    # the final label is a human judgment in the store
    judged = store.judgments(run, human_scorer(store, project))
    j = judged[rec.response_id]
    assert j.score == 1 and j.meta["provenance"] == "adjudicated"
    assert sorted(lab["annotator"] for lab in j.meta["labels"]) == ["alice", "bob"]
    # deciding twice is a conflict, not a silent overwrite
    resp = post_form(judy, f"/p/p1/adj/{item_id}", {"decision": "score", "score": 3})
    assert resp.status_code == 409  # type: ignore[attr-defined]
    assert item_records(store, project, [item_id])[0].final_score == 1


def test_adjudicator_who_labelled_the_item_cannot_decide_it(
    client_for: Clients, project: Project, store: Store
) -> None:
    judy, alice = client_for("judy"), client_for("alice")
    url_j = claim(judy)  # adjudicators may also label
    assert url_j is not None
    item_id = item_of(store, project, url_j)
    assert label(judy, url_j, 3) == 303
    url_a = claim(alice)
    assert url_a is not None and item_of(store, project, url_a) == item_id
    assert label(alice, url_a, 1) == 303
    assert judy.get(f"/p/p1/adj/{item_id}").status_code == 403
    assert post_form(judy, "/", {"decision": "score", "score": 3}, url=f"/p/p1/adj/{item_id}").status_code == 403  # type: ignore[attr-defined]
    assert judy.get("/p/p1/adjudicate").status_code == 200  # nothing offered to her
    admin = client_for("admin")
    assert post_form(admin, f"/p/p1/adj/{item_id}", {"decision": "score", "score": 3}).status_code == 303  # type: ignore[attr-defined]


def test_unresolved_needs_a_note_and_is_stored_unscored(
    client_for: Clients, project: Project, store: Store, run: RunInfo
) -> None:
    item_id, _, _ = _disagree(client_for, store, project)
    judy = client_for("judy")
    assert post_form(judy, f"/p/p1/adj/{item_id}", {"decision": "unresolved", "note": " "}).status_code == 400  # type: ignore[attr-defined]
    resp = post_form(judy, f"/p/p1/adj/{item_id}", {"decision": "unresolved", "note": "提问本身有歧义 ambiguous"})
    assert resp.status_code == 303  # type: ignore[attr-defined]
    (rec,) = item_records(store, project, [item_id])
    assert rec.provenance == "unresolved" and rec.final_score is None
    j = store.judgments(run, human_scorer(store, project))[rec.response_id]
    assert j.score is None and "ambiguous" in (j.unscored_reason or "")


def test_skip_frees_the_place_and_flag_sends_to_adjudication(
    client_for: Clients, project: Project, store: Store
) -> None:
    alice, bob, carol = client_for("alice"), client_for("bob"), client_for("carol")
    url = claim(alice)
    assert url is not None
    item_id = item_of(store, project, url)
    assert post_form(alice, url, {"action": "skip", "reason": ""}).status_code == 400  # type: ignore[attr-defined]
    assert post_form(alice, url, {"action": "skip", "reason": "看不懂 cannot judge"}).status_code == 303  # type: ignore[attr-defined]
    # the place is free again: bob and carol get the item; alice never gets it again
    url_b, url_c = claim_until(bob, store, project, item_id), claim_until(carol, store, project, item_id)
    assert item_id not in label_all(alice, store, project, lambda scale: scale[0])
    assert post_form(bob, url_b, {"action": "flag", "reason": "维度不符 off-dimension"}).status_code == 303  # type: ignore[attr-defined]
    assert label(carol, url_c, 3) == 303
    (rec,) = item_records(store, project, [item_id])
    assert rec.status == "adjudication"  # a flag is never outvoted silently
    statuses = {lab.annotator: (lab.status, lab.reason) for lab in rec.labels}
    assert statuses["alice"] == ("skipped", "看不懂 cannot judge")
    assert statuses["bob"] == ("flagged", "维度不符 off-dimension")


def test_score_off_the_scale_is_refused(client_for: Clients, project: Project, store: Store) -> None:
    alice = client_for("alice")
    while (url := claim(alice)) is not None:
        item_id = item_of(store, project, url)
        if scale_of(store, project, item_id) == (3, 1):
            break
        assert label(alice, url, 3) == 303
    assert url is not None
    assert label(alice, url, 2) == 400
    assert label(alice, url, 7) == 400
    assert claim(alice) == url  # still pending: the same item comes back
    assert label(alice, url, 1) == 303


def test_one_annotator_submitting_twice_keeps_one_label(client_for: Clients, project: Project, store: Store) -> None:
    alice = client_for("alice")
    url = claim(alice)
    assert url is not None
    assert label(alice, url, 3) == 303
    assert label(alice, url, 3) == 303  # a repeated identical submit (double click) is harmless
    assert label(alice, url, 1) == 409  # a changed answer after submitting is refused
    with store.session() as s:
        mine = s.get_one(LabelRow, int(url.rsplit("/", 1)[1]))
        rows = s.scalars(select(LabelRow).where(LabelRow.user_id == mine.user_id)).all()
    assert [(r.status, r.score) for r in rows] == [("labeled", 3)]


@pytest.mark.timeout(120)
def test_two_annotators_submitting_at_once(client_for: Clients, project: Project, store: Store) -> None:
    alice, bob = client_for("alice"), client_for("bob")
    results: list[int] = []
    barrier = threading.Barrier(2)

    def submit(client: TestClient, url: str, score: int) -> None:
        token = csrf_of(client.get(url).text)
        barrier.wait()
        results.append(client.post(url, data={"action": "label", "score": score, "csrf_token": token}).status_code)

    rounds = 0
    while (url_a := claim(alice)) is not None:
        url_b = claim(bob)
        assert url_b is not None and item_of(store, project, url_b) == item_of(store, project, url_a)
        threads = [threading.Thread(target=submit, args=(alice, url_a, 1)),
                   threading.Thread(target=submit, args=(bob, url_b, 3))]  # fmt: skip
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        rounds += 1
    recs = item_records(store, project)
    assert rounds == len(recs) and results == [303] * (2 * rounds)
    # every item got both labels and went to adjudication (1 vs 3): none stuck in labelling, none lost
    assert Counter(r.status for r in recs) == {"adjudication": len(recs)}
    assert all(sorted((lab.annotator, lab.score) for lab in r.labels) == [("alice", 1), ("bob", 3)] for r in recs)


@pytest.mark.timeout(120)
def test_concurrent_claims_never_exceed_n(client_for: Clients, store: Store, run: RunInfo) -> None:
    from flames.annotate.projects import import_run

    project = import_run(store, run, "p1", per_item=2).project
    clients = [client_for(name) for name in ("alice", "bob", "carol", "judy", "admin")]
    barrier = threading.Barrier(len(clients))
    errors: list[BaseException] = []

    def work(client: TestClient) -> None:
        try:
            barrier.wait()
            while (url := claim(client)) is not None:
                assert label(client, url, 3) == 303
        except BaseException as err:  # surfaced below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=100)
    assert not errors
    for rec in item_records(store, project):
        who = [lab.annotator for lab in rec.labels]
        assert len(who) == 2 and len(set(who)) == 2, who
        assert rec.provenance == "unanimous"


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_admin_exports_labels(client_for: Clients, project: Project, store: Store, fmt: str) -> None:
    _disagree(client_for, store, project)
    resp = client_for("admin").get(f"/p/p1/export?format={fmt}")
    assert resp.status_code == 200
    assert "attachment" in resp.headers["content-disposition"]
    body = resp.text
    assert "问题" in body and "\\u" not in body  # Chinese kept as UTF-8
    assert "她拒绝了 refuses" in body and "alice" in body


def test_agreement_page_shows_statistics(client_for: Clients, project: Project, store: Store) -> None:
    _disagree(client_for, store, project)
    judy = client_for("judy")
    page = judy.get("/p/p1/agreement")
    assert page.status_code == 200
    assert "Krippendorff" in page.text and "Overall" in page.text and "alice" in page.text


def test_abandoned_claims_are_released(client_for: Clients, project: Project, store: Store) -> None:
    alice, bob, carol = client_for("alice"), client_for("bob"), client_for("carol")
    url_a, url_b = claim(alice), claim(bob)
    assert url_a and url_b and item_of(store, project, url_a) == item_of(store, project, url_b)
    item_id = item_of(store, project, url_a)
    with store.session() as s, s.begin():  # alice walked away five hours ago
        label_id = int(url_a.rsplit("/", 1)[1])
        s.execute(update(LabelRow).where(LabelRow.id == label_id).values(assigned_at=utcnow() - timedelta(hours=5)))
    assert claim_until(carol, store, project, item_id)  # her place went to carol
    resp = post_form(alice, url_a, {"action": "label", "score": 3})
    assert resp.status_code == 409 and "given up" in resp.text  # type: ignore[attr-defined]
    statuses = {lab.annotator: lab.status for lab in item_records(store, project, [item_id])[0].labels}
    assert statuses == {"alice": "skipped", "bob": "pending", "carol": "pending"}
