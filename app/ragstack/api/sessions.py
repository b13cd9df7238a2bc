from __future__ import annotations

from fastapi import APIRouter, Request

from ragstack.accounts import IssuedToken
from ragstack.api.deps import Credential, ReadKey, ServicesDep
from ragstack.api.schemas import ErrorBody, SessionToken, SignIn
from ragstack.auth import SCOPE_RANK
from ragstack.errors import AuthenticationError
from ragstack.users import ROLE_OF_SCOPE, UserView

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _view(issued: IssuedToken) -> SessionToken:
    return SessionToken(access_token=issued.token, expires_in=issued.expires_in, user=issued.user)


@router.post(
    "/sign-in",
    response_model=SessionToken,
    responses={
        401: {"model": ErrorBody, "description": "Wrong user name or password"},
        429: {"model": ErrorBody, "description": "Too many attempts for this user"},
    },
)
async def sign_in(body: SignIn, request: Request, services: ServicesDep) -> SessionToken:
    """Exchange a user name and password for a session token (send it as ``Authorization:
    Bearer``). Attempts are limited per user name; each failure is logged with the address."""
    client = request.client.host if request.client else "unknown"
    return _view(await services.accounts.sign_in(body.username, body.password, client))


@router.post("/refresh", response_model=SessionToken)
async def refresh(services: ServicesDep, credential: Credential) -> SessionToken:
    """A fresh token for a valid one, until the session's maximum age."""
    if not credential:
        raise AuthenticationError("missing session token (send Authorization: Bearer)")
    return _view(await services.accounts.refresh(credential))


@router.get("/me", response_model=UserView)
async def me(services: ServicesDep, principal: ReadKey) -> UserView:
    """The signed-in user (API keys: their name, role from their scope)."""
    if principal.kind == "user":
        return await services.accounts.get_user(principal.name)
    top_scope = max(principal.scopes, key=SCOPE_RANK.__getitem__)
    return UserView(
        name=principal.name,
        role=ROLE_OF_SCOPE[top_scope],
        collections=sorted(principal.collections) if principal.collections is not None else None,
    )
