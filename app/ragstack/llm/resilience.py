"""One deadline per answer, retries with backoff and a circuit breaker around an LLM client.

The deadline covers the whole answer: every try, the waits between them and, for a stream,
every token. A model that hangs, answers garbage or stops mid-stream costs the caller at most
``deadline_seconds`` before it answers without the model.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import AsyncIterator, Callable

from ragstack.errors import LlmUnavailableError
from ragstack.llm.base import LlmCallError, LlmClient, Message, Usage
from ragstack.observability.metrics import (
    LLM_LATENCY,
    LLM_TIME_TO_FIRST_TOKEN,
    LLM_TOKENS,
    LLM_TOKENS_PER_SECOND,
)

log = logging.getLogger(__name__)


class CircuitBreaker:
    """Closed -> open after ``failures`` consecutive failures; after ``reset_seconds`` one trial
    call is let through (half-open): success closes it, failure opens it again.

    State is per worker process on purpose: each worker learns on its own that the LLM is down
    within ``failures`` calls, and no shared state can get stuck open.
    """

    def __init__(
        self, failures: int, reset_seconds: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._clock = clock
        self._reset = reset_seconds
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> str:
        if self._opened_at is None:
            return "closed"
        if self._clock() - self._opened_at >= self._reset:
            return "half-open"
        return "open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_running:
            self._trial_running = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_running = False

    def failure(self) -> None:
        self._failures += 1
        self._trial_running = False
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()


class Deadline:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._at = time.monotonic() + seconds

    def left(self) -> float:
        left = self._at - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


class ResilientLlm:
    def __init__(
        self,
        client: LlmClient,
        max_retries: int,
        backoff_seconds: float,
        breaker: CircuitBreaker,
        deadline_seconds: float,
    ) -> None:
        self.client = client
        self.breaker = breaker
        self._retries = max_retries
        self._backoff = backoff_seconds
        self._deadline = deadline_seconds

    def _admit(self) -> Deadline:
        if not self.breaker.allow():
            raise LlmUnavailableError("LLM circuit breaker is open")
        return Deadline(self._deadline)

    async def _sleep(self, attempt: int, deadline: Deadline) -> None:
        pause = self._backoff * (2**attempt) * (0.5 + random.random())
        if pause >= deadline.left():
            raise TimeoutError
        await asyncio.sleep(pause)

    def _timed_out(self, usage: Usage, started: float, deadline: Deadline) -> LlmUnavailableError:
        log.warning("LLM gave no complete answer within %.1f s", deadline.seconds)
        self.breaker.failure()
        self._account(usage, "timeout", started)
        return LlmUnavailableError(f"LLM gave no answer within {deadline.seconds:g} s")

    def _account(
        self, usage: Usage, outcome: str, started: float, first_token: float | None = None
    ) -> None:
        """``first_token``: when a stream's first token came; a whole answer's speed is measured
        over the whole call (its time to first token is not known)."""
        provider = self.client.provider
        ended = time.perf_counter()
        LLM_LATENCY.labels(provider, outcome).observe(ended - started)
        LLM_TOKENS.labels(provider, "prompt").inc(usage.prompt_tokens)
        LLM_TOKENS.labels(provider, "completion").inc(usage.completion_tokens)
        generating = ended - (first_token or started)
        if outcome == "ok" and usage.completion_tokens > 1 and generating > 0:
            LLM_TOKENS_PER_SECOND.labels(provider).observe(usage.completion_tokens / generating)

    async def complete(self, messages: list[Message]) -> str:
        deadline = self._admit()
        started = time.perf_counter()
        usage = Usage()
        try:
            async with asyncio.timeout(deadline.seconds):
                answer = await self._complete(messages, usage, started, deadline)
        except TimeoutError:
            raise self._timed_out(usage, started, deadline) from None
        self.breaker.success()
        self._account(usage, "ok", started)
        return answer

    async def _complete(
        self, messages: list[Message], usage: Usage, started: float, deadline: Deadline
    ) -> str:
        for attempt in range(self._retries + 1):
            try:
                return await self.client.complete(messages, usage)
            except LlmCallError as error:
                log.warning("LLM call failed (attempt %d): %s", attempt + 1, error)
                if error.retryable and attempt < self._retries:
                    await self._sleep(attempt, deadline)
                    continue
                self.breaker.failure()
                self._account(usage, "error", started)
                raise LlmUnavailableError(f"LLM failed: {error}") from error
        raise AssertionError("unreachable")

    async def stream(self, messages: list[Message]) -> AsyncIterator[str]:
        """Retries only until the first token: after that a failure is the caller's to handle.
        Each token is awaited with what is left of the deadline (not across a ``yield``: the
        consumer's own time between tokens is not interrupted, only counted)."""
        deadline = self._admit()
        started = time.perf_counter()
        usage = Usage()
        first_token: float | None = None
        for attempt in range(self._retries + 1):
            pieces = 0
            tokens = aiter(self.client.stream(messages, usage))
            try:
                while True:
                    try:
                        async with asyncio.timeout(deadline.left()):
                            token = await anext(tokens)
                    except StopAsyncIteration:
                        break
                    if first_token is None:
                        first_token = time.perf_counter()
                        LLM_TIME_TO_FIRST_TOKEN.labels(self.client.provider).observe(
                            first_token - started
                        )
                    pieces += 1
                    yield token
            except TimeoutError:
                raise self._timed_out(usage, started, deadline) from None
            except LlmCallError as error:
                log.warning("LLM stream failed (attempt %d): %s", attempt + 1, error)
                if not pieces and error.retryable and attempt < self._retries:
                    try:
                        await self._sleep(attempt, deadline)
                    except TimeoutError:
                        raise self._timed_out(usage, started, deadline) from None
                    continue
                self.breaker.failure()
                self._account(usage, "error", started)
                raise LlmUnavailableError(f"LLM failed: {error}") from error
            finally:
                await tokens.aclose()
            # Servers that report no usage in a stream: one streamed piece is one token.
            usage.completion_tokens = usage.completion_tokens or pieces
            self.breaker.success()
            self._account(usage, "ok", started, first_token)
            return
