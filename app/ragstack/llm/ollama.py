"""Ollama's native API: ``/api/chat`` (NDJSON when streaming) and ``/api/tags``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ragstack.llm.base import LlmCallError, Message, Usage


def _raise_for(response: httpx.Response, body: str = "") -> None:
    if response.status_code >= 400:
        retryable = response.status_code >= 500 or response.status_code == 429
        raise LlmCallError(f"HTTP {response.status_code}: {body[:200]}", retryable=retryable)


class OllamaClient:
    provider = "ollama"

    def __init__(
        self,
        base_url: str,
        model: str,
        timeout: float,
        connect_timeout: float,
        max_tokens: int,
        temperature: float,
    ) -> None:
        self.model = model
        self._options = {"num_predict": max_tokens, "temperature": temperature}
        self._http = httpx.AsyncClient(
            base_url=base_url, timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )

    def _body(self, messages: list[Message], stream: bool) -> dict[str, Any]:
        return {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": stream,
            "options": self._options,
        }

    @staticmethod
    def _count(payload: dict[str, Any], usage: Usage) -> None:
        usage.prompt_tokens += int(payload.get("prompt_eval_count") or 0)
        usage.completion_tokens += int(payload.get("eval_count") or 0)

    async def complete(self, messages: list[Message], usage: Usage) -> str:
        try:
            response = await self._http.post("/api/chat", json=self._body(messages, False))
        except httpx.HTTPError as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        _raise_for(response, response.text)
        try:
            payload = response.json()
            self._count(payload, usage)
            return str(payload["message"]["content"])
        except (ValueError, KeyError, TypeError) as error:
            raise LlmCallError(f"unexpected Ollama response: {error}") from error

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        try:
            async with self._http.stream(
                "POST", "/api/chat", json=self._body(messages, True)
            ) as response:
                if response.status_code >= 400:
                    _raise_for(response, (await response.aread()).decode(errors="replace"))
                async for line in response.aiter_lines():
                    if not line.strip():
                        continue
                    try:
                        payload = json.loads(line)
                    except ValueError as error:
                        raise LlmCallError(f"bad NDJSON line from Ollama: {line[:80]}") from error
                    if "error" in payload:
                        raise LlmCallError(f"Ollama error: {payload['error']}")
                    text = (payload.get("message") or {}).get("content") or ""
                    if text:
                        yield text
                    if payload.get("done"):
                        self._count(payload, usage)
                        return
        except httpx.HTTPError as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        raise LlmCallError("Ollama stream ended without done")

    async def health(self) -> str:
        try:
            response = await self._http.get("/api/tags", timeout=3.0)
            response.raise_for_status()
            models = [m.get("name", "") for m in response.json().get("models", [])]
        except (httpx.HTTPError, ValueError) as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        known = {m for m in models} | {m.split(":")[0] for m in models}
        if self.model not in known:
            raise LlmCallError(f"model {self.model!r} not present (have: {', '.join(models)})")
        return f"ollama model {self.model} available"

    async def aclose(self) -> None:
        await self._http.aclose()
