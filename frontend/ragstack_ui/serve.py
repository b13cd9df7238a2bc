"""Production server: the prebuilt UI and its Reflex backend on one port, without node or npm.

`reflex run --env prod` would compile and build the frontend on the host (node needed there);
the artifact already holds the build (.web/build/client and .web/backend), so this starts the
Reflex backend with compiling skipped and the compiled frontend mounted, exactly as
`reflex run --env prod` does after its build step. It serves `/_health` and `/ping` too.

    python -m ragstack_ui.serve --host 127.0.0.1 --port 3000 [--ssl-certfile C --ssl-keyfile K]

Run it from the app directory (the one holding rxconfig.py and .web/).
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
from pathlib import Path

# The port the frontend was compiled for (rxconfig.py default).
BUILD_PORT = 3000


def prepare_web_dir(app_dir: Path, state_dir: Path, port: int) -> Path:
    """A writable copy of the built web dir, pointed at the port the server really listens on.

    The Reflex backend touches files under `.web/backend` at every start, so it works on a copy
    and the app directory itself can stay read-only (systemd ProtectSystem=strict). The build
    bakes the backend address `http://localhost:3000` into one small chunk (`reflex-env-*.js`);
    the browser swaps "localhost" for the page's host name, and here the port is set to ours.
    """
    source = app_dir / ".web"
    web = state_dir / "web"
    if web.exists():
        shutil.rmtree(web)
    web.mkdir(parents=True)
    shutil.copytree(source / "backend", web / "backend")
    for name in ("reflex.json", "routes.json", "env.json"):
        if (source / name).is_file():
            shutil.copy2(source / name, web / name)
    shutil.copytree(source / "build", web / "build")
    for chunk in (web / "build" / "client" / "assets").glob("reflex-env-*.js"):
        text = chunk.read_text()
        rewritten = text.replace(f"//localhost:{BUILD_PORT}/", f"//localhost:{port}/")
        if rewritten != text:
            chunk.write_text(rewritten)
            # The precompressed twin would be served instead; rebuild it from the new text.
            compressed = chunk.with_name(chunk.name + ".gz")
            if compressed.exists():
                compressed.write_bytes(gzip.compress(rewritten.encode()))
    return web


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default=os.environ.get("RAGSTACK_UI_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("RAGSTACK_UI_PORT", "3000")))
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(os.environ.get("RAGSTACK_UI_STATE_DIR", "/tmp/ragstack-ui")),
        help="writable directory (Reflex's markers, files being uploaded through the UI)",
    )
    parser.add_argument("--log-level", default=os.environ.get("RAGSTACK_UI_LOG_LEVEL", "info"))
    parser.add_argument("--ssl-certfile", type=Path, help="serve HTTPS with this certificate")
    parser.add_argument("--ssl-keyfile", type=Path, help="and this key")
    args = parser.parse_args(argv)
    if (args.ssl_certfile is None) != (args.ssl_keyfile is None):
        parser.error("--ssl-certfile and --ssl-keyfile go together")

    if not Path("rxconfig.py").is_file() or not Path(".web/build/client").is_dir():
        parser.error("run from the built app directory (rxconfig.py and .web/build/client)")

    os.environ["REFLEX_ENV_MODE"] = "prod"
    os.environ["REFLEX_TELEMETRY_ENABLED"] = "false"
    state_dir = args.state_dir.resolve()
    web_dir = prepare_web_dir(Path.cwd(), state_dir, args.port)

    from reflex_base.environment import environment

    environment.REFLEX_SKIP_COMPILE.set(True)
    environment.REFLEX_MOUNT_FRONTEND_COMPILED_APP.set(True)
    environment.REFLEX_WEB_WORKDIR.set(web_dir)
    environment.REFLEX_UPLOADED_FILES_DIR.set(state_dir / "uploaded_files")

    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    # One worker: the UI keeps its per-browser state in memory (no Redis needed).
    Server(
        target="ragstack_ui.ragstack_ui:app",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        log_level=LogLevels(args.log_level),
        ssl_cert=args.ssl_certfile,
        ssl_key=args.ssl_keyfile,
    ).serve()


if __name__ == "__main__":
    main()
