"""``jepaworld serve`` settings."""

from __future__ import annotations

from dataclasses import dataclass

from jepaworld.config import check, option

#: Where no token is needed: the service is reachable from this machine only.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
TOKEN_VARIABLE = "JEPAWORLD_TOKEN"


@dataclass(frozen=True)
class ServeConfig:
    """The HTTP service and web viewer: where it listens, who may call it, and what one request may ask."""

    checkpoints: tuple[str, ...] = option((), "PATH or NAME=PATH of each checkpoint to serve")
    host: str = option("127.0.0.1", "address to listen on (anything but loopback needs a token)")
    port: int = option(8765, "TCP port (0: any free port)")
    token: str = option("", f"bearer token every /v1 call must carry (default: ${TOKEN_VARIABLE}; empty: none)")
    allow_no_token: bool = option(False, "serve on a non-loopback address without a token anyway")
    max_body_mb: float = option(16.0, "largest request body accepted, MiB (larger: 413)")
    max_plan_rollouts: int = option(
        200_000, "cap on samples x iterations x horizon of one plan (about 3 s on a 2-core CPU)"
    )
    max_episodes: int = option(32, "viewer episodes kept live; the least recently used is dropped")
    device: str = option("cpu", "torch device for the models")
    log_level: str = option("warning", "uvicorn log level: critical, error, warning, info, debug")

    def __post_init__(self) -> None:
        check(0 <= self.port <= 65535, f"port must be in [0, 65535], got {self.port}")
        check(self.max_body_mb > 0, f"max_body_mb must be > 0, got {self.max_body_mb}")
        check(self.max_plan_rollouts >= 1, f"max_plan_rollouts must be >= 1, got {self.max_plan_rollouts}")
        check(self.max_episodes >= 1, f"max_episodes must be >= 1, got {self.max_episodes}")
        levels = ("critical", "error", "warning", "info", "debug")
        check(self.log_level in levels, f"log_level must be one of {list(levels)}, got {self.log_level!r}")

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 2**20)


def parse_checkpoints(specs: tuple[str, ...]) -> dict[str, str]:
    """``PATH`` or ``NAME=PATH`` -> {name: path}; a bare path is named after its run directory."""
    from pathlib import Path

    named: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            path = spec
            resolved = Path(spec).resolve()
            if resolved.parent.name == "checkpoints":  # RUN/checkpoints/step_N -> RUN
                resolved = resolved.parent.parent
            name = resolved.parent.name if resolved.name == "run" else resolved.name  # DEMO/run -> DEMO
        if not name or not path:
            raise ValueError(f"checkpoint {spec!r}: expected PATH or NAME=PATH")
        if name in named:
            raise ValueError(f"two checkpoints are named {name!r}; name them apart with NAME=PATH")
        named[name] = path
    if not named:
        raise ValueError("serve: give at least one checkpoint (PATH or NAME=PATH)")
    return named
