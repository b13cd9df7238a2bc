from __future__ import annotations

from fastapi import APIRouter, Path

from ragstack.api.deps import ReadKey, ServicesDep
from ragstack.api.schemas import ID_PATTERN, JobView

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("/{job_id}", response_model=JobView)
async def get_job(
    services: ServicesDep, _: ReadKey, job_id: str = Path(pattern=ID_PATTERN)
) -> JobView:
    """Status of a background ingestion (uploads larger than RAGSTACK_INLINE_INGEST_MAX_BYTES)."""
    job = await services.catalog.get_job(job_id)
    return JobView(id=job.id, status=job.status, document_id=job.document_id, error=job.error)
