"""The backend's stores over TLS, as the collection deploys them: a real redis-server listening only
on a TLS port and a real ChromaDB server on https, each with a certificate signed by a throw-away
CA (the internal CA's shape: a CA certificate, a server certificate naming 127.0.0.1), reached
through RAGSTACK_REDIS_URL / RAGSTACK_CHROMA_URL + RAGSTACK_CHROMA_CA_FILE."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from async_run import run
from pki import write_pki
from ragstack.config import Settings
from ragstack.errors import DependencyUnavailableError
from ragstack.stores import connect_chroma, connect_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from servers import REDIS_SERVER, Server, _spawn, free_port, start_chroma, wait_until_healthy


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory) -> Iterator[tuple[Server, dict[str, Path], Path]]:
    """redis-server as roles/redis configures it: `port 0`, a TLS port, no client certificates."""
    work = tmp_path_factory.mktemp("tls-redis")
    pki = write_pki(work / "pki", "test internal CA")
    other_ca = write_pki(work / "other", "some other CA")["ca"]
    password = secrets.token_hex(16)
    port = free_port()
    argv = [REDIS_SERVER, "--port", "0", "--tls-port", str(port), "--bind", "127.0.0.1"]
    argv += ["--tls-cert-file", str(pki["cert"]), "--tls-key-file", str(pki["key"])]
    argv += ["--tls-ca-cert-file", str(pki["ca"]), "--tls-auth-clients", "no"]
    argv += ["--requirepass", password, "--save", "", "--appendonly", "no", "--dir", str(work)]
    process, log_path = _spawn("redis", argv, work)
    server = Server("redis", process, port, log_path, secret=password)

    def ping() -> bool:
        return run(_ping(_settings(port, pki["ca"], password)))

    wait_until_healthy(server, ping, timeout=20)
    yield server, pki, other_ca
    server.stop()


def _settings(port: int, ca_file: Path, password: str, scheme: str = "rediss") -> Settings:
    query = f"?ssl_ca_certs={ca_file}" if scheme == "rediss" else ""
    return Settings(redis_url=f"{scheme}://127.0.0.1:{port}/0{query}", redis_password=password)


async def _ping(settings: Settings) -> bool:
    redis = connect_redis(settings)
    try:
        return bool(await redis.ping())
    finally:
        await redis.aclose()


def test_rediss_url_with_the_ca_connects(tls_redis):
    server, pki, _ = tls_redis
    settings = _settings(server.port, pki["ca"], server.secret)

    async def roundtrip() -> str | None:
        redis = connect_redis(settings)
        try:
            await redis.set("ragstack:tls-check", "over tls")
            return await redis.get("ragstack:tls-check")
        finally:
            await redis.aclose()

    assert run(roundtrip()) == "over tls"


def test_a_server_signed_by_another_ca_is_refused(tls_redis):
    server, _, other_ca = tls_redis
    with pytest.raises(RedisConnectionError, match=r"(?i)certificate verify failed"):
        run(_ping(_settings(server.port, other_ca, server.secret)))


def test_plaintext_redis_url_fails(tls_redis):
    server, pki, _ = tls_redis
    with pytest.raises(RedisConnectionError):
        run(_ping(_settings(server.port, pki["ca"], server.secret, scheme="redis")))


def test_plaintext_command_gets_no_redis_reply(tls_redis):
    """A plaintext PING on the TLS port never reaches Redis: no +PONG, no -NOAUTH."""
    server, _, _ = tls_redis
    with socket.create_connection(("127.0.0.1", server.port), timeout=3) as sock:
        sock.sendall(b"PING\r\n")
        try:
            reply = sock.recv(64)
        except (TimeoutError, ConnectionResetError):
            reply = b""
    assert not reply.startswith((b"+", b"-")), reply


@pytest.fixture(scope="module")
def tls_chroma(tmp_path_factory) -> Iterator[tuple[Server, dict[str, Path], Path]]:
    """ChromaDB's server under uvicorn with --ssl-certfile/--ssl-keyfile (as roles/chromadb)."""
    work = tmp_path_factory.mktemp("tls-chroma")
    pki = write_pki(work / "pki", "test internal CA")
    other_ca = write_pki(work / "other", "some other CA")["ca"]
    server = start_chroma(work, tls=pki)
    yield server, pki, other_ca
    server.stop()


def _heartbeat(server: Server, ca_file: Path | None, scheme: str = "https") -> None:
    url = server.url.replace("https://", f"{scheme}://")
    settings = Settings(chroma_url=url, chroma_token=server.secret, chroma_ca_file=ca_file)
    run(connect_chroma(settings).heartbeat())


def test_chroma_over_https_with_the_ca(tls_chroma):
    server, pki, _ = tls_chroma
    _heartbeat(server, pki["ca"])


@pytest.mark.parametrize("ca", ["other", "system"])
def test_chroma_signed_by_another_ca_is_refused(tls_chroma, ca):
    """Verification is on with and without a CA file (chromadb's client alone turns it off)."""
    server, _, other_ca = tls_chroma
    with pytest.raises(DependencyUnavailableError, match=r"(?i)certificate verify failed"):
        _heartbeat(server, other_ca if ca == "other" else None)


def test_chroma_plain_http_fails(tls_chroma):
    server, pki, _ = tls_chroma
    with pytest.raises(DependencyUnavailableError):
        _heartbeat(server, pki["ca"], scheme="http")
