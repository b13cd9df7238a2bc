"""Settings from environment variables, all prefixed ``RAGSTACK_`` (see app/README.md)."""

from __future__ import annotations

import json
import socket
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from ragstack.retrieval.fusion import FusionMethod

ENV_PREFIX = "RAGSTACK_"


class Scope(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


class ApiKeySpec(BaseModel):
    """One API key as configured: only the sha256 of the key is ever stored."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    scopes: list[Scope] = Field(min_length=1)
    rate_per_minute: float | None = Field(default=None, gt=0)
    burst: int | None = Field(default=None, ge=1)
    # Only these collections (all when absent).
    collections: list[Annotated[str, Field(pattern=r"^[a-z0-9_-]{3,63}$")]] | None = None


class EmbeddingBackend(StrEnum):
    onnx = "onnx"
    ollama = "ollama"


class InjectionPolicy(StrEnum):
    mark = "mark"  # flagged passages reach the model and are marked in citations
    exclude = "exclude"  # flagged passages are left out of the prompt


class LlmProvider(StrEnum):
    none = "none"
    ollama = "ollama"
    openai = "openai"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, case_sensitive=False, extra="ignore", frozen=True
    )

    # Storage
    redis_url: str = "redis://127.0.0.1:6379/0"
    redis_password: SecretStr | None = None
    redis_prefix: str = Field(default="ragstack", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    chroma_url: str = Field(default="http://127.0.0.1:8002", pattern=r"^https?://[^/\s]+/?$")
    chroma_token: SecretStr | None = None
    chroma_ca_file: Path | None = None
    data_dir: Path = Path("/var/lib/ragstack")

    # Auth
    api_keys: Annotated[list[ApiKeySpec], NoDecode] = Field(default_factory=list)
    rate_limit_per_minute: float = Field(default=600.0, gt=0)
    rate_limit_burst: int = Field(default=60, ge=1)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # Users and sign-in
    auth_secret: SecretStr | None = None
    token_ttl_seconds: int = Field(default=900, ge=30, le=86400)
    session_max_seconds: int = Field(default=43200, ge=60)
    signin_per_minute: float = Field(default=5.0, gt=0)
    signin_burst: int = Field(default=10, ge=1)
    password_min_length: int = Field(default=12, ge=8, le=128)
    password_hash_time_cost: int = Field(default=3, ge=1, le=20)
    password_hash_memory_kib: int = Field(default=65536, ge=1024)
    bootstrap_admin: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.@-]{1,64}$")
    bootstrap_admin_password: SecretStr | None = None

    # Ingestion
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    max_extracted_chars: int = Field(default=20_000_000, ge=1000)
    max_decompressed_bytes: int = Field(default=200 * 1024 * 1024, ge=1024)
    max_zip_ratio: float = Field(default=100.0, gt=1)
    max_pdf_pages: int = Field(default=2000, ge=1)
    chunk_size_chars: int = Field(default=800, ge=100, le=8000)
    chunk_overlap_chars: int = Field(default=120, ge=0, le=2000)
    # Each document is parsed in a child process under these limits (ingest/sandbox.py).
    parse_memory_mb: int = Field(default=1024, ge=256)
    parse_cpu_seconds: int = Field(default=120, ge=1)
    parse_timeout_seconds: float = Field(default=300.0, gt=0)

    # Ingestion queue and workers
    node_name: str = Field(default_factory=socket.gethostname, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    ingest_queue_limit: int = Field(default=1000, ge=1)
    ingest_retry_after_seconds: int = Field(default=30, ge=1)
    upload_wait_max_seconds: float = Field(default=120.0, ge=0)
    worker_concurrency: int = Field(default=2, ge=1, le=64)
    worker_lease_seconds: float = Field(default=60.0, ge=2)
    worker_max_attempts: int = Field(default=3, ge=1, le=20)
    worker_retry_backoff_seconds: float = Field(default=2.0, ge=0)
    worker_max_deliveries: int = Field(default=5, ge=1, le=100)
    worker_drain_seconds: float = Field(default=60.0, ge=0)
    worker_metrics_address: str = "127.0.0.1"
    worker_metrics_port: int = Field(default=9466, ge=0, le=65535)
    reconcile_interval_seconds: float = Field(default=300.0, ge=5)
    reconcile_grace_seconds: float = Field(default=600.0, ge=0)
    node_lost_after_seconds: float = Field(default=86400.0, ge=60)

    # Retrieval
    embedding_backend: EmbeddingBackend = EmbeddingBackend.onnx
    embedding_model: str = "all-minilm"
    embedding_base_url: str | None = None
    embedding_threads: int = Field(default=1, ge=1, le=64)
    embedding_batch_size: int = Field(default=32, ge=1, le=512)
    fusion: FusionMethod = FusionMethod.rrf
    fusion_dense_weight: float = Field(default=0.8, ge=0, le=1)
    rrf_k: int = Field(default=60, ge=1)
    candidates_per_retriever: int = Field(default=50, ge=1, le=500)
    lexical_wait_seconds: float = Field(default=0.5, ge=0, le=60)

    # Caches and conversations
    cache_ttl_seconds: int = Field(default=3600, ge=0)
    embedding_cache_ttl_seconds: int = Field(default=86400, ge=0)
    conversation_ttl_seconds: int = Field(default=86400, ge=60)
    conversation_max_turns: int = Field(default=10, ge=0, le=100)

    # LLM
    llm_provider: LlmProvider = LlmProvider.none
    llm_base_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    llm_model: str = "llama3.2"
    llm_api_key: SecretStr | None = None
    # One answer's whole budget: every try, the backoff between them and the whole stream.
    llm_timeout_seconds: float = Field(default=60.0, gt=0)
    llm_connect_timeout_seconds: float = Field(default=3.0, gt=0)
    llm_max_retries: int = Field(default=2, ge=0, le=10)
    llm_retry_backoff_seconds: float = Field(default=0.25, ge=0)
    llm_breaker_failures: int = Field(default=3, ge=1)
    llm_breaker_reset_seconds: float = Field(default=30.0, gt=0)
    llm_max_tokens: int = Field(default=512, ge=1)
    llm_temperature: float = Field(default=0.1, ge=0, le=2)
    llm_max_concurrent_generations: int = Field(default=4, ge=1, le=1024)
    llm_queue_seconds: float = Field(default=5.0, ge=0, le=300)
    injection_policy: InjectionPolicy = InjectionPolicy.mark

    # Observability
    log_level: str = Field(default="INFO", pattern=r"^(?i:debug|info|warning|error|critical)$")
    log_json: bool = True
    otlp_endpoint: str | None = Field(default=None, pattern=r"^https?://\S+$")
    service_name: str = "ragstack"

    @model_validator(mode="after")
    def _check_chunking(self) -> Settings:
        if self.chunk_overlap_chars >= self.chunk_size_chars:
            raise ValueError("RAGSTACK_CHUNK_OVERLAP_CHARS must be smaller than CHUNK_SIZE_CHARS")
        return self

    @field_validator("api_keys", mode="before")
    @classmethod
    def _parse_api_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else []
        return value

    @field_validator("auth_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("must be at least 32 characters (e.g. openssl rand -hex 32)")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("llm_base_url", "embedding_base_url", "chroma_url", "otlp_endpoint")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value


class ConfigError(SystemExit):
    """Raised at start when a variable is invalid; the message names the variable."""


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for problem in error.errors():
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        detail = problem["msg"]
        if len(problem["loc"]) > 1:
            detail = f"{'.'.join(str(p) for p in problem['loc'][1:])}: {detail}"
        lines.append(f"{ENV_PREFIX}{field.upper()}: {detail}")
    return "invalid configuration: " + "; ".join(lines)


def load_settings(**overrides: Any) -> Settings:
    """Read the environment; a bad value stops the process with a message naming the variable."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    except (json.JSONDecodeError, ValueError) as error:
        raise ConfigError(f"invalid configuration: {error}") from None
