from __future__ import annotations

import time

from fastapi import APIRouter

from ragstack.api.deps import ReadKey, ServicesDep
from ragstack.api.schemas import HitView, QueryRequest, QueryResponse
from ragstack.retrieval.service import elapsed_ms

router = APIRouter(prefix="/v1", tags=["retrieval"])


@router.post("/query", response_model=QueryResponse)
async def query(body: QueryRequest, services: ServicesDep, principal: ReadKey) -> QueryResponse:
    """Top-k chunks of the collection's ready documents: dense, lexical (BM25) or both fused."""
    principal.check_collection(body.collection)
    started = time.perf_counter()
    hits = await services.retrieval.search(
        body.collection,
        body.query,
        body.top_k,
        body.filters,
        mode=body.mode,
        by_document=body.group_by_document,
    )
    return QueryResponse(
        results=[HitView(**h.as_dict()) for h in hits], took_ms=elapsed_ms(started)
    )
