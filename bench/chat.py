"""Chat latency of a deployment next to its bare model server, in the same run.

For 1, 4 and 8 concurrent clients (each asks ``--turns`` questions one after the other) it sends
streamed ``POST /v1/chat`` through the load balancer and measures the time to the first token
and the generation speed; then the same clients send the same prompts straight to the model
server (``/v1/chat/completions``, streamed; the prompt is what the backend builds from the same
passages, ``ragstack.llm.service.build_messages``), so the ratio of the two times to first token is
what the API adds (retrieval, the generation queue, nginx) on top of the model's own. API and
bare rounds alternate so that both see the same background load; bare requests use the backend's
temperature and token limit (``--temperature``, ``--max-tokens``), so that both generate answers of
the same length (on a one-slot server, a queued request waits for the answers before it). API
answers the backend gave extractively (``degraded``) are counted apart.

    python bench/chat.py --url https://LB --api-key KEY --model-url http://LLM_HOST:11434 \\
        --insecure --prepare --json chat.json

Needs httpx and the ragstack package (the backend's venv has both: on an app host,
``/opt/ragstack/current/backend/venv/bin/python bench/chat.py ...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from loadgen import document, percentiles, queries
from ragstack.config import Settings
from ragstack.llm.service import build_messages
from ragstack.retrieval.service import Hit


@dataclass
class Sample:
    ttft: float | None = None  # seconds from sending to the first token
    tokens: int = 0
    generating: float = 0.0  # seconds from the first to the last token
    error: str | None = None
    degraded: bool = False  # the API gave its extractive answer instead of the model's

    @property
    def speed(self) -> float | None:
        return (self.tokens - 1) / self.generating if self.tokens > 1 and self.generating else None


@dataclass
class Round:
    samples: list[Sample] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Times and speeds of the generated answers; extractive (degraded) ones are counted."""
        generated = [s for s in self.samples if not s.degraded]
        ttfts = [s.ttft for s in generated if s.ttft is not None]
        speeds = [s.speed for s in generated if s.speed is not None]
        errors: dict[str, int] = {}
        for s in self.samples:
            if s.error:
                errors[s.error] = errors.get(s.error, 0) + 1
        return {
            "answers": len(ttfts),
            "degraded": sum(s.degraded for s in self.samples),
            "ttft": percentiles(ttfts) if ttfts else {},
            "tokens_per_second_p50": statistics.median(speeds) if speeds else None,
            "errors": errors,
        }


async def timed_stream(lines: Any, token_of: Any) -> Sample:
    """Reads an SSE body; ``token_of(event, data)`` returns the text of a token event or None."""
    sample, started, first, last, event = Sample(), time.perf_counter(), 0.0, 0.0, ""
    async for line in lines:
        if line.startswith("event:"):
            event = line[6:].strip()
            continue
        if not line.startswith("data:") or line[5:].strip() == "[DONE]":
            continue
        data = json.loads(line[5:])
        if event == "done" and data.get("degraded"):
            sample.degraded = True
        text = token_of(event, data)
        if text:
            last = time.perf_counter()
            if not sample.tokens:
                first = last
                sample.ttft = first - started
            sample.tokens += 1
    sample.generating = last - first
    return sample


