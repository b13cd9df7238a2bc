"""Sign-in and sign-out as plain HTTP form posts, so the session cookie can be HttpOnly.

`POST /auth/sign-in` (form: username, password) checks the password with the backend, keeps the
user's session token in this process and sets the cookie (HttpOnly, SameSite=Strict, Secure);
`POST /auth/sign-out` forgets it. Both refuse posts from other sites' pages (Origin). A failed
sign-in answers 401 (what nginx logs, for fail2ban) with a page that returns to /sign-in.
"""

from __future__ import annotations

import html
import logging
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from .backend import BackendClient, BackendError, Settings
from .sessions import COOKIE, SESSIONS

log = logging.getLogger("ragstack_ui.auth")
MAX_FIELD = 1024


def allowed_origins() -> set[str]:
    from reflex_base.config import get_config

    return {o.rstrip("/") for o in get_config().cors_allowed_origins}


def same_site(request: Request) -> bool:
    """The form was posted by a page of this site (browsers send Origin with every POST)."""
    origin = request.headers.get("origin", "")
    if not origin or origin == "null":
        return False
    return origin.rstrip("/") in allowed_origins()


def client_address(request: Request) -> str:
    # nginx in front sets X-Real-IP; the UI listens only where nginx reaches it.
    return request.headers.get("x-real-ip") or (request.client.host if request.client else "?")


def back_to_sign_in(status: int, **query: str) -> HTMLResponse:
    target = "/sign-in" + (f"?{urlencode(query)}" if query else "")
    url = html.escape(target, quote=True)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={url}"><title>Sign in · ragstack</title>'
        f'</head><body><p><a href="{url}">Back to sign-in</a></p></body></html>'
    )
    return HTMLResponse(page, status_code=status, headers={"Cache-Control": "no-store"})


async def sign_in(request: Request) -> Response:
    if not same_site(request):
        return PlainTextResponse("sign-in from another site refused", status_code=403)
    form = await request.form(max_files=0, max_fields=4)
    username = str(form.get("username", "")).strip()[:MAX_FIELD]
    password = str(form.get("password", ""))[:MAX_FIELD]
    if not username or not password:
        return back_to_sign_in(400, error="missing")
    settings = Settings.from_env()
    try:
        answer = await BackendClient(settings).sign_in(username, password)
    except BackendError as exc:
        if exc.status == 401:
            log.warning("sign-in failed for user %r from %s", username, client_address(request))
            return back_to_sign_in(401, error="invalid")
        if exc.status == 429:
            return back_to_sign_in(429, error="limited", wait=str(exc.retry_after or 60))
        log.error("sign-in impossible: %s", exc.message)
        return back_to_sign_in(503, error="unavailable")
    session = SESSIONS.create(answer)
    log.info("user %r signed in from %s", session.user, client_address(request))
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session.id,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="strict",
        path="/",
    )
    return response


async def sign_out(request: Request) -> Response:
    if not same_site(request):
        return PlainTextResponse("sign-out from another site refused", status_code=403)
    SESSIONS.drop(request.headers.get("cookie", ""))
    response = RedirectResponse("/sign-in?signed_out=1", status_code=303)
    response.delete_cookie(COOKIE, path="/", secure=Settings.from_env().cookie_secure)
    return response


routes = Starlette(
    routes=[
        Route("/auth/sign-in", sign_in, methods=["POST"]),
        Route("/auth/sign-out", sign_out, methods=["POST"]),
    ]
)
