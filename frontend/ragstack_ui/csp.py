"""Make the compiled site run under `script-src 'self'`: no inline script is left in its pages.

React Router's prerendered pages carry small inline scripts (hydration context, streaming
helpers, the module entry). Each is moved, unchanged, into a file of its own under assets/ and
loaded from there with the same attributes: an external classic script blocks the parser and
runs in document order just as the inline one did, a module stays a module (deferred instead of
async: see below). The precompressed
`.gz` twin of every page changed is written again.

    python -m ragstack_ui.csp .web/build/client      (scripts/build-frontend runs it)
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import sys
from pathlib import Path

INLINE_SCRIPT = re.compile(r"<script(?P<attrs>(?:\s[^>]*)?)>(?P<body>.*?)</script>", re.S)
EXECUTABLE_TYPES = {"", "text/javascript", "application/javascript", "module"}
TYPE_ATTR = re.compile(r"""\stype\s*=\s*["']?([^"'\s>]*)""", re.I)
ASYNC_ATTR = re.compile(r"""\sasync(?:\s*=\s*(?:""|''|"async"|'async'|async))?(?=[\s>/]|$)""", re.I)
ASSETS = "assets"
# Reflex's color-mode preload script, rendered by React into <head>.
REACT_RENDERED = ('localStorage.getItem("theme")',)


def _is_module(attrs: str) -> bool:
    found = TYPE_ATTR.search(attrs)
    return bool(found) and found.group(1).lower() == "module"


def _executable(attrs: str) -> bool:
    if re.search(r"\ssrc\s*=", attrs, re.I):
        return False
    found = TYPE_ATTR.search(attrs)
    return (found.group(1).lower() if found else "") in EXECUTABLE_TYPES


def kept_inline(body: str) -> bool:
    """Scripts React renders itself (as an element's text) must stay where they are: moved,
    the page no longer matches what React renders, hydration fails and the server-rendered
    styles are lost. They run by their hash in the CSP (script_hashes)."""
    return any(marker in body for marker in REACT_RENDERED)


def script_hash(body: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"


def externalize(page: str, assets: Path) -> tuple[str, int]:
    """The page with its inline scripts replaced by files in ``assets`` (written here)."""
    moved = 0

    def move(match: re.Match[str]) -> str:
        nonlocal moved
        attrs, body = match.group("attrs"), match.group("body")
        if not _executable(attrs) or not body.strip() or kept_inline(body):
            return match.group(0)
        if _is_module(attrs):
            # An async module runs as soon as its imports arrive, which (now that the classic
            # scripts before it are fetched, not inline) can be before the page is parsed to
            # its end: React would hydrate half a page. Deferred, it runs after parsing.
            attrs = ASYNC_ATTR.sub("", attrs)
        name = f"inline-{hashlib.sha256(body.encode()).hexdigest()[:20]}.js"
        target = assets / name
        if not target.exists():
            target.write_text(body)
        moved += 1
        return f'<script{attrs} src="/{ASSETS}/{name}"></script>'

    return INLINE_SCRIPT.sub(move, page), moved


def remaining_inline_scripts(page: str) -> list[str]:
    return [
        m.group("body")
        for m in INLINE_SCRIPT.finditer(page)
        if _executable(m.group("attrs")) and m.group("body").strip()
    ]


def script_hashes(client_dir: Path) -> set[str]:
    """The CSP hashes of the scripts left inline in the site's pages."""
    return {
        script_hash(body)
        for html in client_dir.rglob("*.html")
        for body in remaining_inline_scripts(html.read_text())
    }


def externalize_site(client_dir: Path) -> int:
    assets = client_dir / ASSETS
    total = 0
    for html in sorted(client_dir.rglob("*.html")):
        text = html.read_text()
        rewritten, moved = externalize(text, assets)
        if moved:
            html.write_text(rewritten)
            twin = html.with_name(html.name + ".gz")
            if twin.exists():
                twin.write_bytes(gzip.compress(rewritten.encode()))
            total += moved
    return total


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m ragstack_ui.csp BUILD_CLIENT_DIR", file=sys.stderr)
        return 2
    moved = externalize_site(Path(argv[0]))
    print(f"csp: {moved} inline scripts moved to files")
    for digest in sorted(script_hashes(Path(argv[0]))):
        print(f"csp: left inline (allow in script-src): {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
