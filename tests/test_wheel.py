"""The product as `pip install .` installs it: a wheel in a fresh virtual environment, outside the
checkout, serving pages and sending mail from the templates and migrations it carries."""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
import time
import zipfile
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from .factories import csrf_from
from .served import clean_env, free_port, serving

ROOT = Path(__file__).resolve().parents[1]
#: Left behind when the source is copied for the build: environments, data, caches, tests.
NOT_SOURCE = {".git", ".venv", ".env", "data", "build", "dist", "tests", "bench", ".mypy_cache",
              ".ruff_cache"}


def not_source(directory: str, names: list[str]) -> set[str]:
    skip = {n for n in names if n == "__pycache__" or n.endswith((".pyc", ".egg-info"))}
    return skip | (NOT_SOURCE & set(names)) if Path(directory) == ROOT else skip


def run(*args: str | Path, **kwargs: Any) -> str:
    """Run a command to completion; on failure, show what it printed."""
    done = subprocess.run(args, check=False, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    out: str = done.stdout
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build from a copy, so no build/ left in the checkout can add or hide a file; with this
    environment's setuptools (a test dependency), so the build needs no download."""
    source = tmp_path_factory.mktemp("source") / "webinars"
    shutil.copytree(ROOT, source, ignore=not_source)
    out = tmp_path_factory.mktemp("wheel")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
        "-w", out, source)
    [built] = out.glob("webinars-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment with only the wheel installed; the dependencies are borrowed from
    the test environment through a .pth file rather than downloaded again."""
    venv = tmp_path_factory.mktemp("venv")
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps",
        "--no-index", wheel)
    site = run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    borrowed = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    # Paths a .pth file adds come after the venv's own site-packages, and .pth files inside
    # them are not run, so the checkout's editable-install finder stays out.
    (Path(site) / "borrowed-dependencies.pth").write_text("\n".join(sorted(borrowed)) + "\n")
    return venv


def test_the_wheel_carries_every_file_of_the_source(wheel: Path) -> None:
    """Templates (mapped from the root templates/ into the package), migrations, alembic.ini,
    static files: a file the checkout has and the wheel lacks is a 500 or a failed upgrade."""
    with zipfile.ZipFile(wheel) as built:
        names = set(built.namelist())
    expected = {"settings.py"}
    expected |= {f"webinars/templates/{p.relative_to(ROOT / 'templates')}"
                 for p in (ROOT / "templates").rglob("*") if p.is_file()}
    for package in ("webinars", "integrations", "workers"):
        expected |= {str(p.relative_to(ROOT)) for p in (ROOT / package).rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts}
    assert "webinars/templates/pages/login.html" in expected
    assert "webinars/migrations/versions/0001_initial_schema.py" in expected
    assert sorted(expected - names) == []
    # the catalogs compiled at build time (setup.py), next to their .po files
    assert {"webinars/locale/ru/LC_MESSAGES/messages.mo",
            "webinars/locale/en/LC_MESSAGES/messages.mo"} <= names


def test_the_installed_wheel_serves_pages_and_sends_mail(venv: Path, tmp_path: Path) -> None:
    python, command = venv / "bin" / "python", str(venv / "bin" / "webinars")
    env = clean_env(DATA_DIR=str(tmp_path / "data"))
    code = "import settings, webinars; print(webinars.__file__); print(settings.__file__)"
    for path in run(python, "-c", code, cwd=tmp_path, env=env).split():
        assert Path(path).is_relative_to(venv), f"{path} is not the installed copy"

    # migrations from the wheel, then the demo plan
    run(command, "demo", cwd=tmp_path, env=env)
    port = free_port()
    with serving([command, "run", "--host", "127.0.0.1", "--port", str(port)], port=port,
                 cwd=tmp_path, env=env) as served, served.client() as client:
        calendar = client.get("/calendar")
        assert calendar.status_code == 200
        assert "Общероссийский профсоюз образования" in calendar.text
        login = client.get("/login")
        assert login.status_code == 200 and 'name="password"' in login.text
        assert "Войти" in login.text  # the interface text, from the wheel's compiled catalog

        plan = client.get("/o/union")
        assert plan.status_code == 200
        public_id = re.search(r'href="/w/([^"/.]+)"', plan.text)
        assert public_id, "no event in the demo plan"
        page = client.get(f"/w/{public_id[1]}")
        registered = client.post(f"/w/{public_id[1]}/register", data={
            "name": "Мария Иванова", "email": "maria@school.example", "locale": "ru",
            "timezone": "Asia/Yekaterinburg", "csrf_token": csrf_from(page.text)},
            follow_redirects=True)
        assert registered.status_code == 200
        assert "Мы отправили ссылку на этот адрес." in registered.text

        # the in-process worker renders the invitation from the e-mail templates into the outbox
        # (the demo's own members get theirs too)
        deadline = time.monotonic() + 30
        while not (maria := [s for s in outbox(tmp_path / "data" / "webinars.db")
                             if s[0] == "maria@school.example"]):
            assert time.monotonic() < deadline, f"no invitation in the outbox\n{served.output}"
            time.sleep(0.1)  # poll again; the deadline above bounds the wait
        assert maria == [("maria@school.example", True)]


def outbox(database: Path) -> list[tuple[str, bool]]:
    """(recipient, has a text/calendar part) of every message kept in the embedded outbox."""
    with closing(sqlite3.connect(database)) as db:
        rows = db.execute("SELECT recipient, raw FROM outbox_messages").fetchall()
    return [(recipient, b"text/calendar" in raw) for recipient, raw in rows]
