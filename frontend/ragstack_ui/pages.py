"""The pages: chat, documents, collections, status, and sign-in."""

from __future__ import annotations

import reflex as rx

from . import models
from .components import error_callout, layout, native_form, page_header
from .state import (
    UPLOAD_ID,
    AppState,
    ChatState,
    CollectionsState,
    DocumentsState,
    SignInState,
    StatusState,
)

# --- chat --------------------------------------------------------------------------------------


def citation_chip(citation: rx.Var[models.Citation]) -> rx.Component:
    return rx.button(
        rx.cond(citation.flagged, rx.icon("shield-alert", size=14)),
        rx.text(f"[{citation.index}]", weight="bold"),
        rx.text(
            citation.title,
            max_width="220px",
            overflow="hidden",
            white_space="nowrap",
            text_overflow="ellipsis",
        ),
        rx.cond(citation.location != "", rx.text("· " + citation.location, color_scheme="gray")),
        on_click=ChatState.show_citation(citation),
        variant="soft",
        size="1",
        radius="full",
        title=rx.cond(
            citation.flagged,
            citation.filename + " (flagged: possible prompt injection)",
            citation.filename,
        ),
        class_name=rx.cond(citation.flagged, "citation citation-flagged", "citation"),
    )


def answer_link(*children: rx.Component, **props: rx.Var) -> rx.Component:
    """Links inside answers; a cited [n] (href #cite-…) opens that source's passage."""
    href = rx.Var("props.href").to(str)
    return rx.link(
        *children, on_click=[rx.prevent_default, ChatState.open_citation_link(href)], **props
    )


def assistant_message(msg: rx.Var[models.ChatMessage]) -> rx.Component:
    return rx.hstack(
        rx.center(
            rx.icon("sparkles", size=16, color=rx.color("accent", 11)),
            width="32px",
            min_width="32px",
            height="32px",
            border_radius="50%",
            background=rx.color("accent", 3),
        ),
        rx.vstack(
            rx.cond(
                msg.status == "pending",
                rx.hstack(
                    rx.spinner(size="2"),
                    rx.text("Searching your documents…", size="2", color_scheme="gray"),
                    align="center",
                ),
            ),
            rx.cond(
                msg.content != "",
                rx.box(
                    # Markdown only: raw HTML in an answer (which may quote uploaded text
                    # verbatim) is shown as text, never parsed into elements.
                    rx.markdown(msg.markdown, component_map={"a": answer_link}, use_raw=False),
                    class_name=rx.cond(msg.status == "streaming", "answer streaming", "answer"),
                    width="100%",
                ),
            ),
            rx.cond(
                msg.citations.length() > 0,
                rx.vstack(
                    rx.text("Sources", size="1", weight="bold", color_scheme="gray"),
                    rx.flex(rx.foreach(msg.citations, citation_chip), wrap="wrap", gap="6px"),
                    spacing="1",
                    width="100%",
                ),
            ),
            rx.cond(
                msg.notice != "",
                rx.callout(msg.notice, icon="info", color_scheme="amber", size="1", width="100%"),
            ),
            rx.cond(
                msg.error != "",
                rx.callout(
                    msg.error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    role="alert",
                    width="100%",
                ),
            ),
            spacing="2",
            width="100%",
            min_width="0",
        ),
        align="start",
        spacing="3",
        width="100%",
        class_name="message assistant",
    )


def user_message(msg: rx.Var[models.ChatMessage]) -> rx.Component:
    return rx.flex(
        rx.box(
            rx.text(msg.content, size="3", white_space="pre-wrap"),
            background=rx.color("accent", 9),
            color="white",
            padding="10px 14px",
            border_radius="16px 16px 4px 16px",
            max_width="min(85%, 640px)",
        ),
        justify="end",
        width="100%",
        class_name="message user",
    )


def chat_message(msg: rx.Var[models.ChatMessage]) -> rx.Component:
    return rx.cond(msg.role == "user", user_message(msg), assistant_message(msg))