async def ask_api(client: httpx.AsyncClient, collection: str, question: str) -> Sample:
    body = {"collection": collection, "message": question, "stream": True}
    async with client.stream("POST", "/v1/chat", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return Sample(error=f"HTTP {response.status_code}")
        sample = await timed_stream(
            response.aiter_lines(), lambda e, d: d.get("text") if e == "token" else None
        )
    return sample if sample.tokens else Sample(error="no tokens")


async def ask_model(
    client: httpx.AsyncClient, model: str, messages: list[dict], args: argparse.Namespace
) -> Sample:
    body = {
        "model": model,
        "messages": messages,
        "stream": True,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
    }

    def token(_: str, data: dict) -> str | None:
        return "".join((c.get("delta") or {}).get("content") or "" for c in data["choices"])

    async with client.stream("POST", "/v1/chat/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            return Sample(error=f"HTTP {response.status_code}")
        return await timed_stream(response.aiter_lines(), token)


async def run_round(concurrency: int, turns: int, ask: Any, prompts: list[Any]) -> Round:
    result = Round()

    async def client(number: int) -> None:
        for turn in range(turns):
            prompt = prompts[(number * turns + turn) % len(prompts)]
            try:
                result.samples.append(await ask(prompt))
            except httpx.HTTPError as error:
                result.samples.append(Sample(error=type(error).__name__))

    await asyncio.gather(*(client(n) for n in range(concurrency)))
    return result


async def prepare(api: httpx.AsyncClient, collection: str, count: int) -> None:
    await api.delete(f"/v1/collections/{collection}")
    (await api.post("/v1/collections", json={"name": collection})).raise_for_status()
    rng = random.Random(7)
    for number in range(count):
        name, text = document(rng, number)
        files = {"file": (name, text.encode(), "text/markdown")}
        response = await api.post(
            f"/v1/collections/{collection}/documents", params={"wait": 60}, files=files
        )
        response.raise_for_status()


async def prompts_for(api: httpx.AsyncClient, collection: str, questions: list[str]) -> list:
    """The messages the backend builds for each question (same passages, no history)."""
    built = []
    for question in questions:
        response = await api.post(
            "/v1/query", json={"collection": collection, "query": question, "top_k": 5}
        )
        response.raise_for_status()
        fields = Hit.__dataclass_fields__
        hits = [Hit(**{f: h.get(f) for f in fields}) for h in response.json()["results"]]
        built.append(
            [{"role": m.role, "content": m.content} for m in build_messages(question, hits, [])]
        )
    return built


async def main(args: argparse.Namespace) -> dict[str, Any]:
    headers = {"X-API-Key": args.api_key}
    timeout = httpx.Timeout(args.timeout, connect=5)
    limits = httpx.Limits(max_connections=64)
    async with (
        httpx.AsyncClient(
            base_url=args.url,
            headers=headers,
            verify=not args.insecure,
            timeout=timeout,
            limits=limits,
        ) as api,
        httpx.AsyncClient(base_url=args.model_url, timeout=timeout, limits=limits) as model,
    ):
        if args.prepare:
            await prepare(api, args.collection, args.prepare)
        questions = queries(random.Random(11), max(args.concurrency) * args.turns)
        built = await prompts_for(api, args.collection, questions)
        runs: list[dict[str, Any]] = []
        for concurrency in args.concurrency:
            api_rounds, bare_rounds = Round(), Round()
            for _ in range(args.rounds):
                api_round = await run_round(
                    concurrency,
                    args.turns,
                    lambda q: ask_api(api, args.collection, q),
                    questions,
                )
                bare_round = await run_round(
                    concurrency,
                    args.turns,
                    lambda m: ask_model(model, args.model, m, args),
                    built,
                )
                api_rounds.samples += api_round.samples
                bare_rounds.samples += bare_round.samples
            run = {
                "concurrency": concurrency,
                "api": api_rounds.figures(),
                "bare": bare_rounds.figures(),
                "load": os.getloadavg(),
            }
            if run["api"]["ttft"] and run["bare"]["ttft"]:
                run["ttft_ratio_p50"] = run["api"]["ttft"]["p50"] / run["bare"]["ttft"]["p50"]
            runs.append(run)
            print(line_for(run), flush=True)
        return {"runs": runs, "turns": args.turns, "rounds": args.rounds}


def line_for(run: dict[str, Any]) -> str:
    def ms(figures: dict[str, Any], key: str) -> str:
        return f"{figures['ttft'][key] * 1000:7.0f}" if figures["ttft"] else "      -"

    def speed(figures: dict[str, Any]) -> str:
        value = figures["tokens_per_second_p50"]
        return f"{value:6.1f}" if value else "     -"

    api, bare = run["api"], run["bare"]
    ratio = run.get("ttft_ratio_p50")
    return (
        f"c={run['concurrency']:<2} API TTFT p50 {ms(api, 'p50')} ms p95 {ms(api, 'p95')} ms "
        f"{speed(api)} tok/s | bare p50 {ms(bare, 'p50')} ms p95 {ms(bare, 'p95')} ms "
        f"{speed(bare)} tok/s | ratio p50 {ratio:.2f}"
        if ratio
        else "(no answers)"
    ) + (
        f" | degraded api {api['degraded']} | errors api {api['errors'] or 0}"
        f" bare {bare['errors'] or 0} | load {run['load'][0]:.1f}"
    )


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="the load balancer, e.g. https://rag.example")
    parser.add_argument(
        "--api-key", required=True, help="a key with the read scope (write for --prepare)"
    )
    parser.add_argument(
        "--model-url", required=True, help="the model server, e.g. http://llm1:11434"
    )
    parser.add_argument("--model", default="smollm2")
    parser.add_argument("--collection", default="chat-bench")
    parser.add_argument(
        "--prepare", type=int, default=0, metavar="DOCS", help="upload DOCS runbooks first"
    )
    parser.add_argument(
        "--concurrency", type=lambda v: [int(c) for c in v.split(",")], default=[1, 4, 8]
    )
    parser.add_argument("--turns", type=int, default=3, help="questions per client per round")
    parser.add_argument(
        "--rounds", type=int, default=2, help="API/bare round pairs per concurrency"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=Settings.model_fields["llm_max_tokens"].default,
        help="bare requests (the backend's RAGSTACK_LLM_MAX_TOKENS; default its default)",
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=Settings.model_fields["llm_temperature"].default,
        help="bare requests (the backend's RAGSTACK_LLM_TEMPERATURE; default its default): the "
        "same answers' lengths",
    )
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--insecure", action="store_true", help="accept a self-signed certificate")
    parser.add_argument("--json", type=Path, help="write the figures here")
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = parse()
    figures = asyncio.run(main(arguments))
    if arguments.json:
        arguments.json.write_text(json.dumps(figures, indent=2))
