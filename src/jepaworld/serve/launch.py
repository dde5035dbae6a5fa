"""Start ``jepaworld serve`` as a child process and wait until it answers: for scripts, tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx


def start_server(args: list[str], env: dict[str, str] | None = None, timeout: float = 60.0):
    """``jepaworld serve ARGS --port 0`` (a free port) -> (process, base URL), once ``/healthz`` answers."""
    process = subprocess.Popen(
        [sys.executable, "-m", "jepaworld", "serve", *args, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **(env or {})},
    )
    line = process.stdout.readline()
    if "serving" not in line:
        process.kill()
        raise RuntimeError(f"jepaworld serve did not start: {line}{process.stdout.read()}")
    url = line.split(" on ")[1].split()[0]
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"jepaworld serve at {url} did not answer /healthz within {timeout} s")
        time.sleep(0.1)


def stop_server(process: subprocess.Popen) -> str:
    """Stop it (SIGTERM, then SIGKILL after 15 s) -> what it printed."""
    process.terminate()
    try:
        out, _ = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
    return out
