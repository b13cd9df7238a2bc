"""The ragstack UI: a Reflex app talking to the ragstack backend's public API."""

import reflex as rx

from .auth_routes import routes as auth_routes
from .pages import chat_page, collections_page, documents_page, sign_in_page, status_page
from .state import AppState, ChatState, DocumentsState, SignInState, StatusState

STYLE = {
    # A blinking caret at the end of an answer that is still streaming in.
    ".answer.streaming > div > :last-child::after": {
        "content": '"▍"',
        "animation": "ragstack-blink 1s steps(2) infinite",
        "color": "var(--accent-9)",
    },
    "@keyframes ragstack-blink": {"to": {"visibility": "hidden"}},
    ".answer p": {"margin": "0 0 0.6em"},
    ".answer p:last-child": {"margin_bottom": "0"},
    ":focus-visible": {"outline": "2px solid var(--accent-8)", "outline_offset": "2px"},
}

# /auth/sign-in and /auth/sign-out are plain HTTP routes (they set and clear the HttpOnly cookie).
app = rx.App(style=STYLE, api_transformer=auth_routes)
app.add_page(sign_in_page, route="/sign-in", title="Sign in · ragstack", on_load=SignInState.load)
app.add_page(
    chat_page,
    route="/",
    title="Chat · ragstack",
    on_load=[AppState.require_session, AppState.load_collections, ChatState.load_history],
)
app.add_page(
    documents_page,
    route="/documents",
    title="Documents · ragstack",
    on_load=[AppState.require_session, AppState.load_collections, DocumentsState.load_documents],
)
app.add_page(
    collections_page,
    route="/collections",
    title="Collections · ragstack",
    on_load=[AppState.require_session, AppState.load_collections],
)
app.add_page(
    status_page,
    route="/status",
    title="Status · ragstack",
    on_load=[AppState.require_session, StatusState.check],
)
