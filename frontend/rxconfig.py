"""Reflex configuration of the ragstack UI; runtime settings come from RAGSTACK_UI_* variables."""

import os

import reflex as rx
from reflex.plugins.sitemap import SitemapPlugin

# The frontend is compiled for http://localhost:3000; in the browser "localhost" becomes the
# page's host name, and ragstack_ui.serve rewrites the port if it listens on another one.
PORT = 3000

config = rx.Config(
    app_name="ragstack_ui",
    frontend_port=PORT,
    backend_port=PORT,
    api_url=os.environ.get("RAGSTACK_UI_API_URL", f"http://localhost:{PORT}"),
    telemetry_enabled=False,
    # Pages of these origins may open the UI's websocket (read at start, comma-separated):
    # set it to the public origin, e.g. https://rag.example.com, so no other site can drive it.
    cors_allowed_origins=tuple(os.environ.get("RAGSTACK_UI_ALLOWED_ORIGINS", "*").split(",")),
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
