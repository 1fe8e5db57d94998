"""Make the screenshots in docs/screenshots/: the event page and a member's personal page, on
a desktop (1280 px, the whole page) and a phone (360 px, the first screen, as a person sees it
with the call to action at the bottom), from the demo data, in Russian, in Novosibirsk.

    .venv/bin/python scripts/screenshots.py

Runs the product embedded (SQLite, in-process worker, local outbox) in a temporary folder on a
free port, registers a member through the page, and fails if a page overflows its width.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
EVENT = "Практикум «Фото и видео для профсоюзного сайта»"
SIZES = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 360, "height": 740}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def webinars(data: Path, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)
    return subprocess.Popen([str(Path(sys.executable).parent / "webinars"), *args],
                            env=env, cwd=data, **popen)  # type: ignore[call-overload]


def wait_until_up(url: str) -> None:
    for _ in range(100):
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        assert webinars(data, "demo", stdout=subprocess.DEVNULL).wait() == 0
        port = free_port()
        server = webinars(data, "run", "--port", str(port), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_until_up(url)
            db = sqlite3.connect(data / "webinars.db")
            (public_id,) = db.execute("SELECT public_id FROM webinars WHERE title = ?",
                                      (EVENT,)).fetchone()
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                            args=["--no-sandbox"])
                token = None
                for size, viewport in SIZES.items():
                    context = browser.new_context(viewport=viewport, locale="ru-RU",
                                                  timezone_id="Asia/Novosibirsk")
                    page = context.new_page()
                    page.goto(f"{url}/w/{public_id}")
                    page.reload()  # the page again in the browser's zone
                    shoot(page, f"event-page-{size}.png", whole=size == "desktop")
                    if token is None:
                        page.fill("#name", "Анна Кузнецова")
                        page.fill("#email", "anna@nsk.example")
                        page.locator("form[action$='/register'] button[type=submit]").click()
                        page.wait_for_selector("#sent")
                        (token,) = db.execute("SELECT token FROM registrations WHERE email = ?",
                                              ("anna@nsk.example",)).fetchone()
                    page.goto(f"{url}/r/{token}")
                    shoot(page, f"personal-page-{size}.png", whole=size == "desktop")
                    context.close()
                browser.close()
        finally:
            server.terminate()
            server.wait(10)
    return 0


def shoot(page: Page, name: str, *, whole: bool) -> None:
    wide = page.evaluate("document.documentElement.scrollWidth - "
                         "document.documentElement.clientWidth")
    if wide > 0:
        raise SystemExit(f"{name}: the page is {wide} px wider than the screen")
    page.screenshot(path=str(OUT / name), full_page=whole)
    print(OUT / name)


if __name__ == "__main__":
    raise SystemExit(main())
