from __future__ import annotations

import uuid

from fastapi import APIRouter, Path, Response, status

from ragstack.api.deps import AdminKey, ReadKey, ServicesDep, WriteKey
from ragstack.api.schemas import COLLECTION_NAME, CollectionCreate, CollectionList
from ragstack.catalog import Collection
from ragstack.errors import ConflictError, PermissionDeniedError

router = APIRouter(prefix="/v1/collections", tags=["collections"])
CollectionName = Path(pattern=COLLECTION_NAME)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=Collection)
async def create_collection(
    body: CollectionCreate, services: ServicesDep, principal: WriteKey
) -> Collection:
    """Create an isolated document set. 409 if the name is taken. A principal limited to some
    collections can create only those."""
    if not principal.may_use(body.name):
        raise PermissionDeniedError(f"{principal.name!r} may not use collection {body.name!r}")
    if await services.catalog.exists(body.name):
        raise ConflictError(f"collection {body.name!r} already exists")
    store_name = f"rs_{uuid.uuid4().hex}"
    await services.store.create(store_name)
    try:
        record = await services.catalog.create_collection(
            body.name, body.description, store_name, services.retrieval.embedding_model
        )
    except Exception:
        await services.store.drop(store_name)
        raise
    return record.public()


@router.get("", response_model=CollectionList)
async def list_collections(services: ServicesDep, principal: ReadKey) -> CollectionList:
    """The collections the caller may use."""
    records = await services.catalog.list_collections()
    return CollectionList(items=[r.public() for r in records if principal.may_use(r.name)])


@router.get("/{name}", response_model=Collection)
async def get_collection(
    services: ServicesDep, _: ReadKey, name: str = CollectionName
) -> Collection:
    return (await services.catalog.get_collection(name)).public()


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_collection(
    services: ServicesDep, _: AdminKey, name: str = CollectionName
) -> Response:
    """Delete the collection, its index and its original files."""
    record, _ids = await services.catalog.delete_collection(name)
    await services.store.drop(record.store_name)
    await services.ingest.delete_collection_files(name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