def empty_chat() -> rx.Component:
    return rx.center(
        rx.vstack(
            rx.icon("message-square-text", size=36, color=rx.color("accent", 9)),
            rx.heading("Ask your documents", size="5"),
            rx.text(
                rx.cond(
                    AppState.collection != "",
                    "Questions are answered from the collection “"
                    + AppState.collection
                    + "”, with the passages they rely on.",
                    "Create a collection and upload documents to get started.",
                ),
                size="2",
                color_scheme="gray",
                align="center",
            ),
            align="center",
            spacing="2",
            max_width="420px",
        ),
        width="100%",
        padding="32px 8px",
    )


def citation_dialog() -> rx.Component:
    c = ChatState.open_citation
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title(f"[{c.index}] " + c.title),
            rx.dialog.description(
                rx.hstack(
                    rx.icon("file-text", size=14),
                    rx.text(c.filename),
                    rx.cond(c.location != "", rx.text("· " + c.location)),
                    spacing="1",
                    align="center",
                ),
                size="2",
                color_scheme="gray",
            ),
            rx.cond(
                c.flagged,
                rx.callout(
                    models.FLAGGED_NOTICE,
                    icon="shield-alert",
                    color_scheme="amber",
                    size="1",
                    margin_top="12px",
                    class_name="flagged-notice",
                ),
            ),
            rx.blockquote(
                c.snippet,
                size="3",
                margin_y="16px",
                white_space="pre-wrap",
                class_name="cited-passage",
            ),
            rx.flex(
                rx.dialog.close(rx.button("Close", variant="soft")),
                justify="end",
            ),
            max_width="640px",
        ),
        open=ChatState.citation_open,
        on_open_change=ChatState.set_citation_open,
    )


def composer() -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.text_area(
                name="message",
                placeholder="Ask a question… (Enter to send, Shift+Enter for a new line)",
                enter_key_submit=True,
                auto_height=True,
                rows="1",
                max_length=4000,
                aria_label="Your question",
                width="100%",
                size="3",
                auto_focus=True,
                id="chat-input",
            ),
            rx.button(
                rx.icon("send-horizontal", size=16),
                rx.text("Send", display=["none", "inline"]),
                type="submit",
                loading=ChatState.busy,
                size="3",
                aria_label="Send",
            ),
            align="end",
            width="100%",
        ),
        on_submit=ChatState.send,
        reset_on_submit=True,
        width="100%",
    )


def chat_page() -> rx.Component:
    return layout(
        "/",
        page_header(
            "Chat",
            "Answers stream in as they are written; click a source to read the passage.",
            rx.button(
                rx.icon("plus", size=16),
                "New conversation",
                on_click=ChatState.new_conversation,
                variant="soft",
                disabled=ChatState.busy,
            ),
        ),
        error_callout(AppState.collections_error),
        error_callout(ChatState.chat_error),
        # column-reverse keeps the newest message in view while an answer streams in.
        rx.flex(
            rx.vstack(
                rx.cond(ChatState.has_messages, rx.fragment(), empty_chat()),
                rx.foreach(ChatState.messages, chat_message),
                spacing="5",
                width="100%",
                padding_bottom="8px",
            ),
            direction="column-reverse",
            flex="1",
            min_height="0",
            overflow_y="auto",
            width="100%",
            id="chat-log",
            aria_live="polite",
        ),
        composer(),
        citation_dialog(),
        full_height=True,
    )


# --- documents ---------------------------------------------------------------------------------


def status_badge(status: rx.Var[str], tone: rx.Var[str]) -> rx.Component:
    return rx.badge(status, color_scheme=tone, variant="soft", radius="full")


def upload_row(row: rx.Var[models.UploadRow]) -> rx.Component:
    return rx.hstack(
        rx.icon("file", size=16, color=rx.color("gray", 10)),
        rx.text(
            row.filename,
            size="2",
            weight="medium",
            min_width="0",
            overflow="hidden",
            text_overflow="ellipsis",
            white_space="nowrap",
        ),
        rx.spacer(),
        rx.text(row.message, size="1", color_scheme="gray", display=["none", "block"]),
        rx.cond(
            (row.status == "sending") | (row.status == "processing") | (row.status == "queued"),
            rx.spinner(size="1"),
        ),
        status_badge(row.status, row.tone),
        align="center",
        width="100%",
        class_name="upload-row",
    )


