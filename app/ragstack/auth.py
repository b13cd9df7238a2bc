"""API keys (only their sha256 is configured) with scopes, and token buckets in Redis.

Principals are API keys or signed-in users (ragstack.accounts); each has its own bucket.

Generate a key and the line to configure with ``python -m ragstack.auth NAME SCOPE``.
Keys are 256-bit random strings, so a plain sha256 is enough to store them: unlike passwords they
cannot be guessed, and a fast hash keeps the check cheap on every request.
"""

from __future__ import annotations

import hashlib
import json
import math
import secrets
import sys
from dataclasses import dataclass

from redis.asyncio import Redis

from ragstack.config import ApiKeySpec, Scope
from ragstack.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)

SCOPE_RANK = {Scope.read: 1, Scope.write: 2, Scope.admin: 3}
KEY_PREFIX = "rsk_"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class Principal:
    name: str
    scopes: frozenset[Scope]
    rate_per_minute: float
    burst: int
    # None: every collection; otherwise only these.
    collections: frozenset[str] | None = None
    kind: str = "key"  # "key" or "user"

    @property
    def id(self) -> str:
        """Unique across kinds: a user and a key of the same name never share a bucket."""
        return f"{self.kind}:{self.name}"

    def allows(self, needed: Scope) -> bool:
        return any(SCOPE_RANK[s] >= SCOPE_RANK[needed] for s in self.scopes)

    def may_use(self, collection: str) -> bool:
        return self.collections is None or collection in self.collections

    def check_collection(self, collection: str) -> None:
        """Same answer as for a missing collection: names outside the list stay unknown."""
        if not self.may_use(collection):
            raise NotFoundError(f"collection {collection!r} does not exist")


# Token bucket, atomically in Redis with Redis' own clock so all workers agree.
# KEYS[1] bucket; ARGV: capacity, refill per second, cost (0: only look whether a token is
# left). Returns {allowed, retry_after_ms}.
_TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or capacity
local ts = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local allowed = 0
local retry_ms = 0
if tokens >= 1 then
  tokens = tokens - cost
  allowed = 1
else
  retry_ms = math.ceil((1 - tokens) / rate * 1000)
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, retry_ms}
"""


class Authenticator:
    def __init__(
        self,
        keys: list[ApiKeySpec],
        redis: Redis,
        prefix: str,
        default_rate_per_minute: float,
        default_burst: int,
    ) -> None:
        self._by_hash = {
            spec.sha256: Principal(
                name=spec.name,
                scopes=frozenset(spec.scopes),
                rate_per_minute=spec.rate_per_minute or default_rate_per_minute,
                burst=spec.burst or default_burst,
                collections=frozenset(spec.collections) if spec.collections is not None else None,
            )
            for spec in keys
        }
        self._redis = redis
        self._prefix = prefix
        self._bucket = redis.register_script(_TOKEN_BUCKET)

    def authenticate(self, presented: str | None) -> Principal:
        if not presented:
            raise AuthenticationError("missing API key (send X-API-Key or Authorization: Bearer)")
        principal = self._by_hash.get(hash_key(presented))
        if principal is None:
            raise AuthenticationError("invalid API key")
        return principal

    @staticmethod
    def authorize(principal: Principal, needed: Scope) -> None:
        if not principal.allows(needed):
            what = "API key" if principal.kind == "key" else "user"
            raise PermissionDeniedError(f"{what} {principal.name!r} lacks the {needed} scope")

    async def throttle(self, principal: Principal) -> None:
        await self.take(f"rl:{principal.id}", principal.burst, principal.rate_per_minute)

    async def take(self, bucket: str, capacity: int, rate_per_minute: float, cost: int = 1) -> None:
        """``cost`` tokens from the named bucket, or RateLimitedError with the wait; cost 0
        only checks that one is left."""
        allowed, retry_ms = await self._bucket(
            keys=[f"{self._prefix}:{bucket}"], args=[capacity, rate_per_minute / 60.0, cost]
        )
        if not int(allowed):
            raise RateLimitedError(max(1, math.ceil(int(retry_ms) / 1000)))


def main(argv: list[str]) -> int:
    if len(argv) < 2 or any(s not in Scope.__members__ for s in argv[1:]):
        print("usage: python -m ragstack.auth NAME SCOPE [SCOPE...]  (scopes: read write admin)")
        return 2
    key = generate_key()
    spec = {"name": argv[0], "sha256": hash_key(key), "scopes": argv[1:]}
    print(f"API key (give it to the client, it is not stored): {key}")
    print(f"add to RAGSTACK_API_KEYS: {json.dumps(spec)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
