"""Work leases: who holds which pending requests, so that no request is paid for twice.

Before it sends anything, a holder claims the requests it will send: a run's slots (prompt, sample) to
answer, or a scorer's responses to judge. A claim inserts one `holds` row per request under the holder's
`leases` row, in one transaction per chunk of `CLAIM_CHUNK`; the key's uniqueness makes it exclusive, so of
two processes started on the same run (two terminals, an overlapping cron job, a restarted Slurm job while
the old one still runs) each gets a disjoint share and no request is sent twice. The same rows serve
`flames generate` and `flames score`, their `--shard` workers and the driver of `--executor ray` (whose
workers still check the store just before paying), and provider batches: an open batch is a lease without
expiry that holds the requests in its file until it is collected or abandoned.

A process's lease expires `TTL_S` seconds after it was last renewed; a heartbeat thread renews it every
`RENEW_S` while the process works, and the process deletes it (and its holds) when it ends, normally or by
Ctrl-C. A killed process's holds are taken over by the next claim: at once when it ran on the same machine
(its pid is gone), else once its lease expired. Expiry compares Unix times written by different machines:
clocks more than a few seconds apart shorten or lengthen the wait, never break exclusivity between live
processes (a live lease is renewed long before it expires).

After a claim the caller still checks which claimed requests got a final result meanwhile (a holder that
ended just before stored its results first, then released them), and drops those.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
import uuid
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from importlib import import_module
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from flames.store.schema import BatchRow, HoldRow, LeaseRow, utcnow

TTL_S = 120.0
"""Seconds a process's lease lasts without renewal."""
RENEW_S = 20.0
"""Seconds between renewals by the heartbeat thread."""
CLAIM_CHUNK = 500
"""Requests claimed per transaction."""


SLOTS = "g:"
"""The prefix of every slot key."""


def slot_key(run_id: int, prompt_row_id: int, sample_index: int) -> str:
    """The hold key of a run's slot (one answer to pay for)."""
    return f"{SLOTS}{run_id}:{prompt_row_id}:{sample_index}"


def judgments_of(scorer_id: int) -> str:
    """The prefix of the keys of one scorer's judgments."""
    return f"s:{scorer_id}:"


def judgment_key(scorer_id: int, response_id: int) -> str:
    """The hold key of one scorer's judgment of one response (one judge request to pay for)."""
    return f"{judgments_of(scorer_id)}{response_id}"


def batch_owner(local_key: str) -> str:
    """The lease owner of a provider batch."""
    return f"batch-{local_key}"


def _machine() -> str:
    """This machine as pids are valid on it: host name plus the pid namespace (containers sharing a host name
    see other pids), where the system says which."""
    try:
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        namespace = ""
    return f"{socket.gethostname()}/{namespace}"[:255]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, owned by someone else
        return True
    return True


@dataclass(frozen=True)
class Holder:
    """A live holder of some requests: a process (host, pid, when its lease expires) or an open batch."""

    owner: str
    requests: int
    host: str | None = None
    pid: int | None = None
    expires: float | None = None
    """Unix time; None for a batch."""
    batch: str | None = None
    """The batch's remote id, or `(local N)` before it was created; None for a process."""
    batch_status: str | None = None

    def describe(self) -> str:
        """`3 held by process 4242 on node7 (renewed while it runs; if it was killed, they are free in 95 s or at
        once on that machine)` or `3 held by open batch batch_abc (status in_progress)`."""
        if self.batch is not None:
            return f"{self.requests} held by open batch {self.batch} (status {self.batch_status})"
        left = max(0, round((self.expires or 0) - time.time()))
        return (f"{self.requests} held by process {self.pid} on {self.host} (renewed while it runs; if it was"
                f" killed, they are free in {left} s or at once on that machine)")  # fmt: skip


def describe_holders(holders: Sequence[Holder]) -> str:
    """All holders in one line, for messages."""
    return "; ".join(h.describe() for h in holders)


