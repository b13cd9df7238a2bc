"""FastAPI dependencies: the services built at start, and the guard (API key or session token)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ragstack.accounts import Accounts, looks_like_token
from ragstack.auth import Authenticator, Principal
from ragstack.catalog import Catalog
from ragstack.config import Scope, Settings
from ragstack.conversations import ConversationStore
from ragstack.ingest.queue import IngestQueue
from ragstack.ingest.service import IngestService
from ragstack.llm.service import ChatService
from ragstack.retrieval.service import RetrievalService
from ragstack.retrieval.vectorstore import VectorStore


@dataclass
class Services:
    settings: Settings
    catalog: Catalog
    store: VectorStore
    auth: Authenticator
    accounts: Accounts
    ingest: IngestService
    queue: IngestQueue
    retrieval: RetrievalService
    chat: ChatService
    conversations: ConversationStore
    ready_checks: Callable[[], Awaitable[dict[str, tuple[bool, str]]]]


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs plain ``def`` dependencies in its thread pool.
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, scheme_name="ApiKey")
_bearer = HTTPBearer(auto_error=False, scheme_name="Bearer")


def presented_credential(
    api_key: Annotated[str | None, Security(_api_key_header)] = None,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)] = None,
) -> str | None:
    return api_key or (bearer.credentials if bearer else None)


Credential = Annotated[str | None, Depends(presented_credential)]


async def identify(services: Services, credential: str | None) -> Principal:
    if credential and looks_like_token(credential):
        return await services.accounts.principal(credential)
    return services.auth.authenticate(credential)


def require(scope: Scope) -> Callable[..., Awaitable[Principal]]:
    async def guard(request: Request, services: ServicesDep, credential: Credential) -> Principal:
        principal = await identify(services, credential)
        services.auth.authorize(principal, scope)
        await services.auth.throttle(principal)
        # Routes under one collection: a principal limited to others gets its 404 here.
        collection = request.path_params.get("name")
        if collection and request.url.path.startswith("/v1/collections/"):
            principal.check_collection(collection)
        return principal

    guard.__name__ = f"require_{scope}"
    return guard


ReadKey = Annotated[Principal, Depends(require(Scope.read))]
WriteKey = Annotated[Principal, Depends(require(Scope.write))]
AdminKey = Annotated[Principal, Depends(require(Scope.admin))]
