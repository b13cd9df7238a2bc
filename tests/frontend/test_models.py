"""State transitions of the UI: how stream events, history, uploads and checks become views."""

from ragstack_ui import models
from ragstack_ui.backend import SseEvent

CITATION = {
    "index": 1,
    "chunk_id": "d1:0",
    "document_id": "d1",
    "filename": "handbook.pdf",
    "title": "Employee Handbook",
    "page": 4,
    "section": "Leave",
    "snippet": "Employees get 30 days of paid vacation.",
}


def pending():
    return models.ChatMessage(id="a1", role="assistant", status="pending")


def play(events):
    message, conversation = pending(), None
    for event in events:
        message, found = models.apply_stream_event(message, event)
        conversation = found or conversation
    return models.finish_stream(message), conversation


def test_full_stream_builds_a_cited_answer():
    message, conversation = play(
        [
            SseEvent("citations", {"citations": [CITATION], "conversation_id": "c1"}),
            SseEvent("token", {"text": "30 days"}),
            SseEvent("token", {"text": " [1]."}),
            SseEvent("done", {"mode": "llm", "degraded": False, "conversation_id": "c1"}),
        ]
    )
    assert conversation == "c1"
    assert message.content == "30 days [1]."
    assert message.status == "done"
    assert message.notice == "" and message.error == ""
    [citation] = message.citations
    assert citation.index == 1
    assert citation.title == "Employee Handbook"
    assert citation.location == "page 4 · Leave"
    assert citation.snippet.startswith("Employees get 30 days")


def test_tokens_switch_pending_to_streaming():
    message, _ = models.apply_stream_event(pending(), SseEvent("token", {"text": "Hi"}))
    assert message.status == "streaming"
    assert pending().status == "pending"  # the input is not mutated


def test_retract_drops_the_partial_answer_and_its_citations():
    citation = {"index": 1, "chunk_id": "c", "document_id": "d", "filename": "f.txt"}
    message, _ = play(
        [
            SseEvent("citations", {"citations": [citation]}),
            SseEvent("token", {"text": "Half an ans [1]"}),
            SseEvent("retract", {"reason": "the language model stopped mid-answer"}),
            SseEvent("token", {"text": "From the sources."}),
            SseEvent("done", {"mode": "extractive", "degraded": True}),
        ]
    )
    assert message.content == "From the sources." and message.citations == []
    assert message.status == "done" and message.notice == models.EXTRACTIVE_NOTICE


def test_extractive_and_degraded_answers_carry_a_notice():
    extractive, _ = play([SseEvent("done", {"mode": "extractive", "degraded": True})])
    degraded, _ = play([SseEvent("done", {"mode": "llm", "degraded": True})])
    assert extractive.notice == models.EXTRACTIVE_NOTICE
    assert degraded.notice == models.DEGRADED_NOTICE


def test_error_event_keeps_partial_text_and_the_reason():
    message, _ = play(
        [
            SseEvent("token", {"text": "Partial"}),
            SseEvent("error", {"detail": "the language model stopped responding"}),
        ]
    )
    assert message.status == "error"
    assert message.content == "Partial"
    assert message.error == "the language model stopped responding"


def test_stream_that_just_stops_is_reported():
    cut, _ = play([SseEvent("token", {"text": "Half an ans"})])
    empty, _ = play([])
    assert cut.status == "error" and cut.error == models.INTERRUPTED
    assert empty.status == "error" and "without an answer" in empty.error


def test_fail_message_mentions_interruption_only_after_text():
    assert models.fail_message(pending(), "Backend down.").error == "Backend down."
    partial = models.ChatMessage(id="a", role="assistant", content="x", status="streaming")
    assert models.fail_message(partial, "Backend down.").error.startswith(models.INTERRUPTED)


def test_unknown_events_are_ignored():
    message, conversation = models.apply_stream_event(pending(), SseEvent("ping", {}))
    assert message == pending() and conversation is None


def test_history_restores_roles_text_and_citations():
    messages = models.messages_from_history(
        {
            "id": "c1",
            "messages": [
                {"role": "user", "content": "How much vacation?"},
                {"role": "assistant", "content": "30 days [1].", "citations": [CITATION]},
                "garbage",
            ],
        }
    )
    assert [(m.role, m.content) for m in messages] == [
        ("user", "How much vacation?"),
        ("assistant", "30 days [1]."),
    ]
    assert messages[1].citations[0].filename == "handbook.pdf"
    assert all(m.status == "done" for m in messages)


