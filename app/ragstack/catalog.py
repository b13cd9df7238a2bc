"""Collections, documents and ingestion jobs, kept in Redis so that every worker sees them.

Keys (``P`` is ``RAGSTACK_REDIS_PREFIX``):
  P:collections               zset  name -> creation time
  P:coll:NAME                 hash  name, description, created_at, store_name, version, counts
  P:coll:NAME:docs            zset  document id -> creation time (all states)
  P:coll:NAME:live            set   ids of the documents that queries may return
  P:coll:NAME:names           hash  filename -> live document id
  P:coll:NAME:sha             hash  sha256 -> document id (deduplication)
  P:doc:ID                    str   Document JSON
  P:job:ID                    str   Job JSON (expires after a week)

A document's chunks are written to the vector store first and become visible only when the document
joins the live set; the swap of a replaced document and the index-version bump happen in one Redis
transaction, so queries see either the old or the new version, never both or neither.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from ragstack.errors import ConflictError, NotFoundError

JOB_TTL_SECONDS = 7 * 86400


def utcnow() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class DocumentStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


class JobStatus(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
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


class Job(BaseModel):
    id: str
    status: JobStatus
    document_id: str
    collection: str
    error: str | None = None
    created_at: str
    updated_at: str


class Catalog:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._p = prefix

    # keys
    def _coll(self, name: str) -> str:
        return f"{self._p}:coll:{name}"

    def _doc(self, document_id: str) -> str:
        return f"{self._p}:doc:{document_id}"

    def _job(self, job_id: str) -> str:
        return f"{self._p}:job:{job_id}"

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

    # documents
    async def put_document(self, document: Document) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._doc(document.id), document.model_dump_json())
            pipe.zadd(f"{self._coll(document.collection)}:docs", {document.id: time.time()})
            await pipe.execute()

    async def get_document(self, collection: str, document_id: str) -> Document:
        raw = await self._redis.get(self._doc(document_id))
        if raw is None:
            raise NotFoundError(f"document {document_id!r} does not exist")
        document = Document.model_validate_json(raw)
        if document.collection != collection:
            raise NotFoundError(f"document {document_id!r} does not exist in {collection!r}")
        return document

    async def find_by_sha256(self, collection: str, sha256: str) -> Document | None:
        document_id = await self._redis.hget(f"{self._coll(collection)}:sha", sha256)
        if document_id is None:
            return None
        try:
            return await self.get_document(collection, document_id)
        except NotFoundError:
            return None

    async def live_id_for_name(self, collection: str, filename: str) -> str | None:
        return await self._redis.hget(f"{self._coll(collection)}:names", filename)

    async def list_documents(
        self, collection: str, limit: int, offset: int, filters: dict[str, str]
    ) -> tuple[list[Document], int]:
        key = f"{self._coll(collection)}:docs"
        if not filters:
            total = await self._redis.zcard(key)
            ids = await self._redis.zrange(key, offset, offset + limit - 1)
            return await self._load_documents(ids), total
        documents = [
            d
            for d in await self._load_documents(await self._redis.zrange(key, 0, -1))
            if all(_as_text(d.metadata.get(k)) == v for k, v in filters.items())
        ]
        return documents[offset : offset + limit], len(documents)

    async def _load_documents(self, ids: list[str]) -> list[Document]:
        if not ids:
            return []
        rows = await self._redis.mget([self._doc(i) for i in ids])
        return [Document.model_validate_json(r) for r in rows if r is not None]

    async def activate_document(self, document: Document, replaces: str | None) -> Document | None:
        """Make a ready document visible, retire the one it replaces, bump the index version."""
        coll = self._coll(document.collection)
        old: Document | None = None
        if replaces and replaces != document.id:
            try:
                old = await self.get_document(document.collection, replaces)
            except NotFoundError:
                old = None
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(self._doc(document.id), document.model_dump_json())
            pipe.zadd(f"{coll}:docs", {document.id: time.time()}, nx=True)
            pipe.sadd(f"{coll}:live", document.id)
            pipe.hset(f"{coll}:names", document.filename, document.id)
            pipe.hset(f"{coll}:sha", document.sha256, document.id)
            pipe.hincrby(coll, "document_count", 1)
            pipe.hincrby(coll, "chunk_count", document.chunk_count)
            if old is not None:
                self._retire(pipe, old, keep_name=True)
            pipe.hincrby(coll, "version", 1)
            await pipe.execute()
        return old

    def _retire(self, pipe: Any, document: Document, keep_name: bool) -> None:
        coll = self._coll(document.collection)
        pipe.delete(self._doc(document.id))
        pipe.zrem(f"{coll}:docs", document.id)
        if document.status == DocumentStatus.ready:
            pipe.srem(f"{coll}:live", document.id)
            pipe.hincrby(coll, "document_count", -1)
            pipe.hincrby(coll, "chunk_count", -document.chunk_count)
        if not keep_name:
            pipe.hdel(f"{coll}:names", document.filename)

    async def remove_document(self, document: Document) -> None:
        coll = self._coll(document.collection)
        async with self._redis.pipeline(transaction=True) as pipe:
            self._retire(pipe, document, keep_name=True)
            if document.status == DocumentStatus.ready:
                pipe.hincrby(coll, "version", 1)
            await pipe.execute()
        # Only forget the name/sha mappings if they still point at this document.
        await self._redis.eval(_HDEL_IF_EQUAL, 1, f"{coll}:names", document.filename, document.id)
        await self._redis.eval(_HDEL_IF_EQUAL, 1, f"{coll}:sha", document.sha256, document.id)

    # jobs
    async def put_job(self, job: Job) -> None:
        await self._redis.set(self._job(job.id), job.model_dump_json(), ex=JOB_TTL_SECONDS)

    async def get_job(self, job_id: str) -> Job:
        raw = await self._redis.get(self._job(job_id))
        if raw is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return Job.model_validate_json(raw)

    async def new_job(self, collection: str, document_id: str) -> Job:
        now = utcnow()
        job = Job(
            id=uuid.uuid4().hex,
            status=JobStatus.queued,
            document_id=document_id,
            collection=collection,
            created_at=now,
            updated_at=now,
        )
        await self.put_job(job)
        return job


_HDEL_IF_EQUAL = """
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
"""


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
