"""A web server in a process of its own for benchmarks that measure over HTTP: the product's
`webinars serve`, or the bare baseline, exactly as a command line starts them."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from pathlib import Path

from bench.common import free_port


class Server:
    """A uvicorn process on a free port, up once it answers `probe`."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, probe: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {**env, "PORT": str(self.port), "HOST": "127.0.0.1"}
        with log.open("wb") as handle:
            self.process = subprocess.Popen([*command, "--port", str(self.port)], env=env,
                                            stdout=handle, stderr=subprocess.STDOUT,
                                            cwd=Path(__file__).resolve().parents[1])
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + probe, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"{command[0]} did not start:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