def upload_card() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.upload.root(
                rx.vstack(
                    rx.icon("cloud-upload", size=28, color=rx.color("accent", 9)),
                    rx.text("Drop files here, or click to choose", weight="medium", size="2"),
                    rx.text(
                        "PDF, text, Markdown, HTML… several at once.", size="1", color_scheme="gray"
                    ),
                    # The keyboard way in: a real button (Tab, then Enter or Space).
                    rx.button(
                        rx.icon("folder-open", size=14),
                        "Choose files",
                        variant="surface",
                        size="1",
                        margin_top="6px",
                        id="choose-files",
                        type="button",
                    ),
                    align="center",
                    spacing="1",
                ),
                id=UPLOAD_ID,
                multiple=True,
                # The drop zone itself is not a tab stop; the button inside it is.
                no_keyboard=True,
                border=f"2px dashed {rx.color('accent', 7)}",
                border_radius="12px",
                padding="20px",
                width="100%",
                cursor="pointer",
                background=rx.color("accent", 2),
            ),
            rx.cond(
                rx.selected_files(UPLOAD_ID).length() > 0,
                rx.flex(
                    rx.foreach(
                        rx.selected_files(UPLOAD_ID),
                        lambda name: rx.badge(rx.icon("file", size=12), name, variant="surface"),
                    ),
                    wrap="wrap",
                    gap="6px",
                ),
            ),
            rx.hstack(
                rx.button(
                    rx.icon("upload", size=16),
                    "Upload",
                    # The files are taken when clicked; the choice is cleared here, in the page:
                    # cleared from the server it would be a script to eval, which the CSP refuses.
                    on_click=[
                        DocumentsState.start_upload,
                        DocumentsState.handle_upload(
                            rx.upload_files(
                                upload_id=UPLOAD_ID,
                                on_upload_progress=DocumentsState.on_upload_progress,
                            )
                        ),
                        rx.clear_selected_files(UPLOAD_ID),
                    ],
                    loading=DocumentsState.uploading,
                    disabled=rx.selected_files(UPLOAD_ID).length() == 0,
                    id="upload-button",
                ),
                rx.button(
                    "Clear",
                    on_click=[rx.clear_selected_files(UPLOAD_ID), DocumentsState.clear_uploads],
                    variant="soft",
                    color_scheme="gray",
                ),
                rx.cond(
                    DocumentsState.uploading,
                    rx.hstack(
                        rx.progress(value=DocumentsState.upload_progress, width="160px"),
                        rx.text(DocumentsState.upload_progress.to_string() + "%", size="1"),
                        align="center",
                    ),
                ),
                align="center",
                wrap="wrap",
            ),
            rx.cond(
                DocumentsState.uploads.length() > 0,
                rx.vstack(
                    rx.foreach(DocumentsState.uploads, upload_row),
                    width="100%",
                    spacing="2",
                    id="upload-list",
                ),
            ),
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def document_row(doc: rx.Var[models.DocumentRow]) -> rx.Component:
    wide = ["none", "none", "table-cell"]
    return rx.table.row(
        rx.table.cell(
            rx.vstack(
                rx.text(doc.title, weight="medium", size="2"),
                rx.cond(
                    doc.title != doc.filename, rx.text(doc.filename, size="1", color_scheme="gray")
                ),
                rx.cond(doc.error != "", rx.text(doc.error, size="1", color_scheme="red")),
                spacing="0",
            ),
        ),
        rx.table.cell(status_badge(doc.status, doc.tone)),
        rx.table.cell(doc.chunk_count, display=wide),
        rx.table.cell(doc.size, display=wide),
        rx.table.cell(doc.created, display=wide, white_space="nowrap"),
        rx.table.cell(
            rx.icon_button(
                rx.icon("trash-2", size=16),
                on_click=DocumentsState.ask_delete(doc.id, doc.filename),
                variant="ghost",
                color_scheme="red",
                aria_label="Delete " + doc.filename,
                title="Delete",
            ),
            text_align="right",
        ),
        align="center",
    )


def delete_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Delete this document?"),
            rx.alert_dialog.description(
                "“" + DocumentsState.delete_name + "” and its passages will be removed from "
                "the collection. Answers will no longer cite it."
            ),
            rx.flex(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray")),
                rx.alert_dialog.action(
                    rx.button("Delete", color_scheme="red", on_click=DocumentsState.confirm_delete)
                ),
                gap="3",
                justify="end",
                margin_top="16px",
            ),
        ),
        open=DocumentsState.delete_open,
        on_open_change=DocumentsState.set_delete_open,
    )


