"""Reflex states: they hold what the pages show and call the backend from the server side.

Every transition is delegated to `models`. Each call to the backend acts as the browser's
signed-in user: the session cookie (sent with the websocket's handshake, never readable by the
page's scripts) names a session of `sessions.SESSIONS`, which holds the user's token.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import reflex as rx

from . import models
from .backend import BackendClient, BackendError, Settings
from .sessions import SESSIONS

UPLOAD_ID = "documents-upload"
DOCUMENTS_PAGE_SIZE = 20
# Ingestion of a large file may take minutes; polling stops after this long.
JOB_POLL_SECONDS = 1.5
JOB_POLL_LIMIT_S = 15 * 60
# Tokens are pushed to the browser at most this often, so a fast model does not flood the socket.
STREAM_FLUSH_S = 0.05


SIGN_IN_ROUTE = "/sign-in"


async def backend_for(cookie_header: str) -> BackendClient:
    """A client acting as the cookie's signed-in user; sessions.NotSignedIn without one."""
    return await SESSIONS.client_for(cookie_header, Settings.from_env())


class AppState(rx.State):
    """The signed-in user, the chosen collection (kept in the browser) and the list to choose
    from."""

    user_name: str = ""
    user_role: str = ""

    collection: str = rx.LocalStorage("", name="ragstack_collection", sync=True)
    collections: list[models.CollectionRow] = []
    collections_error: str = ""
    # ok | unreachable | error (answered, but refused or failed) | unknown (not asked yet)
    backend_status: str = "unknown"

    async def _backend(self) -> BackendClient:
        return await backend_for(self.router.headers.cookie)

    @rx.event
    async def require_session(self) -> Any:
        """First on_load of every page but sign-in: no session, no page. Another user signed
        in on this tab: nothing of the previous one's stays on screen."""
        session = SESSIONS.get(self.router.headers.cookie)
        if session is None:
            return rx.redirect(SIGN_IN_ROUTE, replace=True)
        if session.user != self.user_name:
            for sub in (ChatState, DocumentsState, CollectionsState, StatusState):
                (await self.get_state(sub)).reset()
            self.reset()
            self.user_name, self.user_role = session.user, session.role
        return None

    @rx.var
    def can_write(self) -> bool:
        return self.user_role in ("writer", "admin")

    @rx.var
    def backend_label(self) -> str:
        return models.BACKEND_LABEL.get(self.backend_status, "Backend status unknown")

    @rx.var
    def backend_tone(self) -> str:
        return models.BACKEND_TONE.get(self.backend_status, "gray")

    @rx.var
    def collection_names(self) -> list[str]:
        return [c.name for c in self.collections]

    @rx.event
    async def load_collections(self) -> None:
        try:
            items = await (await self._backend()).list_collections()
        except BackendError as exc:
            self.collections_error = exc.message
            self.backend_status = "unreachable" if exc.status is None else "error"
            return
        self.collections_error = ""
        self.backend_status = "ok"
        self.collections = [models.collection_from_api(c) for c in items]
        names = [c.name for c in self.collections]
        if self.collection not in names:
            # The remembered collection is gone (or none was chosen yet): take the first one.
            had_one = bool(self.collection)
            self.collection = names[0] if names else ""
            if had_one:
                chat = await self.get_state(ChatState)
                chat._start_new_conversation()

    @rx.event
    async def select_collection(self, name: str) -> None:
        if name == self.collection:
            return
        self.collection = name
        chat = await self.get_state(ChatState)
        chat._start_new_conversation()
        documents = await self.get_state(DocumentsState)
        documents.offset = 0
        await documents.load_documents()


