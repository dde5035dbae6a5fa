"""``jepaworld serve``: load the checkpoints, check who may call, and run uvicorn on one bound socket."""

from __future__ import annotations

import os
import socket
from concurrent.futures import ThreadPoolExecutor

import uvicorn

from jepaworld.api import load
from jepaworld.serve.app import create_app
from jepaworld.serve.config import LOOPBACK_HOSTS, TOKEN_VARIABLE, ServeConfig, parse_checkpoints


def resolve_token(config: ServeConfig) -> str:
    """The token (``--token``, else ``$JEPAWORLD_TOKEN``); refuse a non-loopback address without one."""
    token = config.token or os.environ.get(TOKEN_VARIABLE, "")
    if not token and config.host not in LOOPBACK_HOSTS and not config.allow_no_token:
        raise ValueError(
            f"refusing to serve on {config.host} without a token: anyone who can reach it could use it. "
            f"Give --token TOKEN (or set {TOKEN_VARIABLE}), or say --allow-no-token"
        )
    return token


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: a free port, chosen by the OS)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP: asyncio sets TCP_NODELAY only on sockets that say so; without it every reply on a
    # kept-alive connection waits ~40 ms for the client's delayed ACK (Nagle), measured here.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise ValueError(f"cannot listen on {host}:{port}: {error.strerror}") from error
    sock.listen(128)
    return sock


def serve(config: ServeConfig) -> None:
    """Serve until interrupted; prints ``jepaworld: serving ... on URL`` once it accepts connections."""
    token = resolve_token(config)
    named = parse_checkpoints(config.checkpoints)
    sock = bind(config.host, config.port)  # a taken port fails before seconds of loading, not after
    torch_thread = ThreadPoolExecutor(1, thread_name_prefix="torch")  # loads the models and runs every call
    try:
        models = {name: torch_thread.submit(load, path, config.device).result() for name, path in named.items()}
    except BaseException:
        sock.close()
        raise
    app = create_app(models, config, token, torch_thread)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    server = uvicorn.Server(uvicorn.Config(app, log_level=config.log_level, timeout_graceful_shutdown=5))
    print(
        f"jepaworld: serving {', '.join(models)} on http://{shown}:{port} "
        f"(viewer at /, API docs at /docs{', bearer token required' if token else ''})",
        flush=True,
    )
    server.run(sockets=[sock])
