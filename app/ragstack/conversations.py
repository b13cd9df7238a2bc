"""Conversation history in Redis, one list per conversation, expiring after a TTL of inactivity.

Each conversation is stored under its owner (a user or API key id): another owner asking for the
same id finds nothing.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from redis.asyncio import Redis

from ragstack.errors import NotFoundError


class Conversation(NamedTuple):
    owner: str  # Principal.id of whoever started it
    id: str


class ConversationStore:
    def __init__(self, redis: Redis, prefix: str, ttl_seconds: int) -> None:
        self._redis = redis
        self._prefix = prefix
        self._ttl = ttl_seconds

    def _key(self, owner: str, conversation_id: str) -> str:
        return f"{self._prefix}:conv:{owner}:{conversation_id}"

    async def history(
        self, owner: str, conversation_id: str, max_messages: int
    ) -> list[dict[str, Any]]:
        if max_messages <= 0:
            return []
        rows = await self._redis.lrange(self._key(owner, conversation_id), -max_messages, -1)
        return [json.loads(r) for r in rows]

    async def append(self, owner: str, conversation_id: str, *messages: dict[str, Any]) -> None:
        key = self._key(owner, conversation_id)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *[json.dumps(m) for m in messages])
            pipe.expire(key, self._ttl)
            await pipe.execute()

    async def get(self, owner: str, conversation_id: str) -> list[dict[str, Any]]:
        rows = await self._redis.lrange(self._key(owner, conversation_id), 0, -1)
        if not rows:
            raise NotFoundError(f"conversation {conversation_id!r} does not exist or expired")
        return [json.loads(r) for r in rows]