class Lease:
    """This process's lease: `with store.lease() as lease: won = lease.claim(run_id, keys)`. Entering writes
    the lease and starts its heartbeat; leaving (normally, by an exception or Ctrl-C) releases every hold."""

    def __init__(self, store: HoldStore, ttl_s: float = TTL_S, renew_s: float = RENEW_S) -> None:
        self.store, self.ttl_s, self.renew_s = store, ttl_s, renew_s
        self.owner = uuid.uuid4().hex
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    def claim(self, run_id: int, keys: Sequence[str]) -> set[str]:
        """Claim these requests for this lease; return the keys it now holds (those no live holder had)."""
        return self.store.claim(self, run_id, keys)

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.renew_s):
            with contextlib.suppress(Exception):  # a store out of reach now: the next beat tries again
                self.store.renew(self)

    def __enter__(self) -> Lease:
        self.store.renew(self)
        self._beat = threading.Thread(target=self._heartbeat, name=f"flames-lease-{self.owner[:8]}", daemon=True)
        self._beat.start()
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=5)
        try:
            self.store.release(self.owner)
        except Exception:
            if exc[0] is None:  # leaving cleanly: say so; leaving on an error: that error is the one to see
                raise
            # the holds stay until the lease expires (or at once, for claimers on this machine, once we exit)


