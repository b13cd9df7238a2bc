"""Redis caches: query results and answers (keyed by the collection's index version, so any
ingestion or deletion makes old entries unreachable) and query embeddings."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import logging
import re
from collections.abc import Coroutine
from typing import Any

import numpy as np
from redis.asyncio import Redis

from ragstack.observability.metrics import CACHE_REQUESTS

log = logging.getLogger(__name__)
_SPACES = re.compile(r"\s+")
_pending: set[asyncio.Task[None]] = set()


def in_background(write: Coroutine[Any, Any, None]) -> None:
    """Run a cache write without making the request wait for it; failures are only logged."""

    async def guarded() -> None:
        try:
            await write
        except Exception as error:
            log.warning("cache write failed: %s", error)

    task = asyncio.get_running_loop().create_task(guarded())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


def normalize_query(text: str) -> str:
    return _SPACES.sub(" ", text).strip().lower()


def _digest(*parts: Any) -> str:
    payload = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


class ResultCache:
    """JSON values keyed by (kind, collection incarnation, index version, request parameters)."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def key(self, kind: str, store_name: str, version: int, **params: Any) -> str:
        return f"{self._prefix}:cache:{kind}:{store_name}:{version}:{_digest(params)}"

    async def get(self, kind: str, key: str) -> Any | None:
        if self._ttl <= 0:
            return None
        raw = await self._redis.get(key)
        CACHE_REQUESTS.labels(kind, "miss" if raw is None else "hit").inc()
        return None if raw is None else json.loads(raw)

    async def put(self, key: str, value: Any) -> None:
        if self._ttl > 0:
            await self._redis.set(key, json.dumps(value), ex=self._ttl)


class EmbeddingCache:
    def __init__(self, redis: Redis, prefix: str, model_id: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:emb:{model_id}"
        self._ttl = ttl_seconds

    def _key(self, text: str) -> str:
        return f"{self._prefix}:{hashlib.sha256(text.encode()).hexdigest()}"

    async def get(self, text: str) -> list[float] | None:
        if self._ttl <= 0:
            return None
        raw = await self._redis.get(self._key(text))
        CACHE_REQUESTS.labels("embedding", "miss" if raw is None else "hit").inc()
        if raw is None:
            return None
        return np.frombuffer(base64.b64decode(raw), dtype=np.float32).tolist()

    async def put(self, text: str, vector: list[float]) -> None:
        if self._ttl > 0:
            encoded = base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes())
            await self._redis.set(self._key(text), encoded, ex=self._ttl)
