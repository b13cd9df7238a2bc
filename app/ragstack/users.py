"""User accounts in Redis: role, optional collection list, argon2 password hash, token version.

Keys (``P`` is ``RAGSTACK_REDIS_PREFIX``):
  P:users          set   user names
  P:user:NAME      str   User JSON (written whole; created with SET NX so two creators never race)

``token_version`` goes up whenever a password, role, collection list or the disabled flag changes:
tokens carry the version they were issued under and stop working once it moved on.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from ragstack.catalog import utcnow
from ragstack.config import Scope
from ragstack.errors import ConflictError, NotFoundError

USER_NAME = r"^[A-Za-z0-9_.@-]{1,64}$"
COLLECTION_NAME = r"^[a-z0-9_-]{3,63}$"


class Role(StrEnum):
    reader = "reader"
    writer = "writer"
    admin = "admin"


SCOPE_OF_ROLE = {Role.reader: Scope.read, Role.writer: Scope.write, Role.admin: Scope.admin}
ROLE_OF_SCOPE = {scope: role for role, scope in SCOPE_OF_ROLE.items()}


class UserView(BaseModel):
    """What the API shows of an account (never the hash)."""

    name: str = Field(pattern=USER_NAME)
    role: Role
    collections: list[str] | None = Field(
        default=None, description="Collections the user may use; null: all"
    )
    disabled: bool = False
    created_at: str = Field(default_factory=utcnow)


class User(UserView):
    password_hash: str
    token_version: int = 1

    def view(self) -> UserView:
        return UserView.model_validate(self.model_dump(include=set(UserView.model_fields)))


class UserStore:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    def _key(self, name: str) -> str:
        return f"{self._prefix}:user:{name}"

    async def get(self, name: str) -> User | None:
        raw = await self._redis.get(self._key(name))
        return User.model_validate_json(raw) if raw else None

    async def require(self, name: str) -> User:
        user = await self.get(name)
        if user is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return user

    async def create(self, user: User) -> None:
        if not await self._redis.set(self._key(user.name), user.model_dump_json(), nx=True):
            raise ConflictError(f"user {user.name!r} already exists")
        await self._redis.sadd(f"{self._prefix}:users", user.name)

    async def save(self, user: User) -> None:
        if not await self._redis.set(self._key(user.name), user.model_dump_json(), xx=True):
            raise NotFoundError(f"user {user.name!r} does not exist")

    async def delete(self, name: str) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(self._key(name))
            pipe.srem(f"{self._prefix}:users", name)
            deleted, _ = await pipe.execute()
        if not deleted:
            raise NotFoundError(f"user {name!r} does not exist")

    async def list(self) -> list[User]:
        names = sorted(await self._redis.smembers(f"{self._prefix}:users"))
        if not names:
            return []
        raws = await self._redis.mget([self._key(n) for n in names])
        return [User.model_validate_json(raw) for raw in raws if raw]