def documents_page() -> rx.Component:
    wide = ["none", "none", "table-cell"]
    return layout(
        "/documents",
        page_header(
            "Documents",
            rx.text(
                "Files in the collection “",
                AppState.collection,
                "”.",
                size="2",
                color_scheme="gray",
            ),
            rx.button(
                rx.icon("refresh-cw", size=16),
                "Refresh",
                variant="soft",
                on_click=DocumentsState.load_documents,
                loading=DocumentsState.loading,
            ),
        ),
        error_callout(AppState.collections_error),
        error_callout(DocumentsState.documents_error),
        rx.cond(
            DocumentsState.notice != "",
            rx.callout(DocumentsState.notice, icon="info", width="100%"),
        ),
        upload_card(),
        rx.card(
            rx.cond(
                DocumentsState.documents.length() > 0,
                rx.vstack(
                    rx.table.root(
                        rx.table.header(
                            rx.table.row(
                                rx.table.column_header_cell("Document"),
                                rx.table.column_header_cell("Status"),
                                rx.table.column_header_cell("Passages", display=wide),
                                rx.table.column_header_cell("Size", display=wide),
                                rx.table.column_header_cell("Added (UTC)", display=wide),
                                rx.table.column_header_cell(""),
                            )
                        ),
                        rx.table.body(rx.foreach(DocumentsState.documents, document_row)),
                        width="100%",
                        id="documents-table",
                    ),
                    rx.hstack(
                        rx.text(DocumentsState.page_label, size="1", color_scheme="gray"),
                        rx.spacer(),
                        rx.button(
                            "Previous",
                            variant="soft",
                            size="1",
                            disabled=~DocumentsState.has_previous,
                            on_click=DocumentsState.previous_page,
                        ),
                        rx.button(
                            "Next",
                            variant="soft",
                            size="1",
                            disabled=~DocumentsState.has_next,
                            on_click=DocumentsState.next_page,
                        ),
                        width="100%",
                        align="center",
                    ),
                    width="100%",
                ),
                rx.text("No documents yet. Upload some above.", size="2", color_scheme="gray"),
            ),
            width="100%",
        ),
        delete_dialog(),
    )


# --- collections -------------------------------------------------------------------------------


def collection_card(c: rx.Var[models.CollectionRow]) -> rx.Component:
    current = c.name == AppState.collection
    return rx.card(
        rx.hstack(
            rx.vstack(
                rx.hstack(
                    rx.text(c.name, weight="bold", size="3"),
                    rx.cond(current, rx.badge("In use", color_scheme="green", radius="full")),
                    align="center",
                ),
                rx.cond(c.description != "", rx.text(c.description, size="2", color_scheme="gray")),
                rx.text(
                    c.document_count.to_string()
                    + " documents · "
                    + c.chunk_count.to_string()
                    + " passages · created "
                    + c.created,
                    size="1",
                    color_scheme="gray",
                ),
                spacing="1",
                min_width="0",
            ),
            rx.spacer(),
            rx.button(
                "Use",
                on_click=AppState.select_collection(c.name),
                disabled=current,
                variant="soft",
                aria_label="Use collection " + c.name,
            ),
            align="center",
            width="100%",
        ),
        width="100%",
    )


def collections_page() -> rx.Component:
    return layout(
        "/collections",
        page_header("Collections", "Each collection is a separate set of documents to ask."),
        error_callout(AppState.collections_error),
        rx.card(
            rx.form(
                rx.vstack(
                    rx.heading("New collection", size="3", as_="h2"),
                    rx.flex(
                        rx.input(
                            placeholder="name, e.g. handbook",
                            value=CollectionsState.new_name,
                            on_change=CollectionsState.set_new_name,
                            aria_label="Collection name",
                            max_length=63,
                            flex="1",
                            min_width="180px",
                            id="collection-name",
                        ),
                        rx.input(
                            placeholder="description (optional)",
                            value=CollectionsState.new_description,
                            on_change=CollectionsState.set_new_description,
                            aria_label="Description",
                            flex="2",
                            min_width="180px",
                        ),
                        rx.button(
                            rx.icon("plus", size=16),
                            "Create",
                            type="submit",
                            loading=CollectionsState.creating,
                        ),
                        gap="8px",
                        wrap="wrap",
                        width="100%",
                    ),
                    rx.text(
                        "3–63 characters: lowercase letters, digits, - and _.",
                        size="1",
                        color_scheme="gray",
                    ),
                    error_callout(CollectionsState.form_error),
                    error_callout(CollectionsState.created_notice, icon="check", color="green"),
                    width="100%",
                    spacing="2",
                ),
                on_submit=CollectionsState.create,
            ),
            width="100%",
        ),
        rx.cond(
            AppState.collections.length() > 0,
            rx.vstack(rx.foreach(AppState.collections, collection_card), width="100%", spacing="2"),
            rx.text("No collections yet.", size="2", color_scheme="gray"),
        ),
    )


