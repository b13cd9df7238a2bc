#!/usr/bin/env python3
"""Test double of a ragstack app host for the edge scenario (not the real backend or UI).

Serves the API port (8000: /health, /ready, /metrics, /v1/..., /v1/chat as SSE) and the UI port
(3000: pages, /_health, the /_event websocket handshake), over TLS as the real ones do, with the
certificates the collection's internal CA issued (/etc/ragstack/tls/NAME/): arguments PORT:NAME.
Every response names the host in X-Backend, so the tests can see which upstream answered.
"""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = socket.gethostname()
WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keepalive from nginx

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return

    def reply(self, status: int, body: dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-Backend", HOST)
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def stream_events(self) -> None:
        """Three SSE events 0.6 s apart, then close (like the backend's chat stream)."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("X-Backend", HOST)
        self.send_header("Connection", "close")
        self.end_headers()
        for event in ("citations", "token", "done"):
            self.wfile.write(f"event: {event}\ndata: {json.dumps({'t': time.time()})}\n\n".encode())
            self.wfile.flush()
            time.sleep(0.6)
        self.close_connection = True

    def websocket_handshake(self) -> None:
        key = self.headers.get("Sec-WebSocket-Key", "")
        accept = base64.b64encode(hashlib.sha1((key + WEBSOCKET_GUID).encode()).digest()).decode()
        self.send_response(101)
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("X-Backend", HOST)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True

    def do_GET(self) -> None:
        self.route()

    def do_HEAD(self) -> None:
        self.route()

    def do_POST(self) -> None:
        self.route()

    def do_PUT(self) -> None:
        self.route()

    def do_DELETE(self) -> None:
        self.route()

    def route(self) -> None:
        port = self.server.server_address[1]
        path = self.path.split("?")[0]
        body = self.read_body()
        if port == 8000:
            if path == "/v1/chat" and self.command == "POST":
                self.stream_events()
            elif path in ("/health", "/ready", "/metrics") or path.startswith("/v1/"):
                self.reply(200, {"status": "ok", "host": HOST, "path": path, "bytes": len(body)})
            else:
                self.reply(404, {"detail": "not found"})
        elif path == "/_event" and self.headers.get("Upgrade", "").lower() == "websocket":
            self.websocket_handshake()
        elif path == "/_health":
            self.reply(200, {"status": True})
        else:
            self.reply(200, {"page": path, "host": HOST})


def tls_server(port: int, name: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("0.0.0.0", port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(
        f"/etc/ragstack/tls/{name}/cert.pem", f"/etc/ragstack/tls/{name}/key.pem"
    )
    server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


def main() -> None:
    listeners = [arg.split(":") for arg in sys.argv[1:]] or [
        ["8000", "backend"],
        ["3000", "frontend"],
    ]
    servers = [tls_server(int(port), name) for port, name in listeners]
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, daemon=True).start()
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
