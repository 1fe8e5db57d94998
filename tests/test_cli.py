"""The `webinars` command: help texts, migrations, accounts and the demo plan on both databases."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from webinars.cli import main, uvicorn_config
from webinars.config import AppConfig, load
from webinars.db import make_engine, make_sessionmaker
from webinars.models import Account, Adoption, Meeting, Organization, Registration, Webinar

from .conftest import SECRET, empty_tables
from .served import SETTINGS, clean_env, free_port, serving

SUBCOMMANDS = [["run"], ["serve"], ["worker"], ["db", "upgrade"], ["user", "create"],
               ["org", "create"], ["org", "import"], ["demo"]]


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_explains_itself(words: list[str], capsys: pytest.CaptureFixture[str]
                                          ) -> None:
    with pytest.raises(SystemExit) as exited:
        main([*words, "--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert f"webinars {' '.join(words)}" in out
    assert len(out.splitlines()) >= 3


@pytest.fixture
def env_for(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    def use(database_url: str) -> None:
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("DATABASE_URL", database_url)
        monkeypatch.setenv("SECRET_KEY", SECRET)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        sys.modules.pop("settings", None)
    yield use
    sys.modules.pop("settings", None)


async def counts(url: str) -> dict[str, object]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            orgs = list((await session.scalars(select(Organization))).all())
            webinars = list((await session.scalars(select(Webinar))).all())
            return {
                "orgs": len(orgs),
                "levels": {o.level for o in orgs},
                "zones": {w.timezone for w in webinars},
                "kinds": {w.kind for w in webinars},
                "webinars": len(webinars),
                "accounts": await session.scalar(select(func.count()).select_from(Account)),
                "ready": await session.scalar(select(func.count()).select_from(Meeting).where(
                    Meeting.status == "ready")),
                "titles": [w.title for w in webinars],
                "planned": sum(1 for w in webinars if w.status == "planned"),
                "without_meeting": sum(1 for w in webinars
                                       if w.status == "planned" or w.platform == "none"),
                "periods": [(w.kind, w.deadline_at is not None) for w in webinars if w.all_day],
                "copies": sum(1 for w in webinars if w.source_id is not None),
                "adoptions": sorted((await session.scalars(select(Adoption.kind))).all()),
                "declared": set((await session.scalars(
                    select(Registration.organization_id))).all()),
                "courses": [(len(w.sessions), len({s.start_at.weekday() for s in w.sessions}),
                             await session.scalar(select(func.count()).select_from(
                                 Registration).where(Registration.webinar_id == w.id)))
                            for w in webinars if w.series_rule],
            }
    finally:
        await engine.dispose()


def test_db_upgrade_org_and_user_create(database_url: str, env_for, capsys) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(empty_tables(database_url))
    env_for(database_url)
    assert main(["db", "upgrade"]) == 0
    assert main(["org", "create", "--slug", "union", "--name", "Профсоюз",
                 "--level", "federal"]) == 0
    assert main(["org", "create", "--slug", "region", "--name", "Регион", "--parent", "union",
                 "--timezone", "Asia/Vladivostok", "--level", "regional"]) == 0
    assert main(["user", "create", "--email", "Boss@Union.example", "--name", "Начальник",
                 "--org", "region", "--role", "admin", "--password", "long enough password",
                 "--api-token"]) == 0
    out = capsys.readouterr().out
    assert "API token (shown once): wbt_" in out
    # bad input is refused with a reason, and nothing is written
    assert main(["user", "create", "--email", "x@union.example", "--name", "X", "--org", "nowhere",
                 "--password", "long enough password"]) == 2
    assert main(["user", "create", "--email", "y@union.example", "--name", "Y", "--org", "union",
                 "--password", "short"]) == 2
    assert main(["org", "create", "--slug", "Bad Slug", "--name", "X"]) == 2
    err = capsys.readouterr().err
    assert "nowhere" in err and "password" in err and "slug" in err
    found = asyncio.run(counts(database_url))
    assert found["orgs"] == 2 and found["accounts"] == 1


def test_org_import_checks_the_whole_file_then_writes_it(  # type: ignore[no-untyped-def]
        database_url: str, env_for, capsys, tmp_path: Path) -> None:
    asyncio.run(empty_tables(database_url))
    env_for(database_url)
    assert main(["org", "create", "--slug", "union", "--name", "Профсоюз",
                 "--level", "federal"]) == 0
    rows = ["slug;name;level;parent_slug;timezone", "region;Регион;regional;union;Asia/Omsk",
            *[f"school-{n};Школа № {n};primary;region;" for n in range(1, 21)]]
    good = tmp_path / "region.csv"
    good.write_bytes(("\ufeff" + "\r\n".join(rows)).encode("utf-8"))
    bad = tmp_path / "bad.csv"
    bad.write_bytes("\n".join([*rows, "Bad;X;primary;region;", "x1;X;primary;nowhere;"]
                              ).encode("utf-8"))
    capsys.readouterr()
    assert main(["org", "import", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}:23: slug" in err and f"{bad}:24: parent_slug" in err
    assert "nothing was imported" in err
    assert asyncio.run(counts(database_url))["orgs"] == 1
    assert main(["org", "import", str(good)]) == 0
    captured = capsys.readouterr()
    assert "21 created, 0 updated, 0 left as they were" in captured.out
    assert "writing  [" in captured.err and "100% 21/21" in captured.err  # the progress bar
    assert main(["org", "import", str(good)]) == 0
    assert "0 created, 0 updated, 21 left as they were" in capsys.readouterr().out
    assert asyncio.run(counts(database_url))["orgs"] == 22
    assert main(["org", "import", str(tmp_path / "missing.csv")]) == 2


def test_demo_loads_a_yearly_plan_across_levels_and_zones(database_url: str, env_for, capsys
                                                          ) -> None:  # type: ignore[no-untyped-def]
    asyncio.run(empty_tables(database_url))
    env_for(database_url)
    assert main(["demo"]) == 0
    found = asyncio.run(counts(database_url))
    assert found["orgs"] == 7
    assert found["levels"] == {"federal", "regional", "municipal", "primary"}
    assert found["accounts"] == 7
    assert 10 <= found["webinars"] <= 20
    # every dated event already has its Jitsi link; the indicative ones and the contest (a
    # period without a meeting) ask for none
    assert found["planned"] == 2
    assert found["periods"] == [("contest", True)]  # a month-long contest with a deadline
    assert found["ready"] == found["webinars"] - found["without_meeting"]
    # the plan spreads down the tree: a region joins, another copies twice (one of them an
    # indicative item it gave its own date); members of three organizations registered
    assert found["adoptions"] == ["copy", "copy", "join"] and found["copies"] == 2
    assert len(found["declared"]) == 4
    # a six-session weekly course (one weekday), with members of three organizations
    assert found["courses"] == [(6, 1, 3)]
    assert len(found["zones"]) >= 3
    assert {"training", "conference", "action", "contest", "webinar"} <= found["kinds"]
    assert any("Обучение" in t for t in found["titles"])  # type: ignore[union-attr]
    assert "federal@demo.example" in capsys.readouterr().out
    assert main(["demo"]) == 2  # a second run refuses instead of duplicating


@pytest.mark.parametrize("base_url", [None, "https://events.example.org"], ids=["unset", "set"])
def test_run_listens_where_the_flags_say_and_base_url_follows_unless_set(
    tmp_path: Path, base_url: str | None
) -> None:
    port = free_port()
    env = clean_env(DATA_DIR=str(tmp_path / "data"), PORT=str(free_port()),
                    **({"BASE_URL": base_url} if base_url else {}))
    expected = base_url or f"http://127.0.0.1:{port}"
    with serving([sys.executable, "-m", "webinars.cli", "run", "--host", "127.0.0.1",
                  "--port", str(port)], port=port, cwd=tmp_path, env=env) as served, \
            served.client() as client:
        page = client.get("/o/main")  # the organization `run` creates on an empty database
        assert page.status_code == 200
        assert f"{expected}/o/main.ics" in page.text  # the feed address in the page
    assert f"Webinars is starting at {expected}/" in served.output


def test_serve_listens_where_the_flags_say(tmp_path: Path) -> None:
    env = clean_env(DATA_DIR=str(tmp_path / "data"), SECRET_KEY=SECRET,
                    DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'serve.db'}",
                    REDIS_URL=f"redis://127.0.0.1:6379/{os.environ.get('TEST_REDIS_DB', '9')}")
    subprocess.run([sys.executable, "-m", "webinars.cli", "db", "upgrade"], cwd=tmp_path,
                   env=env, check=True, capture_output=True)
    port = free_port()
    with serving([sys.executable, "-m", "webinars.cli", "serve", "--host", "127.0.0.1",
                  "--port", str(port)], port=port, cwd=tmp_path, env=env) as served, \
            served.client() as client:
        assert client.get("/calendar").status_code == 200
    assert f"Webinars is serving at http://127.0.0.1:{port}/" in served.output


async def client_host(request: Request) -> Response:
    return PlainTextResponse(request.client.host if request.client else "")


async def client_seen(config: AppConfig, peer: str, forwarded_for: str) -> str:
    """What the app takes for the client's address under the server `run`/`serve` start."""
    server = uvicorn_config(Starlette(routes=[Route("/", client_host)]), config)
    server.load()
    transport = httpx.ASGITransport(app=server.loaded_app, client=(peer, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return (await client.get("/", headers={"X-Forwarded-For": forwarded_for})).text


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                 ) -> Iterator[Callable[..., AppConfig]]:
    """Set environment variables, then load() them as a new process would."""
    def use(**values: str) -> AppConfig:
        monkeypatch.chdir(tmp_path)
        for name in SETTINGS:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        sys.modules.pop("settings", None)
        return load()
    yield use
    monkeypatch.undo()
    sys.modules.pop("settings", None)


async def test_forwarded_for_is_believed_only_from_trusted_proxies(
    settings_env: Callable[..., AppConfig],
) -> None:
    config = settings_env(FORWARDED_ALLOW_IPS="10.0.0.0/8, 192.0.2.1")
    assert await client_seen(config, "10.1.2.3", "203.0.113.7") == "203.0.113.7"
    assert await client_seen(config, "192.0.2.1", "203.0.113.7") == "203.0.113.7"
    # through two proxies: the nearest untrusted address, not what the client wrote first
    assert await client_seen(config, "10.1.2.3", "198.18.0.1, 203.0.113.7, 10.9.9.9") \
        == "203.0.113.7"
    # anyone else who sends the header is taken for themselves
    assert await client_seen(config, "198.51.100.9", "203.0.113.7") == "198.51.100.9"
    assert await client_seen(config, "192.0.2.2", "203.0.113.7") == "192.0.2.2"


async def test_without_trusted_proxies_nobody_chooses_their_address(
    settings_env: Callable[..., AppConfig],
) -> None:
    config = settings_env()
    # not even a local peer, whom uvicorn alone would believe
    assert await client_seen(config, "127.0.0.1", "203.0.113.7") == "127.0.0.1"
    assert await client_seen(config, "10.1.2.3", "203.0.113.7") == "10.1.2.3"