# --- status ------------------------------------------------------------------------------------


def check_card(check: rx.Var[models.CheckRow]) -> rx.Component:
    return rx.card(
        rx.hstack(
            rx.cond(
                check.ok,
                rx.icon("circle-check", color=rx.color("green", 9), size=22),
                rx.icon("circle-x", color=rx.color("red", 9), size=22),
            ),
            rx.vstack(
                rx.text(check.name, weight="bold", size="3"),
                rx.text(
                    rx.cond(check.detail != "", check.detail, rx.cond(check.ok, "ok", "failing")),
                    size="2",
                    color_scheme="gray",
                ),
                spacing="0",
                min_width="0",
            ),
            align="center",
            spacing="3",
        ),
        width="100%",
    )


def status_page() -> rx.Component:
    return layout(
        "/status",
        page_header(
            "Status",
            "Readiness of the backend and the services it depends on.",
            rx.button(
                rx.icon("refresh-cw", size=16),
                "Check again",
                variant="soft",
                on_click=StatusState.check,
                loading=StatusState.checking,
            ),
        ),
        rx.card(
            rx.hstack(
                rx.badge(
                    rx.cond(StatusState.overall != "", StatusState.overall, "checking"),
                    color_scheme=StatusState.overall_tone,
                    size="3",
                    radius="full",
                ),
                rx.text(StatusState.overall_summary, size="2"),
                rx.spacer(),
                rx.cond(
                    StatusState.checked_at != "",
                    rx.text("checked at " + StatusState.checked_at, size="1", color_scheme="gray"),
                ),
                align="center",
                wrap="wrap",
                width="100%",
            ),
            width="100%",
            id="ready-summary",
        ),
        error_callout(StatusState.status_error),
        rx.grid(
            rx.foreach(StatusState.checks, check_card),
            columns=rx.breakpoints(initial="1", sm="3"),
            gap="12px",
            width="100%",
        ),
    )


# --- sign-in -----------------------------------------------------------------------------------


def sign_in_field(label: str, name: str, **props: object) -> tuple[rx.Component, rx.Component]:
    """A labelled field the browser posts as `name` (and may fill from its password manager)."""
    props.setdefault("auto_complete", name)
    return (
        rx.el.label(label, html_for=name, font_size="14px"),
        rx.input(name=name, id=name, required=True, width="100%", **props),
    )


def sign_in_page() -> rx.Component:
    """A plain HTML form posted to /auth/sign-in: the answer sets the HttpOnly session cookie."""
    return rx.center(
        rx.card(
            native_form(
                rx.vstack(
                    rx.hstack(
                        rx.icon("layers", size=22, color=rx.color("accent", 9)),
                        rx.heading("Sign in to ragstack", size="5", as_="h1"),
                        align="center",
                        spacing="2",
                    ),
                    error_callout(SignInState.message, icon="info", color=SignInState.tone),
                    *sign_in_field("User name", "username", max_length=64, auto_focus=True),
                    *sign_in_field(
                        "Password",
                        "password",
                        type="password",
                        auto_complete="current-password",
                        max_length=1024,
                    ),
                    rx.button("Sign in", type="submit", width="100%", margin_top="8px"),
                    spacing="2",
                    width="100%",
                ),
                action="/auth/sign-in",
            ),
            width="min(92vw, 380px)",
            padding="24px",
        ),
        min_height="100dvh",
        background=rx.color("gray", 2),
    )
