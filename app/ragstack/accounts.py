"""Sign-in and user management: argon2 password hashes, short-lived signed session tokens.

A token is a JWT (HS256, ``RAGSTACK_AUTH_SECRET``) naming the user and the account's
``token_version``; every request loads the account, so a disabled, deleted or changed account
stops working at once. Tokens live ``RAGSTACK_TOKEN_TTL_SECONDS`` and can be refreshed while they
are valid, up to ``RAGSTACK_SESSION_MAX_SECONDS`` after the password was given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from redis.exceptions import RedisError

from ragstack.auth import Authenticator, Principal
from ragstack.errors import (
    AuthenticationError,
    ConflictError,
    DependencyUnavailableError,
    InvalidInputError,
    PermissionDeniedError,
    RateLimitedError,
)
from ragstack.users import SCOPE_OF_ROLE, Role, User, UserStore, UserView

log = logging.getLogger(__name__)
AUDIENCE = "ragstack"
TOKEN_PREFIX = "eyJ"  # base64url of '{"' : what every JWT starts with, never an API key
WRONG_CREDENTIALS = "wrong user name or password"


def looks_like_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX) and credential.count(".") == 2


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_in: int
    user: UserView


@dataclass(frozen=True)
class AccountLimits:
    token_ttl_seconds: int
    session_max_seconds: int
    signin_per_minute: float
    signin_burst: int
    password_min_length: int
    rate_per_minute: float
    burst: int


class Accounts:
    def __init__(
        self,
        store: UserStore,
        auth: Authenticator,
        secret: str | None,
        hasher: PasswordHasher,
        limits: AccountLimits,
    ) -> None:
        self._store = store
        self._auth = auth
        self._secret = secret
        self._hasher = hasher
        self._limits = limits
        # Verified against when the user does not exist, so both cases take the same time.
        self._dummy_hash = hasher.hash("not a password of anyone")

    def _require_secret(self) -> str:
        if not self._secret:
            raise DependencyUnavailableError("sign-in is not configured (RAGSTACK_AUTH_SECRET)")
        return self._secret

    async def _verify(self, password_hash: str, password: str) -> bool:
        try:
            return await asyncio.to_thread(self._hasher.verify, password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    async def _hash(self, password: str) -> str:
        if len(password) < self._limits.password_min_length:
            raise InvalidInputError(
                f"passwords need at least {self._limits.password_min_length} characters"
            )
        return await asyncio.to_thread(self._hasher.hash, password)

    def _issue(self, user: User, auth_time: int) -> IssuedToken:
        now = int(time.time())
        session_left = auth_time + self._limits.session_max_seconds - now
        ttl = min(self._limits.token_ttl_seconds, session_left)
        claims = {
            "sub": user.name,
            "ver": user.token_version,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + ttl,
            "auth_time": auth_time,
        }
        token = jwt.encode(claims, self._require_secret(), algorithm="HS256")
        return IssuedToken(token, ttl, user.view())

    async def sign_in(self, name: str, password: str, client: str) -> IssuedToken:
        self._require_secret()
        # Failed attempts use up the user name's bucket; while it is empty, even the right
        # password waits (guessing stays slow), other user names are not affected.
        bucket = (f"signin:{name}", self._limits.signin_burst, self._limits.signin_per_minute)
        await self._auth.take(*bucket, cost=0)
        user = await self._store.get(name)
        ok = await self._verify(user.password_hash if user else self._dummy_hash, password)
        if user is None or not ok or user.disabled:
            # One line per failure, for fail2ban and the security log.
            log.warning("sign-in failed for user %r from %s", name, client)
            with contextlib.suppress(RateLimitedError):
                await self._auth.take(*bucket)
            raise AuthenticationError(WRONG_CREDENTIALS)
        if self._hasher.check_needs_rehash(user.password_hash):
            user = user.model_copy(update={"password_hash": await self._hash(password)})
            await self._store.save(user)
        log.info("user %r signed in from %s", name, client)
        return self._issue(user, int(time.time()))

    def _claims(self, token: str) -> dict:
        try:
            return jwt.decode(
                token,
                self._require_secret(),
                algorithms=["HS256"],
                audience=AUDIENCE,
                options={"require": ["sub", "ver", "exp", "auth_time"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("session expired: sign in again") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("invalid session token") from None

    async def _current_user(self, claims: dict) -> User:
        user = await self._store.get(str(claims["sub"]))
        if user is None or user.disabled or user.token_version != claims["ver"]:
            raise AuthenticationError("session ended (account changed): sign in again")
        return user

    async def principal(self, token: str) -> Principal:
        user = await self._current_user(self._claims(token))
        return Principal(
            name=user.name,
            scopes=frozenset({SCOPE_OF_ROLE[user.role]}),
            rate_per_minute=self._limits.rate_per_minute,
            burst=self._limits.burst,
            collections=frozenset(user.collections) if user.collections is not None else None,
            kind="user",
        )

    async def refresh(self, token: str) -> IssuedToken:
        claims = self._claims(token)
        user = await self._current_user(claims)
        if int(claims["auth_time"]) + self._limits.session_max_seconds <= time.time() + 1:
            raise AuthenticationError("session reached its maximum age: sign in again")
        return self._issue(user, int(claims["auth_time"]))

    # --- administration ---

    async def list_users(self) -> list[UserView]:
        return [u.view() for u in await self._store.list()]

    async def get_user(self, name: str) -> UserView:
        return (await self._store.require(name)).view()

    async def create_user(
        self, name: str, password: str, role: Role, collections: list[str] | None
    ) -> UserView:
        user = User(
            name=name, role=role, collections=collections, password_hash=await self._hash(password)
        )
        await self._store.create(user)
        log.info("user %r created with role %s", name, role)
        return user.view()

    async def update_user(
        self,
        name: str,
        *,
        actor: str | None = None,
        password: str | None = None,
        role: Role | None = None,
        collections: list[str] | None = None,
        all_collections: bool = False,
        disabled: bool | None = None,
    ) -> UserView:
        user = await self._store.require(name)
        if name == actor and (disabled or (role is not None and role != Role.admin)):
            raise PermissionDeniedError("admins cannot disable or demote themselves")
        changes: dict = {"token_version": user.token_version + 1}
        if password is not None:
            changes["password_hash"] = await self._hash(password)
        if role is not None:
            changes["role"] = role
        if collections is not None or all_collections:
            changes["collections"] = None if all_collections else collections
        if disabled is not None:
            changes["disabled"] = disabled
        updated = user.model_copy(update=changes)
        await self._store.save(updated)
        log.info("user %r changed: %s", name, ", ".join(sorted(set(changes) - {"token_version"})))
        return updated.view()

    async def delete_user(self, name: str, actor: str | None = None) -> None:
        if name == actor:
            raise PermissionDeniedError("admins cannot delete themselves")
        await self._store.delete(name)
        log.info("user %r deleted", name)

    async def ensure_admin_when_reachable(
        self, name: str, password: str, retry_seconds: float = 5.0
    ) -> None:
        """ensure_admin at start; the service starts even while Redis is down, so retry."""
        while True:
            try:
                await self.ensure_admin(name, password)
                return
            except (RedisError, OSError) as error:
                log.warning("bootstrap admin not checked yet (%s); retrying", error)
                await asyncio.sleep(retry_seconds)

    async def ensure_admin(self, name: str, password: str) -> bool:
        """Create the first admin unless the account exists (its password is then left alone)."""
        if await self._store.get(name) is not None:
            return False
        user = User(name=name, role=Role.admin, password_hash=await self._hash(password))
        try:
            await self._store.create(user)
        except ConflictError:
            return False  # another worker created it first
        log.info("bootstrap admin %r created", name)
        return True
