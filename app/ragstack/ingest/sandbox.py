"""Parsing in a throwaway child process, with memory, CPU-time and wall-clock limits.

A document is hostile input: a PDF whose pages share one heavy content stream, a DOCX whose XML
expands to gigabytes, a tree nested deeper than any parser expects. Each document is parsed and
chunked in its own child process (a pebble pool with one task per process, forked from a
forkserver that has the parsers imported), under ``RLIMIT_AS`` and ``RLIMIT_CPU`` and a
wall-clock budget. Whatever the document does, the worker process only ever receives the
chunks, and the memory a parser took goes back to the system when its child exits.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
import resource
import signal
from dataclasses import dataclass
from pathlib import Path

import pebble

from ragstack.config import Settings
from ragstack.errors import InvalidInputError, PayloadTooLargeError
from ragstack.ingest.chunking import Chunk, chunk_sections
from ragstack.ingest.parsers import Limits, parse
from ragstack.ingest.safety import FORMATS_BY_CONTENT_TYPE

# Imported once by the forkserver, so that every child starts with the parsers loaded.
PRELOAD = ["ragstack.ingest.sandbox", "pypdf", "docx", "bs4", "lxml.etree"]
MIB = 1024 * 1024


@dataclass(frozen=True)
class SandboxLimits:
    parse: Limits
    chunk_size: int
    chunk_overlap: int
    memory_bytes: int  # address space of the child (RLIMIT_AS)
    cpu_seconds: int  # CPU time of the child (RLIMIT_CPU)
    wall_seconds: float  # from start to result, whatever the child waits on


def limits_from(settings: Settings) -> SandboxLimits:
    return SandboxLimits(
        parse=Limits(
            max_chars=settings.max_extracted_chars,
            max_pdf_pages=settings.max_pdf_pages,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            # A parse tree takes several times its XML's size (lxml: about 5x).
            max_part_bytes=settings.parse_memory_mb * MIB // 8,
        ),
        chunk_size=settings.chunk_size_chars,
        chunk_overlap=settings.chunk_overlap_chars,
        memory_bytes=settings.parse_memory_mb * MIB,
        cpu_seconds=settings.parse_cpu_seconds,
        wall_seconds=settings.parse_timeout_seconds,
    )


def _confine(memory_bytes: int, cpu_seconds: int) -> None:
    """Runs in each child before it parses anything."""
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    # SIGXCPU at the soft limit ends the child; SIGKILL a second later if it caught that.
    resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))


def out_of_memory(limits: SandboxLimits) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"parsing needs more than the {limits.memory_bytes // MIB} MiB of memory allowed"
    )


def parse_and_chunk(
    content_type: str, path: Path, limits: SandboxLimits
) -> tuple[list[Chunk], str | None]:
    """The child's task: the file in, chunks and the document's own title out."""
    fmt = FORMATS_BY_CONTENT_TYPE[content_type]
    try:
        parsed = parse(fmt, path.read_bytes(), limits.parse)
    except MemoryError:
        raise out_of_memory(limits) from None
    except RecursionError:
        raise InvalidInputError(f"the {fmt.name} file is nested too deeply") from None
    chunks = chunk_sections(parsed.sections, limits.chunk_size, limits.chunk_overlap)
    return chunks, parsed.title


class ParserSandbox:
    """Runs ``parse_and_chunk`` in confined children, ``workers`` at a time."""

    def __init__(self, limits: SandboxLimits, workers: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(PRELOAD)
        self._limits = limits
        self._pool = pebble.ProcessPool(
            max_workers=workers,
            max_tasks=1,  # a fresh child per document: nothing survives from one to the next
            initializer=_confine,
            initargs=(limits.memory_bytes, limits.cpu_seconds),
            context=context,
        )

    async def parse(self, content_type: str, path: Path) -> tuple[list[Chunk], str | None]:
        """Chunks and title; a file that breaks a limit raises the error a client sees."""
        limits = self._limits
        future = self._pool.schedule(
            parse_and_chunk, args=(content_type, path, limits), timeout=limits.wall_seconds
        )
        try:
            return await asyncio.wrap_future(future)
        except concurrent.futures.TimeoutError:
            raise PayloadTooLargeError(
                f"parsing took longer than {limits.wall_seconds:g} s"
            ) from None
        except MemoryError:  # the child could not even build its own error
            raise out_of_memory(limits) from None
        except pebble.ProcessExpired as error:
            if error.exitcode == -signal.SIGXCPU:
                raise PayloadTooLargeError(
                    f"parsing used more than {limits.cpu_seconds} s of CPU time"
                ) from None
            if error.exitcode == -signal.SIGKILL:
                raise PayloadTooLargeError(
                    "the parser was killed (past its CPU time or memory limit)"
                ) from None
            raise InvalidInputError(
                f"the parser stopped on this file (exit code {error.exitcode})"
            ) from None
        except asyncio.CancelledError:
            future.cancel()  # pebble stops the child
            raise

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)
