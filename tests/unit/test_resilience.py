"""The LLM circuit breaker and retries (app/ragstack/llm/resilience.py), in process.

The clock is a fake (``FakeClock``) and the LLM a scripted double (``ScriptedLlm``): a real LLM
cannot be made to fail on cue, and real waiting would make these tests slow.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from async_run import run
from ragstack.errors import LlmUnavailableError
from ragstack.llm.base import LlmCallError, Message, Usage
from ragstack.llm.resilience import CircuitBreaker, ResilientLlm


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedLlm:
    """Each call takes the next step: an exception to raise, or the answer's tokens. A stream
    step may be (tokens, exception): the tokens come, then the exception."""

    provider = "scripted"
    model = "scripted"

    def __init__(self, *steps: object) -> None:
        self.steps = list(steps)
        self.calls = 0

    def _next(self) -> object:
        self.calls += 1
        return self.steps.pop(0)

    async def complete(self, messages: list[Message], usage: Usage) -> str:
        step = self._next()
        if step == HANG:
            await asyncio.sleep(3600)
        if isinstance(step, Exception):
            raise step
        return "".join(step)

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        step = self._next()
        tokens, error = ([], step) if isinstance(step, Exception) else step
        for token in tokens:
            yield token
        if error is not None:
            raise error

    async def health(self) -> str:
        return "ok"

    async def aclose(self) -> None:
        return None


ASK = [Message("user", "hello?")]
HANG = "hang"  # a step: the LLM never answers
DOWN = LlmCallError("connection refused")
BAD_MODEL = LlmCallError("no such model", retryable=False)


def open_breaker(clock: FakeClock, failures: int = 2, reset: float = 30.0) -> CircuitBreaker:
    breaker = CircuitBreaker(failures, reset, clock=clock)
    for _ in range(failures):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "open"
    return breaker


def test_opens_only_after_the_threshold_of_consecutive_failures():
    breaker = CircuitBreaker(3, 30.0, clock=FakeClock())
    breaker.failure()
    breaker.failure()
    breaker.success()  # not consecutive: the count starts again
    breaker.failure()
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.failure()
    assert breaker.state == "open"
    assert not breaker.allow()


def test_half_open_exactly_at_the_reset_time_lets_one_trial_through():
    clock = FakeClock()
    breaker = open_breaker(clock, reset=30.0)
    clock.now += 29.999
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 0.001
    assert breaker.state == "half-open"
    assert breaker.allow()
    # While the trial runs, everyone else is refused.
    assert not breaker.allow()
    assert not breaker.allow()


def trial_running(reset: float = 30.0) -> tuple[FakeClock, CircuitBreaker]:
    """An opened breaker whose reset time has passed, with the one trial call let through."""
    clock = FakeClock()
    breaker = open_breaker(clock, reset=reset)
    clock.now += reset + 15
    assert breaker.allow()
    return clock, breaker


def test_a_successful_trial_closes_the_breaker():
    _, breaker = trial_running()
    breaker.success()
    assert breaker.state == "closed"
    # Closed again with a fresh count: one failure does not reopen it.
    breaker.failure()
    assert breaker.state == "closed" and breaker.allow()


def test_a_failed_trial_reopens_for_a_full_reset_period():
    clock, breaker = trial_running(reset=30.0)
    breaker.failure()
    assert breaker.state == "open"
    clock.now += 29
    assert not breaker.allow()
    clock.now += 1
    assert breaker.state == "half-open" and breaker.allow()


def resilient(
    llm: ScriptedLlm, breaker: CircuitBreaker, retries: int = 2, deadline: float = 30.0
) -> ResilientLlm:
    return ResilientLlm(
        llm, max_retries=retries, backoff_seconds=0, breaker=breaker, deadline_seconds=deadline
    )


def test_retryable_failures_are_retried_then_count_once_against_the_breaker():
    llm = ScriptedLlm(DOWN, DOWN, ["fine"])
    breaker = CircuitBreaker(1, 30.0, clock=FakeClock())
    assert run(resilient(llm, breaker).complete(ASK)) == "fine"
    assert llm.calls == 3 and breaker.state == "closed"

    llm = ScriptedLlm(DOWN, DOWN, DOWN, ["never asked"])
    with pytest.raises(LlmUnavailableError, match="connection refused"):
        run(resilient(llm, breaker).complete(ASK))
    assert llm.calls == 3  # one try + two retries
    assert breaker.state == "open"


def test_a_non_retryable_failure_is_not_retried():
    llm = ScriptedLlm(BAD_MODEL, ["never asked"])
    breaker = CircuitBreaker(5, 30.0, clock=FakeClock())
    with pytest.raises(LlmUnavailableError, match="no such model"):
        run(resilient(llm, breaker).complete(ASK))
    assert llm.calls == 1


def test_an_open_breaker_refuses_without_calling_the_llm():
    clock = FakeClock()
    llm = ScriptedLlm(["never asked"])
    service = resilient(llm, open_breaker(clock))
    with pytest.raises(LlmUnavailableError, match="circuit breaker is open"):
        run(service.complete(ASK))
    assert llm.calls == 0
    clock.now += 30  # half-open: the trial goes to the LLM and closes the breaker
    assert run(service.complete(ASK)) == "never asked"
    assert service.breaker.state == "closed"


async def collect(stream: AsyncIterator[str]) -> list[str]:
    return [token async for token in stream]


def test_a_stream_is_retried_only_before_its_first_token():
    breaker = CircuitBreaker(5, 30.0, clock=FakeClock())
    llm = ScriptedLlm(DOWN, (["Hel", "lo"], None))
    assert run(collect(resilient(llm, breaker).stream(ASK))) == ["Hel", "lo"]
    assert llm.calls == 2

    llm = ScriptedLlm((["Hel"], DOWN), (["never asked"], None))
    received: list[str] = []

    async def consume() -> None:
        async for token in resilient(llm, breaker).stream(ASK):
            received.append(token)

    with pytest.raises(LlmUnavailableError):
        run(consume())
    assert received == ["Hel"] and llm.calls == 1


def test_an_llm_that_never_answers_fails_at_the_deadline_and_counts_against_the_breaker():
    llm = ScriptedLlm(HANG)
    breaker = CircuitBreaker(1, 30.0, clock=FakeClock())
    with pytest.raises(LlmUnavailableError, match=r"no answer within 0\.2 s"):
        run(resilient(llm, breaker, deadline=0.2).complete(ASK))
    assert llm.calls == 1 and breaker.state == "open"