class HoldStore:
    """Leases and holds, mixed into `Store` (which provides `engine`)."""

    engine: Engine

    def lease(self, ttl_s: float = TTL_S, renew_s: float = RENEW_S) -> Lease:
        """A new lease for this process (not yet written: use it in a `with` block)."""
        return Lease(self, ttl_s, renew_s)

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        """A write transaction that holds SQLite's write lock from its start, so reads in it stay current
        (a deferred SQLite transaction that reads, then writes after another writer, fails at once)."""
        with self.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            yield conn

    def _insert(self, conn: Connection, table: Any, rows: list[dict[str, Any]], keys: tuple[str, ...],
                update_cols: tuple[str, ...] = ()) -> None:  # fmt: skip
        """INSERT … ON CONFLICT (keys) DO NOTHING, or DO UPDATE of `update_cols`, in the dialect in use."""
        dialect = "postgresql" if conn.dialect.name == "postgresql" else "sqlite"
        ins: Any = import_module(f"sqlalchemy.dialects.{dialect}").insert(table)
        if update_cols:
            stmt = ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in update_cols})
        else:
            stmt = ins.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, rows)

    def renew(self, lease: Lease) -> None:
        """Write (or push back the expiry of) the lease's row."""
        with self.engine.begin() as conn:
            self._write_lease(conn, lease)

    def _write_lease(self, conn: Connection, lease: Lease) -> None:
        row = {"owner": lease.owner, "host": socket.gethostname()[:255], "machine": _machine(), "pid": os.getpid(),
               "expires": time.time() + lease.ttl_s, "created_at": utcnow()}  # fmt: skip
        self._insert(conn, LeaseRow.__table__, [row], ("owner",), ("expires",))

    def _drop_dead(self, conn: Connection, but: str) -> None:
        """Delete the leases (and holds) of processes that are gone: expired, or on this machine without
        their pid."""
        here, now = _machine(), time.time()
        rows = conn.execute(
            select(LeaseRow.owner, LeaseRow.machine, LeaseRow.pid, LeaseRow.expires).where(
                LeaseRow.batch_id.is_(None), LeaseRow.owner != but
            )
        ).all()
        dead = [o for o, machine, pid, expires in rows
                if (expires or 0) < now or (machine == here and pid is not None and not _pid_alive(pid))]  # fmt: skip
        if dead:
            conn.execute(delete(HoldRow).where(HoldRow.owner.in_(dead)))
            conn.execute(delete(LeaseRow).where(LeaseRow.owner.in_(dead)))

    def claim(self, lease: Lease, run_id: int, keys: Sequence[str]) -> set[str]:
        """Claim `keys` (requests of run `run_id`) for `lease`, taking over those of dead holders; return the
        keys the lease holds afterwards. Keys are claimed in sorted order, so concurrent claimers never
        wait on each other in a cycle (PostgreSQL), in chunks of `CLAIM_CHUNK` per transaction."""
        won: set[str] = set()
        ordered = sorted(set(keys))
        for start in range(0, len(ordered), CLAIM_CHUNK):
            chunk = ordered[start : start + CLAIM_CHUNK]
            with self._writing() as conn:
                self._write_lease(conn, lease)
                self._drop_dead(conn, lease.owner)
                self._insert(conn, HoldRow.__table__, [{"slot": k, "run_id": run_id, "owner": lease.owner}
                                                       for k in chunk], ("slot",))  # fmt: skip
                won.update(conn.scalars(select(HoldRow.slot).where(HoldRow.owner == lease.owner,
                                                                   HoldRow.slot.in_(chunk))))  # fmt: skip
        return won

    def release(self, owner: str, keys: Collection[str] | None = None) -> None:
        """Give back `keys` held by `owner`, or all it holds and its lease (None)."""
        with self.engine.begin() as conn:
            if keys is None:
                conn.execute(delete(HoldRow).where(HoldRow.owner == owner))
                conn.execute(delete(LeaseRow).where(LeaseRow.owner == owner))
                return
            ordered = sorted(keys)
            for start in range(0, len(ordered), CLAIM_CHUNK):
                chunk = ordered[start : start + CLAIM_CHUNK]
                conn.execute(delete(HoldRow).where(HoldRow.owner == owner, HoldRow.slot.in_(chunk)))

    def hold_for_batch(self, conn: Connection, batch_id: int, local_key: str, run_id: int, keys: Sequence[str],
                       lease: Lease | None) -> None:  # fmt: skip
        """Inside `add_batch`'s transaction: the batch's lease, holding `keys`: those `lease` holds are handed
        over, any nobody holds are taken."""
        owner = batch_owner(local_key)
        conn.execute(insert(LeaseRow).values(owner=owner, batch_id=batch_id, created_at=utcnow()))
        ordered = sorted(set(keys))
        for start in range(0, len(ordered), CLAIM_CHUNK):
            chunk = ordered[start : start + CLAIM_CHUNK]
            if lease is not None:
                conn.execute(update(HoldRow).where(HoldRow.owner == lease.owner, HoldRow.slot.in_(chunk))
                             .values(owner=owner))  # fmt: skip
            self._insert(conn, HoldRow.__table__, [{"slot": k, "run_id": run_id, "owner": owner} for k in chunk],
                         ("slot",))  # fmt: skip

    def held(self, run_id: int, prefix: str) -> dict[str, Holder]:
        """Key → live holder of the run's held requests whose keys start with `prefix` ("g:" for slots,
        f"s:{scorer_id}:" for one scorer's judgments). Holds of expired leases, and of processes on this
        machine that are gone, are not live."""
        here, now = _machine(), time.time()
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(HoldRow.slot, LeaseRow.owner, LeaseRow.host, LeaseRow.machine, LeaseRow.pid,
                       LeaseRow.expires, LeaseRow.batch_id, BatchRow.remote_id, BatchRow.status)
                .join(LeaseRow, LeaseRow.owner == HoldRow.owner)
                .outerjoin(BatchRow, BatchRow.id == LeaseRow.batch_id)
                .where(HoldRow.run_id == run_id, HoldRow.slot.startswith(prefix, autoescape=True))
            ).all()  # fmt: skip
        owners: dict[str, list[str]] = {}
        info: dict[str, Any] = {}
        for slot, owner, host, machine, pid, expires, batch_id, remote_id, status in rows:
            if batch_id is None and ((expires or 0) < now or (machine == here and pid and not _pid_alive(pid))):
                continue
            owners.setdefault(owner, []).append(slot)
            info[owner] = (host, pid, expires, batch_id, remote_id, status)
        found: dict[str, Holder] = {}
        for owner, slots in owners.items():
            host, pid, expires, batch_id, remote_id, status = info[owner]
            batch = None if batch_id is None else (remote_id or f"(local {batch_id})")
            holder = Holder(owner, len(slots), host, pid, expires, batch, status)
            found.update(dict.fromkeys(slots, holder))
        return found

    @staticmethod
    def holders_of(held: dict[str, Holder], keys: Collection[str]) -> list[Holder]:
        """The holders of these keys (from `held`), each counting only these keys, most requests first."""
        counts: dict[str, int] = {}
        by_owner: dict[str, Holder] = {}
        for key in keys:
            if (holder := held.get(key)) is not None:
                counts[holder.owner] = counts.get(holder.owner, 0) + 1
                by_owner[holder.owner] = holder
        return sorted((dataclasses.replace(h, requests=counts[o]) for o, h in by_owner.items()),
                      key=lambda h: -h.requests)  # fmt: skip
