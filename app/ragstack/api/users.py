from __future__ import annotations

from fastapi import APIRouter, Path, Response, status

from ragstack.api.deps import AdminKey, ServicesDep
from ragstack.api.schemas import UserCreate, UserList, UserUpdate
from ragstack.users import USER_NAME, UserView

router = APIRouter(prefix="/v1/users", tags=["users"])
UserName = Path(pattern=USER_NAME)


def _actor(principal: AdminKey) -> str | None:
    return principal.name if principal.kind == "user" else None


@router.get("", response_model=UserList)
async def list_users(services: ServicesDep, _: AdminKey) -> UserList:
    return UserList(items=await services.accounts.list_users())


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserView)
async def create_user(body: UserCreate, services: ServicesDep, _: AdminKey) -> UserView:
    """Roles: ``reader`` (ask), ``writer`` (+ collections, uploads), ``admin`` (+ deletes of
    collections, users). 409 if the name is taken, 400 for a short password."""
    return await services.accounts.create_user(
        body.name, body.password, body.role, body.collections
    )


@router.get("/{user}", response_model=UserView)
async def get_user(services: ServicesDep, _: AdminKey, user: str = UserName) -> UserView:
    return await services.accounts.get_user(user)


@router.patch("/{user}", response_model=UserView)
async def update_user(
    body: UserUpdate, services: ServicesDep, principal: AdminKey, user: str = UserName
) -> UserView:
    """Change what is sent; the user's tokens stop working (sign in again)."""
    sent = body.model_fields_set
    return await services.accounts.update_user(
        user,
        actor=_actor(principal),
        password=body.password,
        role=body.role,
        collections=body.collections,
        all_collections="collections" in sent and body.collections is None,
        disabled=body.disabled,
    )


@router.delete("/{user}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_user(services: ServicesDep, principal: AdminKey, user: str = UserName) -> Response:
    await services.accounts.delete_user(user, actor=_actor(principal))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
