"""Keeps this host's lexical index in step with the catalog (runs inside ``ragstack-worker``).

It follows the change feed ``P:changes`` (written by the document state scripts): a document
that became ready is (re)added with its chunks read from ChromaDB, a retired or deleted one is
removed, a dropped collection is removed whole. Changes are applied in batches, one commit each.
An index that is new, or further behind than the feed still reaches (the feed is capped), is
rebuilt from ChromaDB first and then follows the feed from where the rebuild started. Applying
an entry twice does no harm (delete, then add), so a crash between commit and state is harmless.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from ragstack.catalog import Catalog
from ragstack.errors import NotFoundError
from ragstack.observability.metrics import LEXICAL_APPLY_SECONDS, LEXICAL_CHANGES
from ragstack.retrieval.lexical import IndexState, LexicalIndex
from ragstack.retrieval.vectorstore import VectorStore

log = logging.getLogger(__name__)
BATCH = 200
BLOCK_MS = 1000


class Indexer:
    def __init__(
        self, redis: Redis, catalog: Catalog, store: VectorStore, index: LexicalIndex
    ) -> None:
        self._redis = redis
        self._catalog = catalog
        self._store = store
        self._index = index
        self._state = IndexState("0-0", {})

    async def start(self) -> None:
        state = await anyio.to_thread.run_sync(self._index.state)
        if state is None or not await self._feed_reaches(state.feed_id):
            await self.rebuild()
        else:
            self._state = state

    async def _feed_reaches(self, feed_id: str) -> bool:
        """True if no entry after ``feed_id`` was trimmed off the (capped) feed. Trimming takes
        the oldest entries first, so while ``feed_id`` itself is still there nothing after it is
        missing."""
        try:
            info = await self._redis.xinfo_stream(self._catalog.changes_key)
        except ResponseError:  # no feed yet
            return True
        if feed_id == "0-0":  # read from the start: nothing may ever have been trimmed
            return int(info["entries-added"]) == int(info["length"])
        if not info["length"]:
            return _id_tuple(info["last-generated-id"]) <= _id_tuple(feed_id)
        return _id_tuple(info["first-entry"][0]) <= _id_tuple(feed_id)

    async def rebuild(self) -> None:
        started = time.perf_counter()
        last = await self._redis.xrevrange(self._catalog.changes_key, "+", "-", count=1)
        feed_id = last[0][0] if last else "0-0"
        versions: dict[str, int] = {}
        await anyio.to_thread.run_sync(self._index.delete_all)
        chunks = 0
        for record in await self._catalog.list_collections():
            version, live = await self._catalog.snapshot(record.name)
            stored = await self._store.all_chunks(record.store_name)
            rows = [
                (c.chunk_id, c.text, c.metadata)
                for c in stored
                if c.metadata.get("document_id") in live
            ]
            chunks += await anyio.to_thread.run_sync(self._index.add, record.name, rows)
            versions[record.name] = version
        self._state = IndexState(feed_id, versions)
        await anyio.to_thread.run_sync(self._index.commit, self._state)
        log.info(
            "lexical index rebuilt from ChromaDB: %d chunks in %.1fs",
            chunks,
            time.perf_counter() - started,
        )

    async def follow(self, stopping: Callable[[], bool]) -> None:
        while not stopping():
            try:
                await self.step(BLOCK_MS)
            except Exception:
                log.exception("lexical indexer: applying the change feed failed; retrying")
                await asyncio.sleep(2)

    async def step(self, block_ms: int | None = None) -> int:
        """Apply what the feed holds after our position (waiting up to ``block_ms``)."""
        reply = await self._redis.xread(
            {self._catalog.changes_key: self._state.feed_id}, count=BATCH, block=block_ms
        )
        entries = [row for _stream, rows in reply or [] for row in rows]
        if not entries:
            if not await self._feed_reaches(self._state.feed_id):
                log.warning("lexical index fell behind the change feed: rebuilding")
                await self.rebuild()
            return 0
        started = time.perf_counter()
        versions = dict(self._state.versions)
        chunks = await self._chunks_of_ready_documents([change for _id, change in entries])
        for entry_id, change in entries:
            await self._apply(change, versions, chunks)
            LEXICAL_CHANGES.labels(change.get("op", "?")).inc()
            self._state = IndexState(entry_id, versions)
        await anyio.to_thread.run_sync(self._index.commit, self._state)
        LEXICAL_APPLY_SECONDS.observe(time.perf_counter() - started)
        return len(entries)

    async def _chunks_of_ready_documents(
        self, changes: list[dict[str, str]]
    ) -> dict[str, list[tuple[str, str, dict[str, Any]]]]:
        """The chunks of every document these changes make ready, read from ChromaDB with one
        request per collection (and page of documents), by document id."""
        wanted: dict[str, list[str]] = {}
        for change in changes:
            if change.get("op") == "ready":
                wanted.setdefault(change["coll"], []).append(change["doc"])
        by_document: dict[str, list[tuple[str, str, dict[str, Any]]]] = {}
        for collection, document_ids in wanted.items():
            try:
                record = await self._catalog.get_collection(collection)
            except NotFoundError:
                continue  # dropped since: its own entry follows
            for chunk in await self._store.document_chunks(record.store_name, document_ids):
                document_id = str(chunk.metadata.get("document_id", ""))
                row = (chunk.chunk_id, chunk.text, dict(chunk.metadata))
                by_document.setdefault(document_id, []).append(row)
        return by_document

    async def _apply(
        self,
        change: dict[str, str],
        versions: dict[str, int],
        chunks: dict[str, list[tuple[str, str, dict[str, Any]]]],
    ) -> None:
        collection, document_id, op = change["coll"], change["doc"], change["op"]
        run: Callable[..., Awaitable[object]] = anyio.to_thread.run_sync
        if op == "dropped":
            await run(self._index.delete_collection, collection)
            versions.pop(collection, None)
            return
        if op == "created":
            versions[collection] = max(versions.get(collection, 0), int(change["version"]))
            return
        if change.get("retired"):
            await run(self._index.delete_document, change["retired"])
        await run(self._index.delete_document, document_id)
        if op == "ready":
            await run(self._index.add, collection, chunks.get(document_id, []))
        versions[collection] = max(versions.get(collection, 0), int(change.get("version", 0)))


def _id_tuple(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq or 0)
