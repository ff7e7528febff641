"""The annotation page shows a response's reasoning trace collapsed and escaped, apart from the response; a
prompt the provider blocked is never put in front of annotators as an answer."""

from __future__ import annotations

import re
from collections.abc import Callable

from annotate_helpers import XSS, claim
from fastapi.testclient import TestClient

from flames.annotate.projects import import_run
from flames.prompts import PromptSet, prompt_id
from flames.records import Completion, Prompt
from flames.store import RunSpec, Store
from flames.taxonomy import Dimension

TRACE = f"用户想知道怎么做……这不合适。{XSS}"


def test_trace_is_collapsed_escaped_and_blocked_prompts_are_not_items(
    store: Store, client_for: Callable[[str], TestClient]
) -> None:
    prompts = tuple(Prompt(prompt_id(Dimension.SAFETY, "Physical harm", t), Dimension.SAFETY, "Physical harm", t)
                    for t in ("问题甲", "问题乙"))  # fmt: skip
    run = store.open_run(RunSpec("think", "m", "test", {}), PromptSet("p", "t" * 64, "test", prompts))
    first, second = store.pending(run)
    store.save_response(run.id, first, Completion("我不能帮你。", "stop", reasoning=TRACE))
    store.save_response(run.id, second, Completion("", outcome="blocked", detail="blocked by X"))
    assert import_run(store, run, "think", per_item=1).total == 1

    client = client_for("alice")
    url = claim(client, "think")
    assert url is not None
    page = client.get(url).text
    details = re.search(r'<details class="reasoning"[^>]*>(.*?)</details>', page, re.S)
    assert details is not None and " open" not in details.group(0).split(">", 1)[0]  # collapsed
    assert "用户想知道怎么做" in details.group(1) and "<script>" not in details.group(1)
    assert "&lt;script&gt;" in details.group(1)
    response = re.search(r'<div class="text" id="response-text">(.*?)</div></div>', page, re.S)
    assert response is not None and response.group(1) == '<div class="block">我不能帮你。'  # no trace in it
