"""TEST DOUBLE of an LLM server: Ollama's ``/api/tags``, ``/api/chat`` (NDJSON stream or not) and
``/api/embed``, and the OpenAI-compatible ``/v1/models`` and ``/v1/chat/completions`` (SSE).

It is not a language model. Its answer is deterministic and built from the prompt: the first
sentence of context passage [1], followed by the citation marker ``[1]``, so tests can check that
the passages reached the "model" and that citations flow back. Its embeddings are hashed bags of
words (64 dimensions): lexical, deterministic, enough to rank a document that shares the words.

Behaviour is switched at run time with ``POST /_control {"mode": ...}``:
  ok          normal answers (default)
  fail        HTTP 500 on /api/chat
  break       streams a few tokens, then drops the connection without ``done``
  slow        waits 2 s before answering
  hang        accepts the request and never answers
  garbage     answers 200 with a body that is neither JSON nor a stream of it
  trickle     streams one token a second, for ever
  invent      misbehaves on citations: cites passage [1], passages that were never given
              ([7], [0], [2, 99]), and streams in 3-character pieces so markers split across
              tokens
``GET /_stats`` returns how many chat calls were received (to check caching and retries).

Run: ``python tests/fake_ollama.py --port 11434 [--model fake-llm]``.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "chat_calls": 0, "embed_calls": 0, "model": "fake-llm"}
DIMENSIONS = 64
LOCK = threading.Lock()


def answer_for(messages: list[dict], mode: str = "ok") -> str:
    prompt = messages[-1]["content"] if messages else ""
    match = re.search(r"\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\n\nQuestion:|$)", prompt, re.S)
    if not match:
        return "I do not know."
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0]
    if mode == "invent":
        return f"According to [7] the documents, {first} [1][7] Also [0] and [2, 99]."
    return f"According to the documents, {first} [1]"


def pieces(text: str, mode: str) -> list[str]:
    if mode == "invent":
        return [text[i : i + 3] for i in range(0, len(text), 3)]
    words = text.split(" ")
    return [word if position == 0 else f" {word}" for position, word in enumerate(words)]


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for word in re.findall(r"\w+", text.lower()):
        vector[zlib.crc32(word.encode()) % DIMENSIONS] += 1.0
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt: str, *args: object) -> None:
        pass

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> dict:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_GET(self) -> None:
        if self.path == "/api/tags":
            name = f"{STATE['model']}:latest"
            self._json(200, {"models": [{"name": name, "model": name, "size": 1}]})
        elif self.path == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": STATE["model"]}]})
        elif self.path == "/_stats":
            stats = {k: STATE[k] for k in ("chat_calls", "embed_calls", "mode")}
            self._json(200, stats)
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/_control":
            with LOCK:
                STATE["mode"] = body.get("mode", "ok")
                if body.get("reset_stats"):
                    STATE["chat_calls"] = 0
            self._json(200, {"mode": STATE["mode"]})
            return
        if self.path == "/api/embed":
            with LOCK:
                STATE["embed_calls"] += 1
            texts = body.get("input", [])
            texts = [texts] if isinstance(texts, str) else texts
            self._json(200, {"model": body.get("model"), "embeddings": [embed(t) for t in texts]})
            return
        if self.path not in ("/api/chat", "/v1/chat/completions"):
            self._json(404, {"error": "not found"})
            return
        openai = self.path.startswith("/v1/")
        with LOCK:
            STATE["chat_calls"] += 1
            mode = STATE["mode"]
        if mode == "fail":
            self._json(500, {"error": "simulated failure"})
            return
        if mode == "slow":
            time.sleep(2)
        if mode == "hang":
            time.sleep(3600)
            return
        if mode == "garbage":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "14")
            self.end_headers()
            self.wfile.write(b"\x00\xffnot json{{{\n")
            return
        if body.get("model", "").split(":")[0] != STATE["model"]:
            self._json(404, {"error": f"model '{body.get('model')}' not found"})
            return
        text = answer_for(body.get("messages", []), mode)
        if openai:
            self._openai(body, text, mode)
            return
        if not body.get("stream", True):
            self._json(
                200,
                {
                    "model": body["model"],
                    "message": {"role": "assistant", "content": text},
                    "done": True,
                    "prompt_eval_count": 42,
                    "eval_count": len(text.split()),
                },
            )
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        tokens = pieces(text, mode)
        if mode == "trickle":
            tokens = [f"word{n} " for n in range(3600)]
        for position, token in enumerate(tokens):
            if mode == "trickle":
                time.sleep(1)
            if mode == "break" and position == 3:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            line = {"model": body["model"], "message": {"role": "assistant", "content": token}}
            self._chunk(json.dumps(line) + "\n")
        final = {"model": body["model"], "message": {"role": "assistant", "content": ""}}
        final.update(done=True, prompt_eval_count=42, eval_count=len(tokens))
        self._chunk(json.dumps(final) + "\n")
        self.wfile.write(b"0\r\n\r\n")

    def _openai(self, body: dict, text: str, mode: str) -> None:
        usage = {"prompt_tokens": 42, "completion_tokens": len(text.split())}
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            self._json(200, {"choices": [{"index": 0, "message": message}], "usage": usage})
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for token in pieces(text, mode):
            delta = {"content": token}
            self._chunk(f"data: {json.dumps({'choices': [{'index': 0, 'delta': delta}]})}\n\n")
        self._chunk(f"data: {json.dumps({'choices': [], 'usage': usage})}\n\n")
        self._chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", default="fake-llm")
    args = parser.parse_args()
    STATE["model"] = args.model
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
