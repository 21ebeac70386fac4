"""`autoreward studio [RUNS_DIR]`: start the app with uvicorn on a loopback port and print the
URL that carries the token."""

from __future__ import annotations

import ipaddress
import socket
import threading
import webbrowser
from collections.abc import Callable
from pathlib import Path

from autoreward.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
STUDIO_HINT = "pip install 'autoreward[studio]' (scripts/install.sh installs it)"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host.strip("[]"), 0))
        return int(s.getsockname()[1])


def serve(
    root: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    open_browser: bool = False,
    model: str | None = None,
    api_base: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the studio until interrupted; `port` 0 picks a free one. A `host` beyond
    loopback is served only because the person typed it (--host), with a warning."""
    try:
        import uvicorn

        from autoreward.studio.app import create_app  # Starlette: the optional extra
    except ImportError as err:
        raise ConfigError(
            f"autoreward studio needs the '{err.name}' package, which is not installed",
            hint=STUDIO_HINT,
        ) from err
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(
            f"{root} is not a directory",
            hint="pass the folder holding your runs (default: runs/), e.g. autoreward studio runs",
        )
    remote = not is_loopback(host)
    if remote:
        say(
            f"warning: serving on {host}, beyond this machine: anyone who gets the URL (token "
            "included) can start training runs here"
        )
    app = create_app(
        root, model=model, api_base=api_base, allowed_hosts=["*"] if remote else None, warm=True
    )
    port = port or free_port(host)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    url = f"http://{shown}:{port}/?token={app.state.token}"
    say(f"autoreward studio: {url}")
    say(f"serving the runs under {root.resolve()}; Ctrl+C stops it")
    if open_browser:
        threading.Timer(1.0, lambda: webbrowser.open(url)).start()
    # open progress streams never end by themselves: give them 2 s on Ctrl+C
    uvicorn.run(
        app, host=host.strip("[]"), port=port, log_level="warning", timeout_graceful_shutdown=2
    )
