"""`webinars serve --workers 2`: two processes answer on one port, each with its own runtime,
and SIGTERM stops them all after their shutdown ran."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from .conftest import SECRET
from .served import clean_env, free_port, serving


def listening_inode(port: int) -> str:
    """The inode of the socket listening on 127.0.0.1:`port` (state 0A in /proc/net/tcp)."""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], fields[9]
        if state == "0A" and int(local.split(":")[1], 16) == port:
            return inode
    raise AssertionError(f"nothing listens on port {port}")


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def holds_socket(pid: int, inode: str) -> bool:
    fds = Path(f"/proc/{pid}/fd")
    return any(os.readlink(fd) == f"socket:[{inode}]" for fd in fds.iterdir())


def wait_for(what: str, condition: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)  # polling a process's log; the deadline bounds the wait


def answered_alone(url: str, count: int = 3) -> list[int]:
    """Status codes of `count` requests, each on a new connection (so each is accepted anew)."""
    codes = []
    for _ in range(count):
        with httpx.Client(base_url=url, trust_env=False, timeout=5) as client:
            codes.append(client.get("/calendar").status_code)
    return codes


def test_serve_with_two_workers_answers_from_both_and_stops_on_sigterm(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET,
                    DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
                    REDIS_URL=f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '9')}")
    subprocess.run([sys.executable, "-m", "webinars.cli", "db", "upgrade"], cwd=tmp_path,
                   env=env, check=True, capture_output=True)
    port = free_port()
    command = [sys.executable, "-m", "webinars.cli", "serve", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "2"]
    with serving(command, port=port, cwd=tmp_path, env=env) as served:
        wait_for("both processes to start their app",
                 lambda: served.output.count("Application startup complete.") == 2)
        inode = listening_inode(port)
        # uvicorn's supervisor binds the socket and hands it to its children (multiprocessing
        # also starts a resource tracker, which holds no socket)
        workers = [pid for pid in children(served.process.pid) if holds_socket(pid, inode)]
        assert len(workers) == 2, served.output
        for pid in workers:
            assert f"Started server process [{pid}]" in served.output
        # each process answers on the port by itself: with the other one stopped, every new
        # connection can only be accepted by it
        for serving_pid, stopped in (workers, workers[::-1]):
            os.kill(stopped, signal.SIGSTOP)
            try:
                assert answered_alone(served.url) == [200, 200, 200], serving_pid
            finally:
                os.kill(stopped, signal.SIGCONT)
    assert served.process.returncode == 0, served.output
    for pid in workers:
        # each closed its runtime (the lifespan's shutdown) before the supervisor returned
        assert f"Finished server process [{pid}]" in served.output
        assert not Path(f"/proc/{pid}").exists()
    assert served.output.count("Application shutdown complete.") == 2
    assert f"Webinars is serving at http://127.0.0.1:{port}/ in 2 processes" in served.output
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))


def test_serve_workers_stop_when_their_app_cannot_start(tmp_path: Path) -> None:
    """A lifespan that fails in the processes (here: no Redis where REDIS_URL points) ends the
    supervisor with the start-up failure status instead of restarting them forever."""
    closed = free_port()  # nothing listens there
    env = clean_env(DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET,
                    DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
                    REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    result = subprocess.run([sys.executable, "-m", "webinars.cli", "serve", "--port",
                             str(free_port()), "--workers", "2"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 3, result.stderr
    assert re.search(r"Child process \[\d+\] failed to start", result.stderr), result.stderr


def test_workers_must_be_a_positive_number(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "webinars.cli", "serve", "--workers", "0"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 2
    assert "'0' is not a number of processes from 1 to 256" in result.stderr
