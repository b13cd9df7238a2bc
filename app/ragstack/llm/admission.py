"""Backpressure: at most N generations at once on this host, across all worker processes.

A generation holds one of N slot files locked (``flock``); a request that finds none free waits
up to ``queue_seconds`` and is then refused (503 + Retry-After) instead of joining a pile of
requests that would all time out. The kernel drops a lock when its process dies, so a crashed
worker cannot leak a slot.
"""

from __future__ import annotations

import asyncio
import fcntl
import math
import os
import time
from pathlib import Path

from ragstack.errors import LlmBusyError
from ragstack.observability.metrics import LLM_GENERATIONS_IN_FLIGHT, LLM_REJECTED

POLL_SECONDS = 0.05


class Slot:
    """One held slot; ``release`` is idempotent and also runs if the holder is dropped unused."""

    def __init__(self, fd: int) -> None:
        self._fd: int | None = fd
        LLM_GENERATIONS_IN_FLIGHT.inc()

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.close(fd)  # closing the descriptor releases its flock
        LLM_GENERATIONS_IN_FLIGHT.dec()

    def __del__(self) -> None:
        self.release()


class GenerationLimiter:
    def __init__(self, directory: Path, slots: int, queue_seconds: float) -> None:
        self._directory = directory
        self._slots = slots
        self._queue_seconds = queue_seconds
        self.retry_after = max(1, math.ceil(queue_seconds))

    def _try_lock(self) -> Slot | None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for number in range(self._slots):
            fd = os.open(self._directory / f"slot-{number}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return Slot(fd)
        return None

    async def acquire(self) -> Slot:
        deadline = time.monotonic() + self._queue_seconds
        while True:
            slot = self._try_lock()
            if slot is not None:
                return slot
            if time.monotonic() >= deadline:
                LLM_REJECTED.inc()
                raise LlmBusyError(self.retry_after)
            await asyncio.sleep(POLL_SECONDS)