class ChatState(AppState):
    messages: list[models.ChatMessage] = []
    conversation_id: str = rx.LocalStorage("", name="ragstack_conversation", sync=True)
    busy: bool = False
    chat_error: str = ""
    history_loaded_for: str = ""
    open_citation: models.Citation = models.Citation()
    citation_open: bool = False

    @rx.var
    def has_messages(self) -> bool:
        return len(self.messages) > 0

    def _start_new_conversation(self) -> None:
        self.messages = []
        self.conversation_id = ""
        self.history_loaded_for = ""
        self.chat_error = ""

    @rx.event
    def new_conversation(self) -> None:
        if not self.busy:
            self._start_new_conversation()

    @rx.event
    async def load_history(self) -> None:
        """After a reload the browser still has the conversation id: fetch what was said."""
        conversation_id = self.conversation_id
        if not conversation_id or self.busy or self.history_loaded_for == conversation_id:
            return
        try:
            payload = await (await self._backend()).get_conversation(conversation_id)
        except BackendError as exc:
            if exc.status == 404:
                # Expired or forgotten by the backend: start afresh rather than show an error.
                self._start_new_conversation()
            else:
                self.chat_error = f"Could not load the earlier conversation. {exc.message}"
            return
        self.messages = models.messages_from_history(payload)
        self.history_loaded_for = conversation_id
        self.chat_error = ""

    @rx.event
    def show_citation(self, citation: dict) -> None:
        self.open_citation = models.citation_from_view(citation)
        self.citation_open = True

    @rx.event
    def open_citation_link(self, href: str) -> Any:
        """A click on a link inside an answer: a cited [n] opens its passage, a web link a tab."""
        if citation := models.citation_for_href(self.messages, href):
            self.open_citation = citation
            self.citation_open = True
            return None
        if href.startswith(("https://", "http://")):
            return rx.redirect(href, is_external=True)
        return None

    @rx.event
    def set_citation_open(self, value: bool) -> None:
        self.citation_open = value

    @rx.event(background=True)
    async def send(self, form: dict) -> None:
        question = str(form.get("message", "")).strip()
        async with self:
            if not question or self.busy:
                return
            if not self.collection:
                self.chat_error = "Choose or create a collection before asking a question."
                return
            self.busy = True
            self.chat_error = ""
            answer = models.ChatMessage(id=models.new_id(), role="assistant", status="pending")
            question_msg = models.ChatMessage(id=models.new_id(), role="user", content=question)
            self.messages = [*self.messages, question_msg, answer]
            collection, conversation_id = self.collection, self.conversation_id
            cookie = self.router.headers.cookie

        last_push = 0.0
        new_conversation_id: str | None = None
        try:
            client = await backend_for(cookie)
            stream = client.chat_stream(collection, question, conversation_id or None)
            async for event in stream:
                answer, event_conversation = models.apply_stream_event(answer, event)
                new_conversation_id = event_conversation or new_conversation_id
                now = time.monotonic()
                if event.event != "token" or now - last_push >= STREAM_FLUSH_S:
                    last_push = now
                    async with self:
                        self._replace_answer(answer, new_conversation_id)
            answer = models.finish_stream(answer)
        except BackendError as exc:
            answer = models.fail_message(answer, exc.message)
        except Exception:  # the UI must keep working whatever went wrong in one answer
            answer = models.fail_message(answer, "The UI could not process the answer.")
            raise
        finally:
            async with self:
                self._replace_answer(answer, new_conversation_id)
                self.busy = False

    def _replace_answer(self, answer: models.ChatMessage, conversation_id: str | None) -> None:
        messages = list(self.messages)
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].id == answer.id:
                messages[i] = answer
                break
        else:
            return  # the conversation was left (another collection) while this answer streamed
        self.messages = messages
        if conversation_id:
            self.conversation_id = conversation_id
            self.history_loaded_for = conversation_id


