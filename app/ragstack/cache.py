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
    """JSON results keyed by (kind, collection name, request parameters). Each entry records the
    collection incarnation and index version it was computed for, and is only used while they are
    current: any ingestion or deletion bumps the version, so old entries are never served. Keeping
    the version out of the key lets the lookup share one Redis round trip with the collection's."""

    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def key(self, kind: str, collection: str, **params: Any) -> str:
        return f"{self._prefix}:cache:{kind}:{collection}:{_digest(params)}"

    def decode(self, kind: str, raw: str | None, store_name: str, version: int) -> Any | None:
        """The cached value if ``raw`` was stored for this incarnation and version."""
        if not self.enabled:
            return None
        entry = json.loads(raw) if raw else None
        fresh = entry is not None and entry.get("at") == [store_name, version]
        CACHE_REQUESTS.labels(kind, "hit" if fresh else "miss").inc()
        return entry["value"] if fresh else None

    async def put(self, key: str, store_name: str, version: int, value: Any) -> None:
        if self.enabled:
            entry = {"at": [store_name, version], "value": value}
            await self._redis.set(key, json.dumps(entry), ex=self._ttl)


class EmbeddingCache:
    def __init__(self, redis: Redis, prefix: str, model_id: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = f"{prefix}:emb:{model_id}"
        self._ttl = ttl_seconds

    @property
    def enabled(self) -> bool:
        return self._ttl > 0

    def key(self, text: str) -> str:
        return f"{self._prefix}:{hashlib.sha256(text.encode()).hexdigest()}"

    def decode(self, raw: str | None) -> list[float] | None:
        if not self.enabled:
            return None
        CACHE_REQUESTS.labels("embedding", "miss" if raw is None else "hit").inc()
        if raw is None:
            return None
        return np.frombuffer(base64.b64decode(raw), dtype=np.float32).tolist()

    async def put(self, text: str, vector: list[float]) -> None:
        if self.enabled:
            encoded = base64.b64encode(np.asarray(vector, dtype=np.float32).tobytes())
            await self._redis.set(self.key(text), encoded, ex=self._ttl)
