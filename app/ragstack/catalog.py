"""Collections and documents, kept in Redis so that every process on every host sees them.

Keys (``P`` is ``RAGSTACK_REDIS_PREFIX``):
  P:collections               zset  name -> creation time
  P:coll:NAME                 hash  name, description, created_at, store_name, version, counts
  P:coll:NAME:docs            zset  document id -> admission time (all states)
  P:coll:NAME:live            set   ids of the ready documents, the only ones queries return
  P:coll:NAME:names           hash  filename -> live document id
  P:coll:NAME:sha             hash  sha256 -> document id (deduplication)
  P:doc:ID                    hash  json (the Document as admitted), status, error, error_kind,
                                    chunk_count, title, seq, node, attempts, updated_at
  P:admissions                str   admission sequence (orders uploads of the same filename)
  P:changes                   stream  op (created|ready|deleted|dropped), coll, doc, retired,
                                      version: what the hosts' lexical indexes follow

Every document state change is one Lua script (``ragstack/lua/``): uploaded (queued) ->
processing -> ready | failed, and delete from any state. A document's chunks are written to the
vector store before it becomes ready and are visible to queries only once it joins the live set;
the swap of a replaced document, the counts and the index-version bump happen in the same script.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from importlib.resources import files
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from ragstack.errors import ConflictError, NotFoundError

# The change feed keeps this many entries (approximately): indexers that fall further behind
# rebuild from the vector store.
CHANGE_FEED_LENGTH = 100_000


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@cache
def lua(name: str) -> str:
    """A state-transition script shipped as package data (ragstack/lua/NAME.lua)."""
    return files("ragstack").joinpath("lua", f"{name}.lua").read_text()


class DocumentStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


MetadataValue = str | int | float | bool


class Collection(BaseModel):
    name: str
    description: str | None = None
    document_count: int = 0
    chunk_count: int = 0
    created_at: str


class CollectionRecord(Collection):
    store_name: str
    version: int
    embedding_model: str | None = None

    def public(self) -> Collection:
        return Collection.model_validate(self.model_dump(include=set(Collection.model_fields)))


class Document(BaseModel):
    id: str
    collection: str
    filename: str
    title: str
    content_type: str
    sha256: str
    size_bytes: int
    chunk_count: int = 0
    status: DocumentStatus
    error: str | None = None
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)
    created_at: str
    updated_at: str | None = None


@dataclass(frozen=True)
class DocumentState:
    """A document with what only the pipeline needs: where its original is, why it failed."""

    document: Document
    node: str
    error_kind: str | None
    attempts: int


def _state_from(raw: dict[str, str]) -> DocumentState:
    document = Document.model_validate_json(raw["json"]).model_copy(
        update={
            "status": DocumentStatus(raw["status"]),
            "error": raw.get("error") or None,
            "chunk_count": int(raw.get("chunk_count") or 0),
            "title": raw.get("title") or Document.model_validate_json(raw["json"]).title,
            "updated_at": raw.get("updated_at"),
        }
    )
    return DocumentState(
        document=document,
        node=raw.get("node", ""),
        error_kind=raw.get("error_kind") or None,
        attempts=int(raw.get("attempts") or 0),
    )


@dataclass(frozen=True)
class Admission:
    outcome: str  # created | duplicate | busy | nocoll
    document_id: str


@dataclass(frozen=True)
class Activation:
    outcome: str  # ready | superseded | gone | duplicate | failed | queued
    retired_id: str | None


class Catalog:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._p = prefix
        self._admit = redis.register_script(lua("admit"))
        self._claim = redis.register_script(lua("claim"))
        self._activate = redis.register_script(lua("activate"))
        self._fail = redis.register_script(lua("fail"))
        self._delete = redis.register_script(lua("delete"))
        self._recount = redis.register_script(lua("recount"))

    # keys
    def _coll(self, name: str) -> str:
        return f"{self._p}:coll:{name}"

    def _doc(self, document_id: str) -> str:
        return f"{self._p}:doc:{document_id}"

    @property
    def changes_key(self) -> str:
        return f"{self._p}:changes"

    # collections
    async def create_collection(
        self, name: str, description: str | None, store_name: str, embedding_model: str
    ) -> CollectionRecord:
        key = self._coll(name)
        if not await self._redis.hsetnx(key, "name", name):
            raise ConflictError(f"collection {name!r} already exists")
        record = CollectionRecord(
            name=name,
            description=description,
            created_at=utcnow(),
            store_name=store_name,
            version=1,
            embedding_model=embedding_model,
        )
        fields = {
            "description": description or "",
            "created_at": record.created_at,
            "store_name": store_name,
            "embedding_model": embedding_model,
            "version": 1,
            "document_count": 0,
            "chunk_count": 0,
        }
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.zadd(f"{self._p}:collections", {name: time.time()})
            pipe.xadd(
                self.changes_key,
                {"op": "created", "coll": name, "doc": "", "retired": "", "version": 1},
                maxlen=CHANGE_FEED_LENGTH,
                approximate=True,
            )
            await pipe.execute()
        return record

    async def exists(self, name: str) -> bool:
        return bool(await self._redis.exists(self._coll(name)))

    async def get_collection(self, name: str) -> CollectionRecord:
        raw = await self._redis.hgetall(self._coll(name))
        if not raw or "store_name" not in raw:
            raise NotFoundError(f"collection {name!r} does not exist")
        return self._collection_from(raw)

    async def get_collection_with(
        self, name: str, keys: list[str]
    ) -> tuple[CollectionRecord, list[str | None]]:
        """The collection and the values of ``keys`` (cache entries), in one round trip."""
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(self._coll(name))
            for key in keys:
                pipe.get(key)
            raw, *values = await pipe.execute()
        if not raw or "store_name" not in raw:
            raise NotFoundError(f"collection {name!r} does not exist")
        return self._collection_from(raw), values

    @staticmethod
    def _collection_from(raw: dict[str, str]) -> CollectionRecord:
        return CollectionRecord(
            name=raw["name"],
            description=raw.get("description") or None,
            document_count=int(raw.get("document_count", 0)),
            chunk_count=int(raw.get("chunk_count", 0)),
            created_at=raw["created_at"],
            store_name=raw["store_name"],
            version=int(raw["version"]),
            embedding_model=raw.get("embedding_model") or None,
        )

    async def list_collections(self) -> list[CollectionRecord]:
        names = await self._redis.zrange(f"{self._p}:collections", 0, -1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hgetall(self._coll(name))
            rows = await pipe.execute()
        return [self._collection_from(r) for r in rows if r and "store_name" in r]

    async def delete_collection(self, name: str) -> tuple[CollectionRecord, list[str]]:
        record = await self.get_collection(name)
        key = self._coll(name)
        document_ids = await self._redis.zrange(f"{key}:docs", 0, -1)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(key, f"{key}:docs", f"{key}:live", f"{key}:names", f"{key}:sha")
            pipe.zrem(f"{self._p}:collections", name)
            for document_id in document_ids:
                pipe.delete(self._doc(document_id))
            pipe.xadd(
                self.changes_key,
                {"op": "dropped", "coll": name, "doc": "", "retired": "", "version": 0},
                maxlen=CHANGE_FEED_LENGTH,
                approximate=True,
            )
            await pipe.execute()
        return record, document_ids

    async def snapshot(self, name: str) -> tuple[int, set[str]]:
        """The index version and the live document ids, read atomically."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._coll(name), "version")
            pipe.smembers(f"{self._coll(name)}:live")
            version, live = await pipe.execute()
        if version is None:
            raise NotFoundError(f"collection {name!r} does not exist")
        return int(version), set(live)

    async def live_among(self, name: str, document_ids: set[str]) -> tuple[int, set[str]]:
        """The collection's version and which of these documents are live (ready) in it, read
        atomically in one round trip: a version other than the one the documents were found
        under means one was activated or deleted in between (activate.lua, delete.lua)."""
        ordered = sorted(document_ids)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hget(self._coll(name), "version")
            if ordered:
                pipe.smismember(f"{self._coll(name)}:live", ordered)
            version, *flags = await pipe.execute()
        if version is None:
            raise NotFoundError(f"collection {name!r} does not exist")
        live = flags[0] if flags else []
        return int(version), {i for i, on in zip(ordered, live, strict=True) if on}

    # documents: reads
    async def get_state(self, document_id: str) -> DocumentState | None:
        raw = await self._redis.hgetall(self._doc(document_id))
        return _state_from(raw) if raw and "json" in raw else None

    async def get_states(self, document_ids: list[str]) -> dict[str, DocumentState]:
        async with self._redis.pipeline(transaction=False) as pipe:
            for document_id in document_ids:
                pipe.hgetall(self._doc(document_id))
            rows = await pipe.execute()
        return {
            i: _state_from(raw)
            for i, raw in zip(document_ids, rows, strict=True)
            if raw and "json" in raw
        }

    async def get_document(self, collection: str, document_id: str) -> Document:
        state = await self.get_state(document_id)
        if state is None or state.document.collection != collection:
            raise NotFoundError(f"document {document_id!r} does not exist in {collection!r}")
        return state.document

    async def document_ids(self, collection: str) -> list[str]:
        return await self._redis.zrange(f"{self._coll(collection)}:docs", 0, -1)

    async def list_documents(
        self, collection: str, limit: int, offset: int, filters: dict[str, str]
    ) -> tuple[list[Document], int]:
        key = f"{self._coll(collection)}:docs"
        if not filters:
            total = await self._redis.zcard(key)
            ids = await self._redis.zrange(key, offset, offset + limit - 1)
            states = await self.get_states(ids)
            return [states[i].document for i in ids if i in states], total
        ids = await self._redis.zrange(key, 0, -1)
        states = await self.get_states(ids)
        documents = [
            states[i].document
            for i in ids
            if i in states
            and all(_as_text(states[i].document.metadata.get(k)) == v for k, v in filters.items())
        ]
        return documents[offset : offset + limit], len(documents)

    # documents: state transitions (ragstack/lua/*.lua)
    async def admit(
        self, document: Document, node: str, stream: str, queue_limit: int
    ) -> Admission:
        coll = self._coll(document.collection)
        outcome, document_id = await self._admit(
            keys=[coll, f"{coll}:sha", self._doc(document.id), f"{coll}:docs", stream,
                  f"{self._p}:admissions"],
            args=[document.id, document.sha256, document.model_dump_json(), document.filename,
                  document.collection, utcnow(), queue_limit, node, time.time(),
                  self._doc("")],
        )  # fmt: skip
        return Admission(outcome, document_id)

    async def claim(self, collection: str, document_id: str, worker: str) -> str:
        return await self._claim(
            keys=[self._doc(document_id), self._coll(collection)], args=[utcnow(), worker]
        )

    async def activate(
        self, collection: str, document_id: str, chunk_count: int, title: str
    ) -> Activation:
        coll = self._coll(collection)
        outcome, retired = await self._activate(
            keys=[self._doc(document_id), coll, f"{coll}:live", f"{coll}:names", f"{coll}:sha",
                  f"{coll}:docs", self.changes_key],
            args=[document_id, chunk_count, title, utcnow(), self._doc(""), collection,
                  CHANGE_FEED_LENGTH],
        )  # fmt: skip
        return Activation(outcome, retired or None)

    async def fail(self, document_id: str, reason: str, kind: str) -> str:
        return await self._fail(keys=[self._doc(document_id)], args=[reason, kind, utcnow()])

    async def delete_document(self, collection: str, document_id: str) -> bool:
        """Delete in any state; False if there was no such document."""
        coll = self._coll(collection)
        outcome, _previous = await self._delete(
            keys=[self._doc(document_id), coll, f"{coll}:live", f"{coll}:names", f"{coll}:sha",
                  f"{coll}:docs", self.changes_key],
            args=[document_id, collection, CHANGE_FEED_LENGTH],
        )  # fmt: skip
        return outcome == "deleted"

    async def recount(self, collection: str) -> tuple[int, int, int, int] | None:
        """(documents, chunks, stored documents, stored chunks): the live set counted and the
        collection's counters repaired if they drifted; None if the collection is gone."""
        coll = self._coll(collection)
        row = await self._recount(keys=[coll, f"{coll}:live"], args=[self._doc("")])
        return (int(row[0]), int(row[1]), int(row[2]), int(row[3])) if row else None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
