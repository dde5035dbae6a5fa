"""A Python client of ``jepaworld serve``: methods named after the endpoints, numpy in and out.

    from jepaworld.client import Client
    client = Client("http://127.0.0.1:8765", token=None)
    client.models()                                   # [{name, env_id, latent_dim, action bounds, ...}]
    z = client.encode("two-room", frames)             # [T, 64, 64, 3] uint8 -> [T, D]
    plan = client.plan("two-room", frame, goal)       # {"actions": [H, A], "energy", "plan_ms", ...}
    z_future = client.rollout("two-room", frame, plan["actions"])
    s = client.surprise("two-room", frames, actions)  # [T]

Frames travel raw (uint8 bytes with their shape), so nothing is lost or re-compressed.
"""

from __future__ import annotations

import base64
from typing import Any

import httpx
import numpy as np


class ClientError(RuntimeError):
    """The server answered 4xx/5xx: ``status`` and the server's ``detail`` (what was expected)."""

    def __init__(self, status: int, detail: Any) -> None:
        super().__init__(f"{status}: {detail}")
        self.status, self.detail = status, detail


def raw(frames) -> dict[str, Any]:
    """uint8 frames ``[H, W, 3]`` or ``[T, H, W, 3]`` -> the wire's raw frame format."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8:
        raise ValueError(f"frames: expected uint8 RGB arrays, got dtype {frames.dtype}")
    frames = np.ascontiguousarray(frames[None] if frames.ndim == 3 else frames)
    return {
        "format": "raw",
        "shape": list(frames.shape),
        "dtype": "uint8",
        "data": base64.b64encode(frames.tobytes()).decode(),
    }


def frames_from(wire: dict[str, Any] | None) -> np.ndarray | None:
    """The wire's frames (raw or PNG) -> ``[T, H, W, 3]`` uint8."""
    if wire is None:
        return None
    if wire["format"] == "raw":
        return np.frombuffer(base64.b64decode(wire["data"]), dtype=np.uint8).reshape(wire["shape"])
    import io

    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(base64.b64decode(d))).convert("RGB")) for d in wire["data"]])


def _actions(actions) -> list[list[float]] | None:
    return None if actions is None else np.asarray(actions, dtype=np.float64).tolist()


class Client:
    """``Client(url, token=None, timeout=60)``; also a context manager that closes its connections."""

    def __init__(self, url: str, token: str | None = None, timeout: float = 60.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/")
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, path, json=body)
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail")
            except ValueError:
                detail = response.text
            raise ClientError(response.status_code, detail)
        return response.json()

    def healthz(self) -> dict[str, Any]:
        return self._call("GET", "/healthz")

    def models(self) -> list[dict[str, Any]]:
        return self._call("GET", "/v1/models")["models"]

    def encode(self, model: str, frames) -> np.ndarray:
        """Frames ``[T, H, W, 3]`` uint8 -> latents ``[T, D]``."""
        out = self._call("POST", "/v1/encode", {"model": model, "frames": raw(frames)})
        return np.asarray(out["latents"], dtype=np.float32)

    def rollout(self, model: str, frames, actions, past_actions=None, decode: bool = False) -> dict[str, np.ndarray]:
        """Start frames ``[T0, H, W, 3]``, actions ``[H, A]`` -> ``{"latents": [H, D], "frames": [H, ...] | None}``."""
        body = {
            "model": model,
            "frames": raw(frames),
            "actions": _actions(actions),
            "past_actions": _actions(past_actions),
            "decode": decode,
            "frame_format": "raw",
        }
        out = self._call("POST", "/v1/rollout", body)
        return {"latents": np.asarray(out["latents"], dtype=np.float32), "frames": frames_from(out["frames"])}

    def plan(
        self,
        model: str,
        frame,
        goal,
        planner: dict[str, Any] | None = None,
        seed: int = 0,
        init=None,
        decode: bool = False,
        past_actions=None,
        blocks: bool = False,
        metric: str = "latent",
        metric_shrink: float = 0.1,
    ) -> dict[str, Any]:
        """Current frame ``[H, W, 3]`` (or the last T0 frames with ``past_actions [T0 - 1, A]`` between
        them), goal ``[H, W, 3]`` or ``[G, H, W, 3]`` -> actions ``[H, A]`` (``[H, frameskip * A]`` with
        ``blocks``), energy, energy per iteration, plan_ms, imagined latents ``[H, D]`` (and frames with
        ``decode``): as ``LoadedWorldModel.plan``. ``metric="steps"``: the server measures the metric on
        the data the model was trained on (it must be on the server's disk)."""
        body = {
            "model": model,
            "frame": raw(frame),
            "past_actions": _actions(past_actions),
            "goal": raw(goal),
            "planner": planner or {},
            "blocks": blocks,
            "seed": seed,
            "init": _actions(init),
            "metric": metric,
            "metric_shrink": metric_shrink,
            "decode": decode,
            "frame_format": "raw",
        }
        out = self._call("POST", "/v1/plan", body)
        out["actions"] = np.asarray(out["actions"], dtype=np.float32)
        out["latents"] = np.asarray(out["latents"], dtype=np.float32)
        out["frames"] = frames_from(out["frames"])
        return out

    def surprise(self, model: str, frames, actions) -> np.ndarray:
        """Frames ``[T + 1, H, W, 3]``, actions ``[T, A]`` -> surprise ``[T]``."""
        out = self._call("POST", "/v1/surprise", {"model": model, "frames": raw(frames), "actions": _actions(actions)})
        return np.asarray(out["surprise"], dtype=np.float32)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_) -> None:
        self.close()
