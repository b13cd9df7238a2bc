"""Signed-in browsers: an HttpOnly cookie holds a random session id; this process keeps, per id,
the user and the backend's short-lived session token (refreshed before it expires).

Nothing here imports Reflex. The store lives in memory like the UI's states (one worker per
host); a restart of the UI signs everybody out.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import Any

import httpx

from .backend import BackendClient, BackendError, Settings

COOKIE = "ragstack_session"
# A token with less than this left is refreshed before it is used.
REFRESH_MARGIN_S = 120
MAX_SESSIONS = 10_000


class NotSignedIn(BackendError):
    def __init__(self, message: str = "You are not signed in: sign in again.") -> None:
        super().__init__(message, status=401)


@dataclass
class Session:
    id: str
    user: str
    role: str
    token: str
    expires_at: float  # time.time() when the backend token expires

    @classmethod
    def from_sign_in(cls, session_id: str, answer: dict[str, Any]) -> Session:
        user = answer.get("user") or {}
        return cls(
            id=session_id,
            user=str(user.get("name", "")),
            role=str(user.get("role", "")),
            token=str(answer["access_token"]),
            expires_at=time.time() + float(answer.get("expires_in", 0)),
        )


def session_id_from_cookies(cookie_header: str) -> str:
    try:
        jar = SimpleCookie(cookie_header or "")
    except CookieError:
        return ""
    morsel = jar.get(COOKIE)
    return morsel.value if morsel else ""


class SessionStore:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._sessions: dict[str, Session] = {}
        self._transport = transport

    def create(self, answer: dict[str, Any]) -> Session:
        now = time.time()
        for dead in [s.id for s in self._sessions.values() if s.expires_at <= now]:
            del self._sessions[dead]
        while len(self._sessions) >= MAX_SESSIONS:
            del self._sessions[next(iter(self._sessions))]
        session = Session.from_sign_in(secrets.token_urlsafe(32), answer)
        self._sessions[session.id] = session
        return session

    def get(self, cookie_header: str) -> Session | None:
        session = self._sessions.get(session_id_from_cookies(cookie_header))
        if session is None or session.expires_at <= time.time():
            return None
        return session

    def drop(self, cookie_header: str) -> None:
        self._sessions.pop(session_id_from_cookies(cookie_header), None)

    async def client_for(self, cookie_header: str, settings: Settings) -> BackendClient:
        """A client acting as the cookie's user; NotSignedIn when there is none (any more)."""
        session = self.get(cookie_header)
        if session is None:
            raise NotSignedIn()
        if session.expires_at - time.time() < REFRESH_MARGIN_S:
            current = BackendClient(settings, self._transport, token=session.token)
            try:
                fresh = await current.refresh()
            except BackendError as exc:
                if exc.status == 401:
                    self._sessions.pop(session.id, None)
                    raise NotSignedIn("Your session has ended: sign in again.") from exc
                raise
            renewed = Session.from_sign_in(session.id, fresh)
            self._sessions[session.id] = session = renewed
        return BackendClient(settings, self._transport, token=session.token)


SESSIONS = SessionStore()
