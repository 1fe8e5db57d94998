"""Run the `webinars` command as a real process on a free port, as a user would start it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

#: Every name settings.py reads: a developer's own environment must not leak into the process.
SETTINGS = ("DATA_DIR", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "MAIL_FROM", "MAIL_FROM_NAME",
            "HOST", "PORT", "BASE_URL", "SECRET_KEY", "DEFAULT_TIMEZONE", "DEFAULT_LOCALE",
            "JITSI_BASE_URL", "FORWARDED_ALLOW_IPS", "DELIVERY_LEASE", "WORKER_HEARTBEAT",
            "WORKER_GONE_AFTER", "RECONCILE_GRACE", "WEBHOOK_ALLOW_LOOPBACK",
            "PASSWORD_HASH_TIME_COST", "PASSWORD_HASH_MEMORY_KIB", "CREDENTIALS_KEY",
            "PLATFORM_ENDPOINTS", "DATABASE_POOL_SIZE", "DATABASE_MAX_OVERFLOW",
            "DATABASE_POOL_RECYCLE", "DATABASE_POOL_TIMEOUT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**settings: str) -> dict[str, str]:
    """The current environment without our settings or PYTHONPATH, plus `settings`."""
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and k != "PYTHONPATH"}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(settings)
    return env


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, trust_env=False, timeout=30)

    @property
    def output(self) -> str:
        """What the process printed so far (stdout and stderr)."""
        return self.log.read_text()


@contextmanager
def serving(command: Sequence[str], *, port: int, cwd: Path, env: Mapping[str, str],
            timeout: float = 60) -> Iterator[Served]:
    """Start `command`, wait until 127.0.0.1:`port` answers, and stop it with SIGTERM after."""
    log = cwd / f"served-{port}.log"  # a file, not a pipe nobody reads while it runs
    with log.open("wb") as out:
        process = subprocess.Popen(list(command), cwd=cwd, env=dict(env), stdout=out,
                                   stderr=subprocess.STDOUT)
    served = Served(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{command} exited with {process.returncode}:\n"
                                     f"{served.output}")
            try:
                with served.client() as client:
                    if client.get("/healthz", timeout=1).status_code == 200:
                        break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{command} did not answer on port {port}")
            time.sleep(0.1)  # poll again; the deadline above bounds the wait
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise
    # uvicorn shuts down gracefully, then re-raises the signal it caught
    assert process.returncode in (0, -signal.SIGTERM), served.output
    assert "Traceback" not in served.output, served.output
