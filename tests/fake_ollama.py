"""TEST DOUBLE of an Ollama server: ``/api/tags`` and ``/api/chat`` (NDJSON stream or not).

It is not a language model. Its answer is deterministic and built from the prompt: the first
sentence of context passage [1], followed by the citation marker ``[1]``, so tests can check that
the passages reached the "model" and that citations flow back.

Behaviour is switched at run time with ``POST /_control {"mode": ...}``:
  ok          normal answers (default)
  fail        HTTP 500 on /api/chat
  break       streams a few tokens, then drops the connection without ``done``
  slow        waits 2 s before answering
``GET /_stats`` returns how many chat calls were received (to check caching and retries).

Run: ``python tests/fake_ollama.py --port 11434 [--model fake-llm]``.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATE = {"mode": "ok", "chat_calls": 0, "model": "fake-llm"}
LOCK = threading.Lock()


def answer_for(messages: list[dict]) -> str:
    prompt = messages[-1]["content"] if messages else ""
    match = re.search(r"\[1\][^\n]*\n(.+?)(?:\n\n\[2\]|\n\nQuestion:|$)", prompt, re.S)
    if not match:
        return "I do not know."
    first = re.split(r"(?<=[.!?])\s", match.group(1).strip(), maxsplit=1)[0]
    return f"According to the documents, {first} [1]"


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
        elif self.path == "/_stats":
            self._json(200, {"chat_calls": STATE["chat_calls"], "mode": STATE["mode"]})
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
        if self.path != "/api/chat":
            self._json(404, {"error": "not found"})
            return
        with LOCK:
            STATE["chat_calls"] += 1
            mode = STATE["mode"]
        if mode == "fail":
            self._json(500, {"error": "simulated failure"})
            return
        if mode == "slow":
            time.sleep(2)
        if body.get("model", "").split(":")[0] != STATE["model"]:
            self._json(404, {"error": f"model '{body.get('model')}' not found"})
            return
        text = answer_for(body.get("messages", []))
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
        words = text.split(" ")
        for position, word in enumerate(words):
            if mode == "break" and position == 3:
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(2)
                return
            token = word if position == 0 else f" {word}"
            line = {"model": body["model"], "message": {"role": "assistant", "content": token}}
            self._chunk(json.dumps(line) + "\n")
        final = {"model": body["model"], "message": {"role": "assistant", "content": ""}}
        final.update(done=True, prompt_eval_count=42, eval_count=len(words))
        self._chunk(json.dumps(final) + "\n")
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
