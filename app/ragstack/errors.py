"""Domain errors. They say what went wrong; api/errors.py alone decides the HTTP status."""

from __future__ import annotations


class RagstackError(Exception):
    """Base class; ``str(error)`` is the human-readable reason returned to the client."""


class NotFoundError(RagstackError):
    pass


class ConflictError(RagstackError):
    pass


class InvalidInputError(RagstackError):
    """The request or uploaded content is malformed (empty file, corrupt PDF, bad filename...)."""


class UnsupportedMediaError(RagstackError):
    """The file type is not supported or does not match its name/declared type."""


class PayloadTooLargeError(RagstackError):
    """Upload or its decompressed/extracted content exceeds a configured limit."""


class AuthenticationError(RagstackError):
    pass


class PermissionDeniedError(RagstackError):
    pass


class RateLimitedError(RagstackError):
    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"rate limit exceeded, retry after {retry_after_seconds}s")
        self.retry_after_seconds = retry_after_seconds


class DependencyUnavailableError(RagstackError):
    """A backing service (ChromaDB, Redis) cannot be reached."""


class QueueFullError(RagstackError):
    """The ingestion queue is over its limit: the upload is refused, to be retried later."""

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class LlmUnavailableError(RagstackError):
    """The LLM is not configured, failing, or its circuit breaker is open."""
