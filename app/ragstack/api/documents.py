from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile, status
from fastapi.responses import JSONResponse

from ragstack.api.deps import ReadKey, ServicesDep, WriteKey
from ragstack.api.schemas import COLLECTION_NAME, ID_PATTERN, DocumentList, ErrorBody, JobAccepted
from ragstack.catalog import Document

router = APIRouter(prefix="/v1/collections/{name}/documents", tags=["documents"])
CollectionName = Path(pattern=COLLECTION_NAME)
DocumentId = Path(pattern=ID_PATTERN)
METADATA_PARAM = "metadata."

_errors = {
    code: {"model": ErrorBody, "description": text}
    for code, text in {
        400: "Empty, corrupt, encrypted or non-UTF-8 file, bad filename or metadata",
        404: "Unknown collection",
        413: "File or its decompressed content too large",
        415: "Unsupported or mislabeled file type",
    }.items()
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=Document,
    responses={
        200: {"model": Document, "description": "Identical content already stored (deduplicated)"},
        202: {"model": JobAccepted, "description": "Large file: ingestion runs in the background"},
        **_errors,
    },
)
async def upload_document(
    services: ServicesDep,
    _: WriteKey,
    file: Annotated[UploadFile, File(description="PDF, DOCX, HTML, Markdown or plain text")],
    metadata: Annotated[str | None, Form(description="JSON object of scalar values")] = None,
    name: str = CollectionName,
) -> Response:
    """Upload one file. Re-uploading a filename replaces its previous version atomically."""
    data = await file.read()
    outcome = await services.ingest.upload(name, file.filename, file.content_type, data, metadata)
    if outcome.job is not None:
        body = JobAccepted(job_id=outcome.job.id, document=outcome.document)
        return JSONResponse(body.model_dump(mode="json"), status_code=202)
    code = status.HTTP_200_OK if outcome.deduplicated else status.HTTP_201_CREATED
    return JSONResponse(outcome.document.model_dump(mode="json"), status_code=code)


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
    await services.ingest.delete_document(name, document_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
