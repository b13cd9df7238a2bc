"""Layout pieces shared by every page: navigation, collection picker, error callouts."""

from __future__ import annotations

import reflex as rx
from reflex.constants import EventTriggers

from .state import AppState

NAV = (
    ("Chat", "/", "message-square-text"),
    ("Documents", "/documents", "files"),
    ("Collections", "/collections", "library"),
    ("Status", "/status", "activity"),
)

# Radix breakpoints: [initial, xs >= 520px, sm >= 768px, md >= 1024px]. The sidebar needs sm.
DESKTOP_ONLY = ["none", "none", "flex"]
MOBILE_ONLY = ["flex", "flex", "none"]


def brand() -> rx.Component:
    return rx.hstack(
        rx.center(
            rx.icon("layers", size=18, color="white"),
            background=rx.color("accent", 9),
            border_radius="8px",
            width="30px",
            height="30px",
        ),
        rx.text("ragstack", weight="bold", size="4"),
        align="center",
        spacing="2",
    )


def nav_link(label: str, href: str, icon: str, active: bool) -> rx.Component:
    return rx.link(
        rx.hstack(
            rx.icon(icon, size=16),
            rx.text(label, size="2", weight="medium"),
            align="center",
            spacing="2",
            padding="8px 12px",
            border_radius="8px",
            background=rx.color("accent", 4) if active else "transparent",
            color=rx.color("accent", 11) if active else rx.color("gray", 11),
            _hover={"background": rx.color("accent", 3)},
        ),
        href=href,
        underline="none",
        aria_current="page" if active else None,
    )


def tab_link(label: str, href: str, icon: str, active: bool) -> rx.Component:
    """Phone navigation: four equal tabs, icon over label."""
    return rx.link(
        rx.vstack(
            rx.icon(icon, size=18),
            rx.text(label, size="1", weight="medium"),
            align="center",
            spacing="1",
            padding="6px 2px",
            border_radius="8px",
            background=rx.color("accent", 4) if active else "transparent",
            color=rx.color("accent", 11) if active else rx.color("gray", 11),
        ),
        href=href,
        underline="none",
        flex="1",
        aria_current="page" if active else None,
    )


def collection_picker(width: str = "100%") -> rx.Component:
    return rx.cond(
        AppState.collection_names.length() > 0,
        rx.select.root(
            rx.select.trigger(aria_label="Collection", width=width),
            rx.select.content(
                rx.foreach(AppState.collection_names, lambda n: rx.select.item(n, value=n))
            ),
            value=AppState.collection,
            on_change=AppState.select_collection,
            size="2",
        ),
        rx.link("Create a collection", href="/collections", size="2"),
    )


def native_form(*children: rx.Component, action: str) -> rx.Component:
    """A form the browser posts itself (Reflex's forms only send their fields over the
    websocket): the answer is a page that may set or clear the HttpOnly session cookie."""
    form = rx.el.form(*children, action=action, method="post")
    form.event_triggers.pop(EventTriggers.ON_SUBMIT, None)
    return form


def sign_out_form(compact: bool = False) -> rx.Component:
    """A real form post: the cookie is HttpOnly, only the server can end the session."""
    return native_form(
        rx.button(
            rx.icon("log-out", size=14),
            rx.cond(compact, "", "Sign out"),
            type="submit",
            variant="ghost",
            size="1",
            color_scheme="gray",
            aria_label="Sign out",
            id="sign-out",
        ),
        action="/auth/sign-out",
    )


def user_line() -> rx.Component:
    return rx.hstack(
        rx.icon("circle-user", size=16, color=rx.color("gray", 10)),
        rx.text(AppState.user_name, size="1", weight="medium", id="signed-in-user"),
        rx.badge(AppState.user_role, size="1", variant="soft", color_scheme="gray"),
        rx.spacer(),
        sign_out_form(),
        align="center",
        width="100%",
    )


def sidebar(active: str) -> rx.Component:
    return rx.vstack(
        brand(),
        rx.vstack(
            rx.text("Collection", size="1", color_scheme="gray", weight="medium"),
            collection_picker(),
            spacing="1",
            width="100%",
            padding_top="16px",
        ),
        rx.vstack(
            *[nav_link(label, href, icon, href == active) for label, href, icon in NAV],
            spacing="1",
            width="100%",
            padding_top="12px",
        ),
        rx.spacer(),
        user_line(),
        rx.link(
            rx.hstack(
                rx.box(
                    width="8px",
                    height="8px",
                    border_radius="50%",
                    background=rx.color(AppState.backend_tone, 9),
                ),
                rx.text(AppState.backend_label, size="1"),
                align="center",
                spacing="2",
            ),
            href="/status",
            color_scheme="gray",
            underline="hover",
            id="backend-indicator",
        ),
        display=DESKTOP_ONLY,
        width="240px",
        min_width="240px",
        height="100dvh",
        position="sticky",
        top="0",
        padding="20px 16px",
        border_right=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
    )


def topbar(active: str) -> rx.Component:
    return rx.vstack(
        rx.hstack(
            brand(),
            rx.spacer(),
            rx.box(collection_picker(width="160px")),
            sign_out_form(compact=True),
            align="center",
            width="100%",
        ),
        rx.hstack(
            *[tab_link(label, href, icon, href == active) for label, href, icon in NAV],
            spacing="1",
            width="100%",
        ),
        display=MOBILE_ONLY,
        width="100%",
        padding="10px 12px 6px",
        border_bottom=f"1px solid {rx.color('gray', 5)}",
        background=rx.color("gray", 2),
        spacing="2",
    )


def page_header(title: str, subtitle: rx.Component | str, *actions: rx.Component) -> rx.Component:
    return rx.hstack(
        rx.vstack(
            rx.heading(title, size="6", as_="h1"),
            rx.text(subtitle, size="2", color_scheme="gray")
            if isinstance(subtitle, str)
            else subtitle,
            spacing="1",
        ),
        rx.spacer(),
        *actions,
        align="center",
        width="100%",
        wrap="wrap",
        spacing="3",
    )


def error_callout(
    message: rx.Var, icon: str = "triangle-alert", color: str | rx.Var = "red"
) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon=icon, color_scheme=color, role="alert", width="100%"),
    )


def layout(active: str, *children: rx.Component, full_height: bool = False) -> rx.Component:
    return rx.flex(
        sidebar(active),
        rx.flex(
            topbar(active),
            rx.flex(
                *children,
                direction="column",
                gap="16px",
                width="100%",
                max_width="960px",
                margin_x="auto",
                padding=["12px", "16px", "24px 32px"],
                flex="1",
                min_height="0",
                height="100%" if full_height else "auto",
            ),
            direction="column",
            flex="1",
            min_width="0",
            height="100dvh" if full_height else "auto",
            min_height="100dvh",
        ),
        width="100%",
        background=rx.color("gray", 1),
    )
