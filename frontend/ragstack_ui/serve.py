"""Production server: the prebuilt UI and its Reflex backend on one port, without node or npm.

`reflex run --env prod` would compile and build the frontend on the host (node needed there);
the artifact already holds the build (.web/build/client and .web/backend), so this starts the
Reflex backend with compiling skipped and the compiled frontend mounted, exactly as
`reflex run --env prod` does after its build step. It serves `/_health` and `/ping` too.

    python -m ragstack_ui.serve --host 127.0.0.1 --port 3000

Run it from the app directory (the one holding rxconfig.py and .web/).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path


def prepare_web_dir(app_dir: Path, state_dir: Path) -> Path:
    """A writable web dir for Reflex: its small backend markers copied, the build linked.

    The Reflex backend touches files under `.web/backend` at every start, so the app directory
    itself can stay read-only (systemd ProtectSystem=strict) while only the state dir is written.
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
    (web / "build").symlink_to((source / "build").resolve(), target_is_directory=True)
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
    args = parser.parse_args(argv)

    if not Path("rxconfig.py").is_file() or not Path(".web/build/client").is_dir():
        parser.error("run from the built app directory (rxconfig.py and .web/build/client)")

    os.environ["REFLEX_ENV_MODE"] = "prod"
    os.environ["REFLEX_TELEMETRY_ENABLED"] = "false"
    os.environ["RAGSTACK_UI_PORT"] = str(args.port)
    state_dir = args.state_dir.resolve()
    web_dir = prepare_web_dir(Path.cwd(), state_dir)

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
    ).serve()


if __name__ == "__main__":
    main()
