"""The deployment guide and its systemd units say what the code does: the units pass
`systemd-analyze verify`, run commands our CLI accepts and the guide quotes, and the nginx
example sends exactly the headers the server believes from a trusted proxy."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from webinars.cli import cmd_serve, cmd_worker, parser
from webinars.config import AppConfig, check_proxies
from webinars.serving import uvicorn_config

from .conftest import SECRET

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deploy.md"
UNITS = {"webinars-web.service": cmd_serve, "webinars-worker.service": cmd_worker}
#: Where the guide installs the product; the units name it.
PREFIX = "/opt/webinars"


def unit_values(name: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (ROOT / "deploy" / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            assert key not in values, f"{name}: {key} twice"
            values[key] = value
    return values


def fenced(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", GUIDE.read_text(), re.DOTALL)


@pytest.mark.parametrize("name", UNITS)
def test_units_pass_systemd_analyze_verify(name: str, tmp_path: Path) -> None:
    """Verified as installed: the unit's paths moved under a temporary prefix where the
    product's command exists (verify refuses an ExecStart that is not executable)."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.fail("systemd-analyze is missing: `bash scripts/test` installs Debian's "
                    "systemd package")
    command = Path(sys.prefix) / "bin" / "webinars"
    assert command.exists(), "install the product first (pip install -e .)"
    prefix = tmp_path / "opt-webinars"
    (prefix / "venv" / "bin").mkdir(parents=True)
    (prefix / "venv" / "bin" / "webinars").symlink_to(command)
    unit = tmp_path / name
    unit.write_text((ROOT / "deploy" / name).read_text().replace(PREFIX, str(prefix)))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True,
                            timeout=60, check=False)
    # verify only warns (status 0) about unknown keys and bad values: those count too
    assert (result.returncode, result.stderr, result.stdout) == (0, "", ""), result.stderr
    # … and it does see them
    broken = tmp_path / f"broken-{name}"
    broken.write_text(unit.read_text().replace("KillMode=mixed", "KillMode=gently"))
    result = subprocess.run([analyze, "verify", str(broken)], capture_output=True, text=True,
                            timeout=60, check=False)
    assert "kill mode" in result.stderr


@pytest.mark.parametrize(("name", "handler"), UNITS.items())
def test_units_run_the_commands_the_guide_shows(name: str, handler: object) -> None:
    values = unit_values(name)
    exec_start = values["ExecStart"]
    assert f"ExecStart={exec_start}" in GUIDE.read_text()
    argv = shlex.split(exec_start)
    assert argv[0] == f"{PREFIX}/venv/bin/webinars"
    assert parser().parse_args(argv[1:]).handler is handler  # flags our CLI knows
    assert values["WorkingDirectory"] == PREFIX
    assert f"{PREFIX}/.env" in GUIDE.read_text()  # where the guide puts the settings
    assert values["KillSignal"] == "SIGTERM"  # what both commands stop cleanly on


def test_the_web_unit_listens_where_nginx_sends_requests() -> None:
    args = parser().parse_args(shlex.split(unit_values("webinars-web.service")["ExecStart"])[1:])
    [nginx] = fenced("nginx")
    assert f"server {args.host}:{args.port};" in nginx
    assert args.workers > 1


def test_the_readme_links_the_guide() -> None:
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()


async def seen(request: Request) -> Response:
    return JSONResponse({"client": request.client.host if request.client else None,
                         "scheme": request.url.scheme})


async def through_proxy(config: AppConfig, peer: str, headers: dict[str, str]
                        ) -> dict[str, str]:
    """What the app takes for the client under `serve`'s own uvicorn settings."""
    server = uvicorn_config(Starlette(routes=[Route("/", seen)]), config)
    server.load()
    transport = httpx.ASGITransport(app=server.loaded_app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        answer: dict[str, str] = (await client.get("/", headers=headers)).json()
        return answer


async def test_the_nginx_example_sends_what_a_trusted_proxy_is_believed_for() -> None:
    [nginx] = fenced("nginx")
    sent = dict(re.findall(r"proxy_set_header\s+(\S+)\s+(.+?);", nginx))
    assert sent == {"Connection": '""', "Host": "$host",
                    "X-Forwarded-For": "$proxy_add_x_forwarded_for",
                    "X-Forwarded-Proto": "$scheme"}
    # the guide's .env: nginx on the same machine
    [trusted] = re.findall(r"^FORWARDED_ALLOW_IPS=(.+)$", GUIDE.read_text(), re.MULTILINE)
    config = AppConfig(database_url="sqlite+aiosqlite:///unused.db", secret_key=SECRET,
                       forwarded_allow_ips=check_proxies("FORWARDED_ALLOW_IPS",
                                                         trusted.split(",")))
    # what nginx sends for a client at 198.51.100.7 over HTTPS …
    assert await through_proxy(config, "127.0.0.1", {
        "X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}) == {
        "client": "198.51.100.7", "scheme": "https"}
    # … also when that client sent a header of its own, which nginx keeps in front
    assert (await through_proxy(config, "127.0.0.1", {
        "X-Forwarded-For": "203.0.113.9, 198.51.100.7", "X-Forwarded-Proto": "https"}))[
        "client"] == "198.51.100.7"
    # straight to the server, around nginx, the headers count for nothing
    assert await through_proxy(config, "198.51.100.7", {
        "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}) == {
        "client": "198.51.100.7", "scheme": "http"}
