from __future__ import annotations

from fastapi import APIRouter, Path

from ragstack.api.deps import ReadKey, ServicesDep
from ragstack.api.schemas import ID_PATTERN, JobView
from ragstack.catalog import DocumentStatus
from ragstack.errors import NotFoundError

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])

JOB_STATUS = {
    DocumentStatus.queued: "queued",
    DocumentStatus.processing: "running",
    DocumentStatus.ready: "succeeded",
    DocumentStatus.failed: "failed",
}


@router.get("/{job_id}", response_model=JobView)
async def get_job(
    services: ServicesDep, _: ReadKey, job_id: str = Path(pattern=ID_PATTERN)
) -> JobView:
    """Ingestion of one upload (the job id is the document's id). 404 once it is deleted."""
    state = await services.catalog.get_state(job_id)
    if state is None:
        raise NotFoundError(f"job {job_id!r} does not exist (or its document was deleted)")
    document = state.document
    return JobView(
        id=document.id,
        status=JOB_STATUS[document.status],
        document_id=document.id,
        error=document.error,
        attempts=state.attempts,
    )
