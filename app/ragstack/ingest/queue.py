"""The ingestion queue: one Redis stream per app host, consumed by that host's workers through a
consumer group (docs/architecture/ingestion.md says why this and not a task library).

- An entry is added by the admission script in the same step that creates the document.
- ``read`` delivers new entries; an entry stays in the group's pending list until ``ack``.
- A worker holds a lease on what it is processing by ``renew``-ing it (XCLAIM to itself resets
  the entry's idle time); entries idle longer than the lease belong to a worker that died and
  are taken over with ``reclaim`` (XAUTOCLAIM), which counts the delivery.
- ``ack`` removes the entry (XACK + XDEL), so the stream's length is the queue's depth.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import ResponseError

GROUP = "workers"
DEAD_LETTER_LENGTH = 10_000


@dataclass(frozen=True)
class Entry:
    id: str
    document_id: str
    collection: str
    deliveries: int = 1


@dataclass(frozen=True)
class QueueStats:
    depth: int
    pending: int
    oldest_age_seconds: float


def entry_time(entry_id: str) -> float:
    """Unix time at which an entry was added (stream ids start with milliseconds)."""
    return int(entry_id.split("-", 1)[0]) / 1000


class IngestQueue:
    def __init__(self, redis: Redis, prefix: str, node: str) -> None:
        self._redis = redis
        self._p = prefix
        self.node = node
        self.stream = self.stream_for(node)
        self.dead_letters = f"{prefix}:ingest:dead"
        self.nodes = f"{prefix}:ingest:nodes"

    def stream_for(self, node: str) -> str:
        return f"{self._p}:ingest:{node}"

    async def ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, GROUP, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    async def heartbeat(self) -> None:
        """This host's workers are alive (the reconciler fails the queue of a host lost)."""
        await self._redis.hset(self.nodes, self.node, f"{time.time():.3f}")

    async def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        try:
            reply = await self._redis.xreadgroup(
                GROUP, consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        except ResponseError as error:
            if "NOGROUP" not in str(error):
                raise
            await self.ensure_group()  # the stream was deleted (e.g. Redis restored empty)
            return []
        return [_entry(i, f) for _stream, rows in reply or [] for i, f in rows if f]

    async def claim_own(self, consumer: str) -> list[Entry]:
        """Entries a previous run of this same consumer took and never finished: after a
        restart they need not wait for the lease to run out."""
        pending = await self._redis.xpending_range(
            self.stream, GROUP, min="-", max="+", count=1000, consumername=consumer
        )
        if not pending:
            return []
        ids = [p["message_id"] for p in pending]
        rows = await self._redis.xclaim(self.stream, GROUP, consumer, 0, ids)
        deliveries = {p["message_id"]: int(p["times_delivered"]) for p in pending}
        return [_entry(i, f, deliveries.get(i, 1)) for i, f in rows if f]

    async def reclaim(self, consumer: str, lease_ms: int, count: int) -> list[Entry]:
        """Take over entries whose lease ran out (their worker died or hangs)."""
        _next, rows, _deleted = await self._redis.xautoclaim(
            self.stream, GROUP, consumer, lease_ms, start_id="0-0", count=count
        )
        entries = [_entry(i, f) for i, f in rows if f]
        if not entries:
            return []
        deliveries = await self._deliveries([e.id for e in entries])
        return [
            Entry(e.id, e.document_id, e.collection, deliveries.get(e.id, e.deliveries))
            for e in entries
        ]

    async def _deliveries(self, ids: list[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for entry_id in ids:
            rows = await self._redis.xpending_range(
                self.stream, GROUP, min=entry_id, max=entry_id, count=1
            )
            if rows:
                found[entry_id] = int(rows[0]["times_delivered"])
        return found

    async def renew(self, consumer: str, ids: list[str]) -> None:
        if ids:
            await self._redis.xclaim(self.stream, GROUP, consumer, 0, ids, justid=True)

    async def ack(self, entry_id: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, GROUP, entry_id)
            pipe.xdel(self.stream, entry_id)
            await pipe.execute()

    async def dead_letter(self, entry: Entry, reason: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.xadd(
                self.dead_letters,
                {"doc": entry.document_id, "coll": entry.collection, "node": self.node,
                 "deliveries": entry.deliveries, "reason": reason[:500]},
                maxlen=DEAD_LETTER_LENGTH,
                approximate=True,
            )  # fmt: skip
            pipe.xack(self.stream, GROUP, entry.id)
            pipe.xdel(self.stream, entry.id)
            await pipe.execute()

    async def requeue(self, document_id: str, collection: str) -> None:
        await self._redis.xadd(self.stream, {"doc": document_id, "coll": collection})

    async def entries(self, node: str | None = None) -> list[Entry]:
        """Every entry still in a host's stream, delivered or not (bounded by the queue limit)."""
        rows = await self._redis.xrange(self.stream_for(node or self.node), "-", "+")
        return [_entry(i, f) for i, f in rows if f]

    async def known_nodes(self) -> dict[str, float]:
        raw = await self._redis.hgetall(self.nodes)
        return {node: float(seen) for node, seen in raw.items()}

    async def forget_node(self, node: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self.stream_for(node))
            pipe.hdel(self.nodes, node)
            await pipe.execute()

    async def stats(self, node: str) -> QueueStats:
        stream = self.stream_for(node)
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.xlen(stream)
            pipe.xrange(stream, "-", "+", count=1)
            depth, first = await pipe.execute()
        try:
            summary = await self._redis.xpending(stream, GROUP)
            pending = int(summary["pending"])
        except ResponseError:
            pending = 0
        oldest = time.time() - entry_time(first[0][0]) if first else 0.0
        return QueueStats(int(depth), pending, max(0.0, oldest))

    async def dead_letter_count(self) -> int:
        return int(await self._redis.xlen(self.dead_letters))


def _entry(entry_id: str, fields: dict[str, str], deliveries: int = 1) -> Entry:
    return Entry(entry_id, fields.get("doc", ""), fields.get("coll", ""), deliveries)
