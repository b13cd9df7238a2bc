from __future__ import annotations

import ipaddress

from fastapi import APIRouter, Request, Response

from ragstack.api.deps import Credential, Services, ServicesDep, identify
from ragstack.api.schemas import Check, Health, Readiness
from ragstack.config import Scope
from ragstack.errors import RagstackError
from ragstack.ingest.queue import IngestQueue
from ragstack.observability.metrics import (
    INDEX_CHUNKS,
    INDEX_DOCUMENTS,
    Metric,
    queue_gauges,
    render,
)

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health() -> Health:
    """Liveness: the process answers. Checks no dependency."""
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "ChromaDB or Redis unavailable"}},
)
async def ready(
    request: Request, services: ServicesDep, response: Response, credential: Credential
) -> Readiness:
    """ChromaDB and Redis are required; an unavailable LLM only degrades chat (still 200).
    Each check's detail (addresses, the LLM's URL) only for admins and for local probes
    (loopback, no credential: a signed-in user's call relayed by a local UI sees no details)."""
    checks = await services.ready_checks()
    required_ok = checks["chromadb"][0] and checks["redis"][0]
    status = "unready" if not required_ok else ("ready" if checks["llm"][0] else "degraded")
    response.status_code = 200 if required_ok else 503
    local_probe = credential is None and _from_loopback(request)
    if not (local_probe or await _is_admin(services, credential)):
        return Readiness(status=status)
    return Readiness(
        status=status, checks={k: Check(ok=ok, detail=d) for k, (ok, d) in checks.items()}
    )


def _from_loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


async def _is_admin(services: Services, credential: str | None) -> bool:
    if not credential:
        return False
    try:
        return (await identify(services, credential)).allows(Scope.admin)
    except RagstackError:
        return False


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics (all workers when PROMETHEUS_MULTIPROC_DIR is set)."""
    try:
        for record in await services.catalog.list_collections():
            INDEX_CHUNKS.labels(record.name).set(record.chunk_count)
            INDEX_DOCUMENTS.labels(record.name).set(record.document_count)
        queues = await _queue_metrics(services.queue)
    except Exception:  # metrics must render even when Redis is down
        queues = []
    body, content_type = render(queues)
    return Response(body, media_type=content_type)


async def _queue_metrics(queue: IngestQueue) -> list[Metric]:
    nodes = set(await queue.known_nodes()) | {queue.node}
    stats = {node: await queue.stats(node) for node in nodes}
    return queue_gauges(
        depth={n: s.depth for n, s in stats.items()},
        oldest={n: s.oldest_age_seconds for n, s in stats.items()},
        pending={n: s.pending for n, s in stats.items()},
        dead_letters=await queue.dead_letter_count(),
    )
