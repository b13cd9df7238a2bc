from __future__ import annotations

from fastapi import APIRouter, Path, Response
from fastapi.responses import StreamingResponse

from ragstack.api.deps import ReadKey, ServicesDep
from ragstack.api.schemas import ID_PATTERN, ChatAnswerView, ChatRequest, ConversationView

router = APIRouter(prefix="/v1", tags=["chat"])


@router.post(
    "/chat",
    response_model=ChatAnswerView,
    responses={200: {"content": {"text/event-stream": {}}, "description": "answer or SSE stream"}},
)
async def chat(
    body: ChatRequest, services: ServicesDep, principal: ReadKey
) -> Response | ChatAnswerView:
    """Answer grounded in the collection, citing passages as [n]. Without a working LLM the
    answer is extractive (``mode: extractive``, ``degraded: true``). Conversations belong to
    the user or API key that started them."""
    principal.check_collection(body.collection)
    if body.stream:
        events = await services.chat.stream(
            body.collection, body.message, body.top_k, body.conversation_id, principal.id
        )
        return StreamingResponse(
            events,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    answer = await services.chat.answer(
        body.collection, body.message, body.top_k, body.conversation_id, principal.id
    )
    return ChatAnswerView(**answer.as_dict())


@router.get("/conversations/{conversation_id}", response_model=ConversationView)
async def get_conversation(
    services: ServicesDep, principal: ReadKey, conversation_id: str = Path(pattern=ID_PATTERN)
) -> ConversationView:
    """The caller's own conversation (another's is 404)."""
    messages = await services.conversations.get(principal.id, conversation_id)
    return ConversationView.model_validate({"id": conversation_id, "messages": messages})
