"""The ASGI application: ``ragstack.main:app`` (built on first access) or ``create_app()``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from redis.asyncio import Redis

from ragstack.accounts import AccountLimits, Accounts
from ragstack.api import chat, collections, documents, health, jobs, query, sessions, users
from ragstack.api.deps import Services
from ragstack.api.errors import install_error_handlers
from ragstack.api.limits import UploadSizeLimitMiddleware
from ragstack.auth import Authenticator
from ragstack.cache import EmbeddingCache, ResultCache
from ragstack.catalog import Catalog
from ragstack.config import InjectionPolicy, LlmProvider, Settings, load_settings
from ragstack.conversations import ConversationStore
from ragstack.ingest.originals import Originals
from ragstack.ingest.queue import IngestQueue
from ragstack.ingest.service import IngestService, UploadLimits
from ragstack.llm.admission import GenerationLimiter
from ragstack.llm.ollama import OllamaClient
from ragstack.llm.openai import OpenAiCompatibleClient
from ragstack.llm.resilience import CircuitBreaker, ResilientLlm
from ragstack.llm.service import ChatService
from ragstack.observability.logging import configure_logging
from ragstack.observability.middleware import RequestContextMiddleware
from ragstack.observability.tracing import configure_tracing, shutdown_tracing
from ragstack.retrieval.embedding import Embedder
from ragstack.retrieval.lexical import LexicalIndex
from ragstack.retrieval.service import FusionSettings, RetrievalService
from ragstack.retrieval.vectorstore import VectorStore
from ragstack.stores import build_embedder, connect_chroma, connect_redis, secret
from ragstack.users import UserStore

log = logging.getLogger(__name__)
CHECK_TIMEOUT = 3.0


def build_llm(settings: Settings) -> ResilientLlm | None:
    if settings.llm_provider == LlmProvider.none or not settings.llm_base_url:
        return None
    common = {
        "base_url": settings.llm_base_url,
        "model": settings.llm_model,
        "timeout": settings.llm_timeout_seconds,
        "connect_timeout": settings.llm_connect_timeout_seconds,
        "max_tokens": settings.llm_max_tokens,
        "temperature": settings.llm_temperature,
    }
    client: Any
    if settings.llm_provider == LlmProvider.ollama:
        client = OllamaClient(**common)
    else:
        client = OpenAiCompatibleClient(api_key=secret(settings.llm_api_key), **common)
    breaker = CircuitBreaker(settings.llm_breaker_failures, settings.llm_breaker_reset_seconds)
    return ResilientLlm(
        client,
        settings.llm_max_retries,
        settings.llm_retry_backoff_seconds,
        breaker,
        settings.llm_timeout_seconds,
    )


def build_authenticator(settings: Settings, redis: Redis) -> Authenticator:
    return Authenticator(
        settings.api_keys,
        redis,
        settings.redis_prefix,
        settings.rate_limit_per_minute,
        settings.rate_limit_burst,
    )


def build_accounts(settings: Settings, redis: Redis, auth: Authenticator) -> Accounts:
    return Accounts(
        UserStore(redis, settings.redis_prefix),
        auth,
        secret(settings.auth_secret),
        PasswordHasher(
            time_cost=settings.password_hash_time_cost,
            memory_cost=settings.password_hash_memory_kib,
            parallelism=1,
        ),
        AccountLimits(
            token_ttl_seconds=settings.token_ttl_seconds,
            session_max_seconds=settings.session_max_seconds,
            signin_per_minute=settings.signin_per_minute,
            signin_burst=settings.signin_burst,
            password_min_length=settings.password_min_length,
            rate_per_minute=settings.rate_limit_per_minute,
            burst=settings.rate_limit_burst,
        ),
    )


def build_retrieval(
    settings: Settings,
    redis: Redis,
    catalog: Catalog,
    store: VectorStore,
    embedder: Embedder,
    result_cache: ResultCache,
) -> RetrievalService:
    return RetrievalService(
        catalog,
        store,
        LexicalIndex(settings.data_dir / "lexical"),
        embedder,
        EmbeddingCache(
            redis, settings.redis_prefix, embedder.model_id, settings.embedding_cache_ttl_seconds
        ),
        result_cache,
        FusionSettings(
            method=settings.fusion,
            dense_weight=settings.fusion_dense_weight,
            rrf_k=settings.rrf_k,
            candidates=settings.candidates_per_retriever,
        ),
        settings.lexical_wait_seconds,
    )


def build_ingest(
    settings: Settings,
    catalog: Catalog,
    store: VectorStore,
    queue: IngestQueue,
    embedding_model: str,
) -> IngestService:
    return IngestService(
        catalog,
        store,
        queue,
        Originals(settings.data_dir),
        embedding_model,
        UploadLimits(
            max_upload_bytes=settings.max_upload_bytes,
            max_decompressed_bytes=settings.max_decompressed_bytes,
            max_zip_ratio=settings.max_zip_ratio,
            queue_limit=settings.ingest_queue_limit,
            retry_after_seconds=settings.ingest_retry_after_seconds,
        ),
    )


def build_services(settings: Settings) -> tuple[Services, Redis, ResilientLlm | None]:
    redis = connect_redis(settings)
    prefix = settings.redis_prefix
    catalog = Catalog(redis, prefix)
    store = connect_chroma(settings)
    embedder = build_embedder(settings)
    result_cache = ResultCache(redis, prefix, settings.cache_ttl_seconds)
    retrieval = build_retrieval(settings, redis, catalog, store, embedder, result_cache)
    queue = IngestQueue(redis, prefix, settings.node_name)
    ingest = build_ingest(settings, catalog, store, queue, embedder.model_id)
    llm = build_llm(settings)
    conversations = ConversationStore(redis, prefix, settings.conversation_ttl_seconds)
    limiter = GenerationLimiter(
        settings.data_dir / "llm-slots",
        settings.llm_max_concurrent_generations,
        settings.llm_queue_seconds,
    )
    chat_service = ChatService(
        retrieval,
        catalog,
        conversations,
        result_cache,
        llm,
        limiter,
        settings.conversation_max_turns,
        exclude_flagged=settings.injection_policy == InjectionPolicy.exclude,
    )
    auth = build_authenticator(settings, redis)
    accounts = build_accounts(settings, redis, auth)

    async def check(coro: Any) -> tuple[bool, str]:
        try:
            detail = await asyncio.wait_for(coro, CHECK_TIMEOUT)
        except Exception as error:
            return False, f"{type(error).__name__}: {error}"[:300]
        return True, detail

    async def ready_checks() -> dict[str, tuple[bool, str]]:
        async def redis_ok() -> str:
            await redis.ping()
            return "ping ok"

        async def chroma_ok() -> str:
            await store.heartbeat()
            return "authenticated request ok"

        async def llm_ok() -> str:
            if llm is None:
                raise RuntimeError("no LLM configured (RAGSTACK_LLM_PROVIDER=none)")
            detail = await llm.client.health()
            return f"{detail}; circuit {llm.breaker.state}"

        results = await asyncio.gather(check(redis_ok()), check(chroma_ok()), check(llm_ok()))
        return dict(zip(("redis", "chromadb", "llm"), results, strict=True))

    services = Services(
        settings=settings,
        catalog=catalog,
        store=store,
        auth=auth,
        accounts=accounts,
        ingest=ingest,
        queue=queue,
        retrieval=retrieval,
        chat=chat_service,
        conversations=conversations,
        ready_checks=ready_checks,
    )
    return services, redis, llm


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.log_level, settings.log_json)
    services, redis, llm = build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        bootstrap = None
        if settings.bootstrap_admin and settings.bootstrap_admin_password:
            bootstrap = asyncio.create_task(
                services.accounts.ensure_admin_when_reachable(
                    settings.bootstrap_admin, settings.bootstrap_admin_password.get_secret_value()
                )
            )
        log.info(
            "ragstack starting",
            extra={"chroma": settings.chroma_url, "llm": settings.llm_provider.value},
        )
        yield
        if bootstrap is not None:
            bootstrap.cancel()
        if llm is not None:
            await llm.client.aclose()
        await redis.aclose()
        shutdown_tracing()

    app = FastAPI(
        title="ragstack",
        # The release version, defined once in pyproject.toml (a test checks galaxy.yml agrees).
        version=version("ragstack"),
        summary="Ingestion, hybrid retrieval and cited answers over your documents.",
        lifespan=lifespan,
    )
    app.state.services = services
    for router in (
        health.router,
        sessions.router,
        users.router,
        collections.router,
        documents.router,
        jobs.router,
        query.router,
        chat.router,
    ):
        app.include_router(router)
    install_error_handlers(app)
    configure_tracing(app, settings.otlp_endpoint, settings.service_name)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["Retry-After", "X-Request-ID"],
        )
    app.add_middleware(UploadSizeLimitMiddleware, max_upload_bytes=settings.max_upload_bytes)
    app.add_middleware(RequestContextMiddleware)
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> Any:
    # ``ragstack.main:app`` is built on first access, so importing this module (tests, the
    # OpenAPI export) does not read the environment.
    global _app
    if name == "app":
        if _app is None:
            _app = create_app()
        return _app
    raise AttributeError(name)