class DocumentsState(AppState):
    documents: list[models.DocumentRow] = []
    total: int = 0
    offset: int = 0
    documents_error: str = ""
    loading: bool = False

    uploads: list[models.UploadRow] = []
    upload_progress: int = 0
    uploading: bool = False
    polling: bool = False

    delete_open: bool = False
    delete_id: str = ""
    delete_name: str = ""
    notice: str = ""

    @rx.var
    def page_label(self) -> str:
        if not self.total:
            return ""
        last = min(self.offset + DOCUMENTS_PAGE_SIZE, self.total)
        return f"{self.offset + 1}–{last} of {self.total}"

    @rx.var
    def has_previous(self) -> bool:
        return self.offset > 0

    @rx.var
    def has_next(self) -> bool:
        return self.offset + DOCUMENTS_PAGE_SIZE < self.total

    @rx.event
    async def load_documents(self) -> Any:
        """The current page of documents; keeps polling while any of them is still ingesting."""
        if not self.collection:
            self.documents, self.total = [], 0
            return None
        self.loading = True
        try:
            page = await (await self._backend()).list_documents(
                self.collection, limit=DOCUMENTS_PAGE_SIZE, offset=self.offset
            )
        except BackendError as exc:
            self.documents_error = exc.message
            return None
        finally:
            self.loading = False
        self.documents_error = ""
        self.documents = [models.document_from_api(d) for d in page.get("items", [])]
        self.total = int(page.get("total") or 0)
        if any(d.status in models.ACTIVE_STATUSES for d in self.documents) and not self.polling:
            return DocumentsState.poll_ingestion
        return None

    @rx.event
    async def next_page(self) -> None:
        self.offset += DOCUMENTS_PAGE_SIZE
        await self.load_documents()

    @rx.event
    async def previous_page(self) -> None:
        self.offset = max(0, self.offset - DOCUMENTS_PAGE_SIZE)
        await self.load_documents()

    @rx.event
    def start_upload(self) -> None:
        self.uploading = True
        self.upload_progress = 0
        self.notice = ""

    @rx.event
    def on_upload_progress(self, progress: dict) -> None:
        self.upload_progress = round(float(progress.get("progress", 0)) * 100)

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]) -> AsyncIterator[Any]:
        """The files have reached this process; send each to the backend and track ingestion."""
        self.uploading = True
        self.upload_progress = 100
        if not self.collection:
            self.uploading = False
            self.notice = "Choose or create a collection before uploading."
            return
        if not files:
            self.uploading = False
            self.notice = "Choose at least one file first."
            return
        collection = self.collection
        self.uploads = [models.UploadRow(filename=f.name or "file") for f in files]
        yield
        for i, file in enumerate(files):
            name = file.name or "file"
            try:
                content = await file.read()
                result = await (await self._backend()).upload_document(
                    collection, name, content, file.content_type
                )
                row = models.upload_row_from_result(name, result)
            except BackendError as exc:
                row = models.upload_failed(name, exc.message)
            self.uploads[i] = row
            yield
        self.uploading = False
        await self.load_documents()
        if any(u.status in models.ACTIVE_STATUSES for u in self.uploads):
            yield DocumentsState.poll_ingestion

    @rx.event(background=True)
    async def poll_ingestion(self) -> None:
        """Follow background ingestion until uploads and listed documents are all settled."""
        async with self:
            if self.polling:
                return
            self.polling = True
            cookie = self.router.headers.cookie
        deadline = time.monotonic() + JOB_POLL_LIMIT_S
        try:
            while time.monotonic() < deadline:
                await asyncio.sleep(JOB_POLL_SECONDS)
                async with self:
                    rows = list(self.uploads)
                    listed_active = any(d.status in models.ACTIVE_STATUSES for d in self.documents)
                active = [r for r in rows if r.status in models.ACTIVE_STATUSES]
                if not active and not listed_active:
                    break
                updated = []
                client = await backend_for(cookie)
                for row in rows:
                    if row.status in models.ACTIVE_STATUSES and row.job_id:
                        try:
                            row = models.upload_row_from_job(row, await client.get_job(row.job_id))
                        except BackendError as exc:
                            row = replace(row, message=f"Status unknown: {exc.message}")
                    updated.append(row)
                async with self:
                    self.uploads = updated
                    await self.load_documents()
        finally:
            async with self:
                self.polling = False

    @rx.event
    def clear_uploads(self) -> None:
        self.uploads = []
        self.upload_progress = 0

    @rx.event
    def ask_delete(self, document_id: str, name: str) -> None:
        self.delete_id, self.delete_name, self.delete_open = document_id, name, True

    @rx.event
    def set_delete_open(self, value: bool) -> None:
        self.delete_open = value

    @rx.event
    async def confirm_delete(self) -> None:
        self.delete_open = False
        if not self.delete_id:
            return
        try:
            await (await self._backend()).delete_document(self.collection, self.delete_id)
            self.notice = f"Deleted {self.delete_name}."
        except BackendError as exc:
            self.notice = f"Could not delete {self.delete_name}. {exc.message}"
        self.delete_id = ""
        await self.load_documents()


class CollectionsState(AppState):
    new_name: str = ""
    new_description: str = ""
    form_error: str = ""
    created_notice: str = ""
    creating: bool = False

    @rx.event
    def set_new_name(self, value: str) -> None:
        self.new_name = value.strip().lower()
        self.form_error = ""

    @rx.event
    def set_new_description(self, value: str) -> None:
        self.new_description = value

    @rx.event
    async def create(self) -> None:
        name = self.new_name.strip()
        self.created_notice = ""
        if problem := models.validate_collection_name(name):
            self.form_error = problem
            return
        self.creating = True
        try:
            await (await self._backend()).create_collection(name, self.new_description.strip())
        except BackendError as exc:
            self.form_error = exc.message
            return
        finally:
            self.creating = False
        self.new_name, self.new_description, self.form_error = "", "", ""
        await self.load_collections()
        await self.select_collection(name)
        # Said by the page itself: a toast sent from here would be a script to eval (CSP).
        self.created_notice = f"Collection {name} created and selected."


class StatusState(AppState):
    overall: str = ""
    checks: list[models.CheckRow] = []
    status_error: str = ""
    checked_at: str = ""
    checking: bool = False

    @rx.var
    def overall_tone(self) -> str:
        return models.READY_TONE.get(self.overall, "gray")

    @rx.var
    def overall_summary(self) -> str:
        return models.READY_SUMMARY.get(self.overall, "")

    @rx.event
    async def check(self) -> None:
        self.checking = True
        try:
            payload = await (await self._backend()).ready()
        except BackendError as exc:
            self.overall, self.checks, self.status_error = "unreachable", [], exc.message
            self.backend_status = "unreachable" if exc.status is None else "error"
        else:
            self.backend_status = "ok"
            self.overall = str(payload.get("status"))
            self.checks = models.checks_from_ready(payload)
            self.status_error = ""
        finally:
            self.checking = False
            self.checked_at = time.strftime("%H:%M:%S UTC", time.gmtime())


class SignInState(rx.State):
    """What the sign-in page says after a failed attempt (from its query string)."""

    message: str = ""
    tone: str = "red"

    @rx.event
    def load(self) -> Any:
        if SESSIONS.get(self.router.headers.cookie) is not None:
            return rx.redirect("/", replace=True)
        self.message, self.tone = models.sign_in_message(self.router.url.query_parameters)
        return None
