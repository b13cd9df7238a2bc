"""What every LLM client offers: a whole answer, or its tokens as they come."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class Message:
    role: str  # system | user | assistant
    content: str


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class LlmCallError(Exception):
    """One call failed. ``retryable`` is False for errors a retry cannot fix (bad model name)."""

    def __init__(self, message: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class LlmClient(Protocol):
    provider: str
    model: str

    async def complete(self, messages: list[Message], usage: Usage) -> str: ...

    def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]: ...

    async def health(self) -> str: ...

    async def aclose(self) -> None: ...
