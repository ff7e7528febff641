"""A loopback fake of a provider's batch API (`/files`, `/batches`) in the OpenAI Batch format, for tests
and benchmarks, with the ways real batches end badly.

`with BatchServer(fates=["complete", "half"]) as server:` serves on its own thread. Each created batch takes
the next fate (the last one repeats):
- "complete": every request answered;
- "half": the first half answered, the second half in the error file (HTTP 500 lines); status completed;
- "expire": the first half answered, the rest in the error file as `batch_expired`; status expired;
- "fail": validation fails, no files, nothing billed;
- "slow": stays in progress until `finish()` is called (then completes), so a test can cancel it;
  a cancelled batch ends with its first half answered and no line at all for the rest.
A batch finishes on the first poll after creation unless its fate is "slow". `lost_create_replies=n` makes
the first n create calls create the batch but answer 502, as a reply lost in transit would.

`billed` counts, per custom_id, the answers written into output files (what a provider charges for);
`live` counts live chat-completions requests (served on the same root, for judges' second turns).
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collect"))  # the loopback plumbing it shares
from chat_server import LoopbackServer, Reply, completion, completion_response, echo


class BatchServer(LoopbackServer):
    client_max_size = 64 * 1024 * 1024

    def __init__(
        self,
        fates: Sequence[str] = ("complete",),
        reply: Reply = echo,
        prefix: str = "/v1",
        endpoints: Sequence[str] = ("/v1/chat/completions",),
        max_requests: int = 50_000,
        lost_create_replies: int = 0,
        key: str = "sk-batch",
    ) -> None:
        super().__init__()
        self.fates, self.reply, self.prefix, self.endpoints = list(fates), reply, prefix, set(endpoints)
        self.max_requests, self.lost_create_replies, self.key = max_requests, lost_create_replies, key
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.billed: Counter[str] = Counter()
        self.live = 0
        self.creates = 0
        self._fate: dict[str, str] = {}
        self._finish: set[str] = set()
        self._n = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.prefix}"

    def input_lines(self, batch_id: str) -> list[dict[str, Any]]:
        data = self.files[self.batches[batch_id]["input_file_id"]]
        return [json.loads(line) for line in data.decode("utf-8").splitlines()]

    def finish(self, batch_id: str) -> None:
        """Let a "slow" batch complete on its next poll."""
        self._finish.add(batch_id)

    def _next_id(self, kind: str) -> str:
        self._n += 1
        return f"{kind}-{self._n}"

    def _file(self, lines: list[dict[str, Any]]) -> str | None:
        if not lines:
            return None
        file_id = self._next_id("file")
        self.files[file_id] = "".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines).encode("utf-8")
        return file_id

    def _answer(self, line: dict[str, Any]) -> dict[str, Any]:
        body = line["body"]
        self.billed[line["custom_id"]] += 1
        n = sum(self.billed.values())
        text = "这是测试模型的固定回答。" if line["url"].endswith("ds-test") else self.reply(body["messages"])
        return {
            "id": f"batch_req_{n}",
            "custom_id": line["custom_id"],
            "response": {"status_code": 200, "request_id": f"req-{n}", "body": completion(body, text, n)},
            "error": None,
        }

    def _end(self, batch: dict[str, Any], status: str, answered: int, errors: list[dict[str, Any]]) -> None:
        lines = self.input_lines(batch["id"])
        batch["output_file_id"] = self._file([self._answer(x) for x in lines[:answered]])
        batch["error_file_id"] = self._file(errors)
        batch["status"] = status
        batch["request_counts"] = {"total": len(lines), "completed": answered, "failed": len(errors)}

    def _advance(self, batch: dict[str, Any]) -> None:
        if batch["status"] not in ("validating", "in_progress", "cancelling"):
            return
        lines = self.input_lines(batch["id"])
        half = len(lines) // 2
        fate = self._fate[batch["id"]]
        if batch["status"] == "cancelling":
            self._end(batch, "cancelled", half, [])
        elif fate == "complete" or (fate == "slow" and batch["id"] in self._finish):
            self._end(batch, "completed", len(lines), [])
        elif fate == "half":
            errors = [{"id": f"e{i}", "custom_id": x["custom_id"], "error": None,
                       "response": {"status_code": 500, "request_id": f"r{i}",
                                    "body": {"error": {"message": "internal error", "type": "server_error"}}}}
                      for i, x in enumerate(lines[half:])]  # fmt: skip
            self._end(batch, "completed", half, errors)
        elif fate == "expire":
            errors = [{"id": f"e{i}", "custom_id": x["custom_id"], "response": None,
                       "error": {"code": "batch_expired", "message": "not executed before the window expired"}}
                      for i, x in enumerate(lines[half:])]  # fmt: skip
            self._end(batch, "expired", half, errors)
        elif fate == "fail":
            batch["status"] = "failed"
            batch["errors"] = {"data": [{"code": "invalid_request", "message": "model not available for batch"}]}
        else:
            batch["status"] = "in_progress"

    async def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.key}"

    async def _upload(self, request: web.Request) -> web.Response:
        if not await self._authorised(request):
            return web.json_response({"error": "bad key"}, status=401)
        form = await request.post()
        upload = form["file"]
        assert form["purpose"] == "batch" and isinstance(upload, web.FileField)
        file_id = self._next_id("file")
        self.files[file_id] = upload.file.read()
        return web.json_response({"id": file_id, "object": "file", "bytes": len(self.files[file_id]),
                                  "filename": upload.filename, "purpose": "batch"})  # fmt: skip

    async def _content(self, request: web.Request) -> web.Response:
        file_id = request.match_info["file_id"]
        if file_id not in self.files:
            return web.json_response({"error": "no such file"}, status=404)
        return web.Response(body=self.files[file_id], content_type="application/jsonl")

    async def _create(self, request: web.Request) -> web.Response:
        if not await self._authorised(request):
            return web.json_response({"error": "bad key"}, status=401)
        body = await request.json()
        if body["endpoint"] not in self.endpoints or body["input_file_id"] not in self.files:
            return web.json_response({"error": {"message": f"bad endpoint or file: {body}"}}, status=400)
        self.creates += 1
        batch_id = self._next_id("batch")
        self.batches[batch_id] = batch = {
            "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "input_file_id": body["input_file_id"],
            "completion_window": body.get("completion_window"), "status": "validating", "output_file_id": None,
            "error_file_id": None, "created_at": int(time.time()), "metadata": body.get("metadata") or {},
            "request_counts": {"total": 0, "completed": 0, "failed": 0},
        }  # fmt: skip
        lines = self.input_lines(batch_id)
        assert all(x["url"] == body["endpoint"] and x["method"] == "POST" for x in lines)
        assert len({x["custom_id"] for x in lines}) == len(lines), "custom_id must be unique in a file"
        self._fate[batch_id] = self.fates[min(len(self._fate), len(self.fates) - 1)]
        if len(lines) > self.max_requests:
            self._fate[batch_id] = "fail"
        if self.lost_create_replies > 0:
            self.lost_create_replies -= 1
            return web.json_response({"error": "bad gateway"}, status=502)
        return web.json_response(batch)

    async def _retrieve(self, request: web.Request) -> web.Response:
        batch = self.batches.get(request.match_info["batch_id"])
        if batch is None:
            return web.json_response({"error": "no such batch"}, status=404)
        self._advance(batch)
        return web.json_response(batch)

    async def _list(self, request: web.Request) -> web.Response:
        newest = sorted(self.batches.values(), key=lambda b: int(b["id"].split("-")[1]), reverse=True)
        after = request.query.get("after")
        if after:
            newest = newest[[b["id"] for b in newest].index(after) + 1 :]
        limit = int(request.query.get("limit", "20"))
        return web.json_response({"object": "list", "data": newest[:limit], "has_more": len(newest) > limit})

    async def _cancel(self, request: web.Request) -> web.Response:
        batch = self.batches[request.match_info["batch_id"]]
        if batch["status"] in ("validating", "in_progress"):
            batch["status"] = "cancelling"
        return web.json_response(batch)

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.live += 1
        return completion_response(body, self.reply(body["messages"]), -self.live)

    def routes(self, app: web.Application) -> None:
        p = self.prefix
        app.router.add_post(f"{p}/files", self._upload)
        app.router.add_get(f"{p}/files/{{file_id}}/content", self._content)
        app.router.add_post(f"{p}/batches", self._create)
        app.router.add_get(f"{p}/batches", self._list)
        app.router.add_get(f"{p}/batches/{{batch_id}}", self._retrieve)
        app.router.add_post(f"{p}/batches/{{batch_id}}/cancel", self._cancel)
        app.router.add_post(f"{p}/chat/completions", self._chat)