def test_citation_section_equal_to_title_is_not_repeated():
    citation = models.citation_from_api({"title": "Aurora fleet", "section": "Aurora fleet"})
    assert citation.location == ""


def test_citation_without_page_or_title():
    citation = models.citation_from_api({"filename": "notes.md", "page": None}, position=2)
    assert citation.index == 3
    assert citation.title == "notes.md"
    assert citation.location == ""


def test_collection_names_follow_the_contract():
    assert models.validate_collection_name("handbook_2026-q1") == ""
    assert "name" in models.validate_collection_name("")
    assert "3 to 63" in models.validate_collection_name("ab")
    assert "3 to 63" in models.validate_collection_name("a" * 64)
    assert "lowercase" in models.validate_collection_name("Hand Book")


def test_upload_rows_follow_inline_and_background_ingestion():
    inline = models.upload_row_from_result(
        "a.txt", {"document": {"id": "d1", "status": "ready"}, "job_id": None}
    )
    queued = models.upload_row_from_result(
        "b.pdf", {"document": {"id": "d2", "status": "queued"}, "job_id": "j1"}
    )
    assert (inline.status, inline.tone, inline.job_id) == ("ready", "green", "")
    assert (queued.status, queued.job_id) == ("queued", "j1")

    running = models.upload_row_from_job(queued, {"status": "running", "document_id": "d2"})
    done = models.upload_row_from_job(running, {"status": "succeeded", "document_id": "d2"})
    failed = models.upload_row_from_job(
        running, {"status": "failed", "document_id": "d2", "error": "no text found"}
    )
    assert running.status == "processing" and running.message == "Ingesting…"
    assert done.status == "ready" and done.tone == "green"
    assert failed.tone == "red" and failed.message == "Ingestion failed: no text found"
    assert models.upload_failed("c.exe", "Not supported.").status == "failed"
    duplicate = models.upload_row_from_result(
        "a.txt", {"document": {"id": "d1", "status": "ready"}, "job_id": None, "duplicate": True}
    )
    assert duplicate.status == "ready" and "Already in the collection" in duplicate.message


def test_document_rows_are_readable():
    row = models.document_from_api(
        {
            "id": "d1",
            "filename": "handbook.pdf",
            "title": None,
            "size_bytes": 1536,
            "chunk_count": 12,
            "status": "processing",
            "created_at": "2026-11-25T08:00:59.123456+00:00",
        }
    )
    assert row.title == "handbook.pdf"
    assert row.size == "1.5 KB"
    assert row.tone == "amber"
    assert row.created == "2026-11-25 08:00"
    assert models.human_size(512) == "512 B"
    assert models.human_size(None) == ""


def test_ready_checks_sorted_with_details():
    rows = models.checks_from_ready(
        {
            "status": "degraded",
            "checks": {
                "redis": {"ok": True, "detail": "PONG"},
                "llm": {"ok": False, "detail": "connection refused"},
                "chromadb": {"ok": True},
            },
        }
    )
    assert [(r.name, r.ok, r.detail) for r in rows] == [
        ("chromadb", True, ""),
        ("llm", False, "connection refused"),
        ("redis", True, "PONG"),
    ]
    assert models.READY_TONE["degraded"] == "amber"


def test_cited_marks_become_links_to_their_source():
    message = models.ChatMessage(
        id="ab12",
        role="assistant",
        content="Thirty days [1], see [3] and [the site](https://x.example) [2](https://y)",
        citations=[models.citation_from_api(CITATION)],
    )
    linked = models.link_citations(message)
    assert linked.markdown == (
        "Thirty days [\\[1\\]](#cite-ab12-1), see [3] and [the site](https://x.example) "
        "[2](https://y)"
    )
    assert linked.content == message.content
    assert models.citation_for_href([linked], "#cite-ab12-1").filename == "handbook.pdf"
    assert models.citation_for_href([linked], "#cite-ab12-3") is None
    assert models.citation_for_href([linked], "https://x.example") is None


def test_streamed_answer_links_its_marks():
    message, _ = play(
        [
            SseEvent("citations", {"citations": [CITATION]}),
            SseEvent("token", {"text": "30 days "}),
            SseEvent("token", {"text": "[1]"}),
        ]
    )
    assert message.markdown.endswith("(#cite-a1-1)")


def test_citation_from_the_browser_ignores_unknown_keys():
    citation = models.citation_from_view({"index": 2, "title": "T", "evil": "x"})
    assert citation == models.Citation(index=2, title="T")
