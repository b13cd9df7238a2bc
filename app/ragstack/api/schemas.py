"""Request and response bodies of the HTTP API (docs/api-contract.md)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StringConstraints,
)

from ragstack.catalog import Collection, Document
from ragstack.retrieval.service import Mode
from ragstack.users import USER_NAME, Role, UserView

COLLECTION_NAME = r"^[a-z0-9_-]{3,63}$"
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"


METADATA_KEY = r"^[A-Za-z0-9_-]{1,64}$"
FilterKey = Annotated[str, StringConstraints(pattern=METADATA_KEY)]
# Values the vector store can compare exactly: bounded ints, finite floats, short strings.
FilterValue = (
    StrictBool
    | Annotated[int, Field(strict=True, ge=-(2**63), le=2**63 - 1)]
    | Annotated[float, Field(strict=True, allow_inf_nan=False)]
    | Annotated[str, StringConstraints(max_length=512)]
)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F)) - {"\t", "\n", "\r"}


def searchable(text: str) -> str:
    """Refuse text that no search can use: control characters, or no letter or digit at all."""
    if any(ch in _CONTROL for ch in text):
        raise ValueError("must not contain control characters")
    if not any(ch.isalnum() for ch in text):
        raise ValueError("has no searchable text (no letter or digit)")
    return text


QueryText = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(searchable)
]
MessageText = Annotated[
    str, StringConstraints(min_length=1, max_length=4000), AfterValidator(searchable)
]


class CollectionCreate(Strict):
    name: str = Field(pattern=COLLECTION_NAME, description="3-63 of a-z 0-9 _ -")
    description: str | None = Field(default=None, max_length=1000)


class CollectionList(BaseModel):
    items: list[Collection]


class DocumentList(BaseModel):
    items: list[Document]
    total: int
    limit: int
    offset: int


class JobAccepted(BaseModel):
    job_id: str
    document: Document


class JobView(BaseModel):
    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    document_id: str
    error: str | None
    attempts: int = Field(description="How many times a worker took it up")


class QueryRequest(Strict):
    collection: str = Field(pattern=COLLECTION_NAME)
    query: QueryText
    top_k: StrictInt = Field(default=5, ge=1, le=100)  # `true` is not a number
    filters: dict[FilterKey, FilterValue] = Field(default_factory=dict, max_length=32)
    mode: Mode = Field(
        default=Mode.hybrid,
        description="hybrid (dense and lexical fused), dense (embeddings) or lexical (BM25)",
    )
    group_by_document: StrictBool = Field(
        default=False, description="Best chunk per document: top_k distinct documents"
    )


class HitView(BaseModel):
    chunk_id: str
    document_id: str
    filename: str
    title: str
    page: int | None
    section: str | None
    text: str
    score: float


class QueryResponse(BaseModel):
    results: list[HitView]
    took_ms: float


class ChatRequest(Strict):
    collection: str = Field(pattern=COLLECTION_NAME)
    message: MessageText
    conversation_id: str | None = Field(default=None, pattern=ID_PATTERN)
    top_k: StrictInt = Field(default=5, ge=1, le=20)
    stream: StrictBool = False


class Citation(BaseModel):
    index: int
    chunk_id: str
    document_id: str
    filename: str
    title: str
    page: int | None
    section: str | None
    snippet: str


class ChatAnswerView(BaseModel):
    answer: str
    citations: list[Citation]
    conversation_id: str
    mode: Literal["llm", "extractive"]
    degraded: bool


class ConversationMessage(BaseModel):
    role: str
    content: str
    citations: list[Citation] | None = None


class ConversationView(BaseModel):
    id: str
    messages: list[ConversationMessage]


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "degraded", "unready"]
    checks: dict[str, Check] | None = Field(
        default=None, description="per dependency; only for loopback callers and admins"
    )


class Health(BaseModel):
    status: Literal["ok"]


class ErrorBody(BaseModel):
    detail: str


class SignIn(Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class SessionToken(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires (refresh before)")
    user: UserView


class UserCreate(Strict):
    name: str = Field(pattern=USER_NAME)
    password: str = Field(min_length=1, max_length=1024)
    role: Role
    collections: list[Annotated[str, Field(pattern=COLLECTION_NAME)]] | None = Field(
        default=None, max_length=1000, description="only these collections; null: all"
    )


class UserUpdate(Strict):
    """Only the fields sent change; ``collections: null`` gives access to all collections."""

    password: str | None = Field(default=None, min_length=1, max_length=1024)
    role: Role | None = None
    collections: list[Annotated[str, Field(pattern=COLLECTION_NAME)]] | None = Field(
        default=None, max_length=1000
    )
    disabled: bool | None = None


class UserList(BaseModel):
    items: list[UserView]
