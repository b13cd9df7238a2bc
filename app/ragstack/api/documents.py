from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse

from ragstack.api.deps import ReadKey, ServicesDep, WriteKey
from ragstack.api.errors import status_for_kind
from ragstack.api.schemas import COLLECTION_NAME, ID_PATTERN, DocumentList, ErrorBody, JobAccepted
from ragstack.catalog import Document, DocumentStatus
from ragstack.errors import NotFoundError

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"])
CollectionName = Path(pattern=COLLECTION_NAME)
DocumentId = Path(pattern=ID_PATTERN)
METADATA_PARAM = "metadata."
READ_BLOCK = 1024 * 1024

_errors = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Empty, corrupt, encrypted or non-UTF-8 file, bad filename or metadata",
        404: "Unknown collection",
        413: "File or its decompressed content too large",
        415: "Unsupported or mislabeled file type",
        422: "With wait: the file was accepted but could not be processed",
        503: "The ingestion queue is full (Retry-After), or Redis/ChromaDB unavailable",
    }.items()
}


async def _blocks(file: UploadFile) -> AsyncIterator[bytes]:
    while block := await file.read(READ_BLOCK):
        yield block


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobAccepted,
    responses={
        200: {"model": Document, "description": "Identical content already stored (deduplicated)"},
        201: {"model": Document, "description": "With wait: the document is ready"},
        **_errors,
    },
)
async def upload_document(
    services: ServicesDep,
    _: WriteKey,
    file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown or plain text")],
    metadata: Annotated[str | None, Form(description="JSON object of scalar values")] = None,
    wait: Annotated[
        float,
        Query(
            ge=0,
            le=3600,
            description="Seconds to wait for the document to be ready (capped by "
            "RAGSTACK_UPLOAD_WAIT_MAX_SECONDS); 0 answers 202 at once",
        ),
    ] = 0,
    name: str = CollectionName,
) -> Response:
    """Upload one file. It is stored and queued (202 with the job); a worker parses, embeds and
    indexes it. Re-uploading a filename replaces its previous version atomically once the new
    one is ready; identical content in the same collection is stored once (200)."""
    outcome = await services.ingest.upload(
        name, file.filename, file.content_type, _blocks(file), metadata
    )
    state = outcome.state
    seconds = min(wait, services.settings.upload_wait_max_seconds)
    if seconds > 0:
        waited = await services.ingest.wait(state.document.id, seconds)
        if waited is None:
            raise NotFoundError(f"document {state.document.id!r} was deleted")
        state = waited
    document = state.document
    if outcome.deduplicated:
        return JSONResponse(document.model_dump(mode="json"), status_code=status.HTTP_200_OK)
    if document.status == DocumentStatus.ready:
        return JSONResponse(document.model_dump(mode="json"), status_code=status.HTTP_201_CREATED)
    if document.status == DocumentStatus.failed:
        return JSONResponse(
            {"detail": document.error or "the file could not be processed"},
            status_code=status_for_kind(state.error_kind),
        )
    body = JobAccepted(job_id=document.id, document=document)
    return JSONResponse(body.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)


@router.get("", response_model=DocumentList)
async def list_documents(
    request: Request,
    services: ServicesDep,
    _: ReadKey,
    name: str = CollectionName,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> DocumentList:
    """Documents in upload order. Filter with ``metadata.KEY=VALUE`` query parameters."""
    await services.catalog.get_collection(name)
    filters = {
        key[len(METADATA_PARAM) :]: value
        for key, value in request.query_params.items()
        if key.startswith(METADATA_PARAM)
    }
    items, total = await services.catalog.list_documents(name, limit, offset, filters)
    return DocumentList(items=items, total=total, limit=limit, offset=offset)


@router.get("/{document_id}", response_model=Document)
async def get_document(
    services: ServicesDep, _: ReadKey, name: str = CollectionName, document_id: str = DocumentId
) -> Document:
    await services.catalog.get_collection(name)
    return await services.catalog.get_document(name, document_id)


@router.delete("/{document_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response)
async def delete_document(
    services: ServicesDep, _: WriteKey, name: str = CollectionName, document_id: str = DocumentId
) -> Response:
    """Delete a document in any state; a worker processing it discards what it wrote."""
    await services.ingest.delete_document(name, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
