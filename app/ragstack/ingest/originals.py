"""Uploaded files on this host's disk: streamed in under ``incoming/``, then kept as
``originals/COLLECTION/DOCUMENT_ID/original.EXT`` until the document is deleted or fails.

The stored name never contains the client's filename (which lives in the catalog), so no
client-chosen name, length or encoding reaches the filesystem.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import anyio

from ragstack.errors import PayloadTooLargeError
from ragstack.retrieval.lexical import CACHEDIR_TAG

COPY_BLOCK = 1024 * 1024


@dataclass(frozen=True)
class Received:
    path: Path
    sha256: str
    size: int


class Originals:
    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "originals"
        self.incoming = data_dir / "incoming"

    def _make_incoming(self) -> None:
        if not self.incoming.is_dir():
            self.incoming.mkdir(parents=True, exist_ok=True)
            # Partial uploads: backups (restic --exclude-caches) skip them.
            (self.incoming / "CACHEDIR.TAG").write_text(CACHEDIR_TAG)

    def directory(self, collection: str, document_id: str) -> Path:
        return self.root / collection / document_id

    def path(self, collection: str, document_id: str, suffix: str) -> Path:
        return self.directory(collection, document_id) / f"original{suffix}"

    async def receive(self, blocks: AsyncIterator[bytes], max_bytes: int) -> Received:
        """Stream an upload to ``incoming/`` while hashing it; over ``max_bytes`` it is removed
        and 413 raised. The caller moves the file with ``keep`` or removes it with ``discard``."""
        await anyio.to_thread.run_sync(self._make_incoming)
        path = self.incoming / f"{uuid.uuid4().hex}.part"
        digest = hashlib.sha256()
        size = 0
        try:
            async with await anyio.open_file(path, "wb") as out:
                async for block in blocks:
                    size += len(block)
                    if size > max_bytes:
                        raise PayloadTooLargeError(
                            f"file is larger than the limit of {max_bytes} bytes"
                        )
                    digest.update(block)
                    await out.write(block)
        except BaseException:
            await self.discard(path)
            raise
        return Received(path, digest.hexdigest(), size)

    async def keep(
        self, received: Received, collection: str, document_id: str, suffix: str
    ) -> Path:
        target = self.path(collection, document_id, suffix)

        def move() -> None:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received.path, target)

        await anyio.to_thread.run_sync(move)
        return target

    @staticmethod
    async def discard(path: Path) -> None:
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def remove(self, collection: str, document_id: str) -> None:
        directory = self.directory(collection, document_id)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))

    async def remove_collection(self, collection: str) -> None:
        directory = self.root / collection
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(directory, ignore_errors=True))

    def stored(self, older_than_seconds: float) -> dict[str, dict[str, Path]]:
        """{collection: {document id: directory}} of originals last changed before the grace
        period (younger ones may belong to an admission still in flight)."""
        cutoff = time.time() - older_than_seconds
        found: dict[str, dict[str, Path]] = {}
        if not self.root.is_dir():
            return found
        for collection_dir in self.root.iterdir():
            if not collection_dir.is_dir():
                continue
            found[collection_dir.name] = {
                d.name: d
                for d in collection_dir.iterdir()
                if d.is_dir() and d.stat().st_mtime < cutoff
            }
        return found

    def stale_incoming(self, older_than_seconds: float) -> list[Path]:
        """Partial uploads left by a process that died while receiving them."""
        cutoff = time.time() - older_than_seconds
        if not self.incoming.is_dir():
            return []
        return [
            p for p in self.incoming.iterdir() if p.suffix == ".part" and p.stat().st_mtime < cutoff
        ]
