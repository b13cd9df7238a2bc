"""Reflex configuration of the ragstack UI; runtime settings come from RAGSTACK_UI_* variables."""

import os

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

# The frontend is compiled for http://localhost:3000; in the browser "localhost" becomes the
# page's host name, and ragstack_ui.serve rewrites the port if it listens on another one.
PORT = 3000
DEV_ORIGINS = (f"http://localhost:{PORT}", f"http://127.0.0.1:{PORT}")


def allowed_origins(setting: str) -> tuple[str, ...]:
    """Never empty and never "*": socket.io checks no origin at all for either."""
    origins = tuple(o.strip().rstrip("/") for o in setting.split(",") if o.strip() not in ("", "*"))
    return origins or DEV_ORIGINS


config = rx.Config(
    app_name="ragstack_ui",
    frontend_port=PORT,
    backend_port=PORT,
    api_url=os.environ.get("RAGSTACK_UI_API_URL", f"http://localhost:{PORT}"),
    telemetry_enabled=False,
    # Only pages of these origins may open the UI's websocket and post its sign-in form (read at
    # start, comma-separated): the site's public origins, e.g. https://rag.example.com. Never
    # "*": another site's page could then drive the UI in a visitor's browser.
    cors_allowed_origins=allowed_origins(os.environ.get("RAGSTACK_UI_ALLOWED_ORIGINS", "")),
    # One worker per host; states live in memory, so the app directory can stay read-only.
    state_manager_mode=rx.constants.StateManagerMode.MEMORY,
    show_built_with_reflex=False,
    disable_plugins=[SitemapPlugin],
    plugins=[
        rx.plugins.RadixThemesPlugin(
            theme=rx.theme(
                appearance="light", accent_color="indigo", gray_color="slate", radius="large"
            )
        ),
    ],
)
