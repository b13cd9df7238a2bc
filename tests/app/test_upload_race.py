"""An upload without wait answers 202 however fast the worker is: made to lose its race the same
way on every run, the worker finishing the document before the upload answers.

Real Redis, ChromaDB, backend and worker; the upload runs in this process (built by the backend's
own ragstack.main.build_ingest, with the backend's settings) with one seam: its catalog waits,
right after admitting the document, until the backend's worker has made it ready. On a loaded CI
machine an upload in the worker-kill test once answered 201 that way."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
from async_run import run
from ragstack.catalog import Admission, Catalog, DocumentState, DocumentStatus
from ragstack.ingest.queue import IngestQueue
from ragstack.main import build_ingest
from ragstack.stores import build_embedder, connect_chroma, connect_redis

TEXT = b"Harbour crane inspection: check the hoist brake before every shift."


class ReadyBeforeAnswer(Catalog):
    async def admit(self, *args: Any, **kwargs: Any) -> Admission:
        admission = await super().admit(*args, **kwargs)
        with anyio.fail_after(120):
            while (state := await self.get_state(admission.document_id)) is None or (
                state.document.status != DocumentStatus.ready
            ):
                await anyio.sleep(0.05)
        return admission


def test_upload_without_wait_is_accepted_even_if_already_ready(
    backend_settings, client, new_collection
):
    name = new_collection()
    settings = backend_settings

    async def blocks() -> AsyncIterator[bytes]:
        yield TEXT

    async def upload() -> DocumentState:
        redis = connect_redis(settings)
        ingest = build_ingest(
            settings,
            ReadyBeforeAnswer(redis, settings.redis_prefix),
            connect_chroma(settings),
            IngestQueue(redis, settings.redis_prefix, settings.node_name),
            build_embedder(settings).model_id,
        )
        try:
            outcome = await ingest.upload(name, "crane.txt", "text/plain", blocks(), None)
        finally:
            await redis.aclose()
        assert not outcome.deduplicated
        return outcome.state

    state = run(upload())
    # Answered as admitted (the endpoint's 202), while the catalog already holds it ready.
    assert state.document.status == DocumentStatus.queued
    document = client.get(f"/v1/collections/{name}/documents/{state.document.id}").json()
    assert document["status"] == "ready" and document["chunk_count"] == 1
