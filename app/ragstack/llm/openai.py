"""OpenAI-compatible servers (vLLM, llama.cpp's server): ``/v1/chat/completions`` with SSE."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from ragstack.llm.base import LlmCallError, Message, Usage
from ragstack.llm.ollama import _raise_for


class OpenAiCompatibleClient:
    provider = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout: float,
        connect_timeout: float,
        max_tokens: int,
        temperature: float,
    ) -> None:
        self.model = model
        self._max_tokens = max_tokens
        self._temperature = temperature
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        # Accept the base URL with or without the /v1 suffix.
        root = base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url
        self._http = httpx.AsyncClient(
            base_url=root, headers=headers, timeout=httpx.Timeout(timeout, connect=connect_timeout)
        )

    def _body(self, messages: list[Message], stream: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "stream": stream,
            "max_tokens": self._max_tokens,
            "temperature": self._temperature,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        return body

    @staticmethod
    def _count(payload: dict[str, Any], usage: Usage) -> None:
        counts = payload.get("usage") or {}
        usage.prompt_tokens += int(counts.get("prompt_tokens") or 0)
        usage.completion_tokens += int(counts.get("completion_tokens") or 0)

    async def complete(self, messages: list[Message], usage: Usage) -> str:
        try:
            response = await self._http.post(
                "/v1/chat/completions", json=self._body(messages, False)
            )
        except httpx.HTTPError as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        _raise_for(response, response.text)
        try:
            payload = response.json()
            self._count(payload, usage)
            return str(payload["choices"][0]["message"]["content"])
        except (ValueError, KeyError, IndexError, TypeError) as error:
            raise LlmCallError(f"unexpected response: {error}") from error

    async def stream(self, messages: list[Message], usage: Usage) -> AsyncIterator[str]:
        try:
            async with self._http.stream(
                "POST", "/v1/chat/completions", json=self._body(messages, True)
            ) as response:
                if response.status_code >= 400:
                    _raise_for(response, (await response.aread()).decode(errors="replace"))
                async for line in response.aiter_lines():
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        return
                    try:
                        payload = json.loads(data)
                    except ValueError as error:
                        raise LlmCallError(f"bad SSE data: {data[:80]}") from error
                    self._count(payload, usage)
                    for choice in payload.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content") or ""
                        if text:
                            yield text
        except httpx.HTTPError as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        raise LlmCallError("stream ended without [DONE]")

    async def health(self) -> str:
        try:
            response = await self._http.get("/v1/models", timeout=3.0)
            response.raise_for_status()
        except httpx.HTTPError as error:
            raise LlmCallError(f"{type(error).__name__}: {error}") from error
        return f"openai-compatible server up, model {self.model}"

    async def aclose(self) -> None:
        await self._http.aclose()
