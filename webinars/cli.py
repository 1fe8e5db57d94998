"""The `webinars` command: run, serve, worker, db upgrade, user create, org create, demo."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from collections.abc import Sequence

from sqlalchemy import func, select

from .clock import SystemClock
from .config import AppConfig, ConfigError, load
from .errors import ValidationFailed
from .serving import STARTUP_FAILURE, serve, uvicorn_config

__all__ = ["STARTUP_FAILURE", "main", "parser", "uvicorn_config"]

log = logging.getLogger("webinars")


def fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


async def bootstrap_first_organizer(config: AppConfig) -> str | None:
    """On an empty embedded database, create an organization and its first admin."""
    from .accounts import create_account
    from .db import make_engine, make_sessionmaker
    from .models import Account
    from .organizations import create_organization
    from .security import new_token

    engine = make_engine(config.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            if await session.scalar(select(func.count()).select_from(Account)):
                return None
            clock = SystemClock()
            org = await create_organization(session, clock, slug="main",
                                            name="Моя организация",
                                            timezone=config.default_timezone, level="federal")
            password = new_token(12)
            await create_account(session, clock, email="admin@example.org", name="Администратор",
                                 password=password, organization=org, role="admin")
            await session.commit()
    finally:
        await engine.dispose()
    note = config.data_dir / "first-login.txt"
    note.write_text(f"e-mail: admin@example.org\npassword: {password}\n")
    note.chmod(0o600)
    return password


def cmd_run(args: argparse.Namespace, config: AppConfig) -> int:
    from .migrate import upgrade

    if config.embedded:
        upgrade(config.database_url)
    password = asyncio.run(bootstrap_first_organizer(config)) if config.embedded else None
    print(f"\nWebinars is starting at {config.base_url}/")
    if password:
        print("First organizer created:")
        print("  e-mail:   admin@example.org")
        print(f"  password: {password}")
        print(f"  (also saved in {config.data_dir / 'first-login.txt'})")
    elif config.embedded:
        print(f"Log in at {config.base_url}/login "
              f"(first organizer's password: {config.data_dir / 'first-login.txt'})")
    print("Mail goes to " + ("SMTP" if config.smtp_url else f"the outbox: {config.base_url}/outbox"))
    if config.embedded:
        print("Demo union with a yearly plan: stop, run `webinars demo`, start again.")
    print(flush=True)  # before uvicorn's log, also when stdout is a pipe
    return serve(config, in_process=True)


def cmd_serve(args: argparse.Namespace, config: AppConfig) -> int:
    if not config.redis_url:
        return fail("setting REDIS_URL is required for `serve` (use `webinars run` without Redis)")
    workers = f" in {args.workers} processes" if args.workers > 1 else ""
    print(f"Webinars is serving at {config.base_url}/{workers}", flush=True)
    return serve(config, in_process=False, workers=args.workers)


def cmd_worker(args: argparse.Namespace, config: AppConfig) -> int:
    if not config.redis_url:
        return fail("setting REDIS_URL is required for `worker`")
    from arq.worker import run_worker

    from workers.settings import WorkerSettings

    asyncio.set_event_loop(new_event_loop())  # arq runs on the loop it finds set
    run_worker(WorkerSettings, burst=args.burst)  # type: ignore[arg-type]
    return 0


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed, as uvicorn picks it for `run` and `serve`: the worker spends its
    time on sockets (SMTP, PostgreSQL, Redis), where uvloop's cost per read and write is a
    fraction of the standard loop's (bench/README.md, reminders)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def cmd_db_upgrade(args: argparse.Namespace, config: AppConfig) -> int:
    from .migrate import upgrade

    upgrade(config.database_url)
    print("database is up to date")
    return 0


async def _rotate_credentials(config: AppConfig) -> int:
    from sqlalchemy import select

    from .connections import rotate
    from .db import make_engine, make_sessionmaker
    from .models import PlatformConnection

    engine = make_engine(config.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = (await session.scalars(select(PlatformConnection))).all()
            for row in rows:
                row.credentials_sealed = rotate(config, row.credentials_sealed)
            await session.commit()
            return len(rows)
    finally:
        await engine.dispose()


def cmd_db_rotate_credentials(args: argparse.Namespace, config: AppConfig) -> int:
    """Seal every stored platform credential again under the first CREDENTIALS_KEY."""
    from cryptography.fernet import InvalidToken

    from .connections import CredentialsUnavailable

    try:
        count = asyncio.run(_rotate_credentials(config))
    except CredentialsUnavailable as exc:
        return fail(str(exc))
    except InvalidToken:
        return fail("some credentials were sealed under a key that is not in CREDENTIALS_KEY; "
                    "keep the old key in the list (after the new one) and run this again")
    print(f"{count} platform connection(s) sealed under the first CREDENTIALS_KEY")
    return 0


async def _org_create(config: AppConfig, args: argparse.Namespace) -> str:
    from .db import make_engine, make_sessionmaker
    from .organizations import create_organization, get_by_slug

    engine = make_engine(config.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            parent = await get_by_slug(session, args.parent) if args.parent else None
            org = await create_organization(
                session, SystemClock(), slug=args.slug, name=args.name,
                timezone=args.timezone or (parent.timezone if parent else config.default_timezone),
                parent=parent, level=args.level)
            await session.commit()
            return org.slug
    finally:
        await engine.dispose()


def cmd_org_create(args: argparse.Namespace, config: AppConfig) -> int:
    from .errors import NotFound

    try:
        slug = asyncio.run(_org_create(config, args))
    except ValidationFailed as exc:
        return fail(exc.message)
    except NotFound:
        return fail(f"no organization with slug {args.parent!r}")
    print(f"organization {slug} created")
    return 0


class ProgressBar:
    """A one-line bar on stderr, redrawn in place; quiet when stderr is not a terminal
    except for the final line."""

    def __init__(self, label: str, width: int = 30) -> None:
        self.label, self.width, self.shown = label, width, -1

    def __call__(self, done: int, total: int) -> None:
        share = done / total if total else 1.0
        percent = int(share * 100)
        if percent == self.shown:
            return
        self.shown = percent
        filled = int(share * self.width)
        end = "\n" if done >= total else ""
        if sys.stderr.isatty() or end:
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
                             f"{percent:3d}% {done}/{total}{end}")
            sys.stderr.flush()


async def _org_import(config: AppConfig, data: bytes) -> tuple[int, int, int]:
    from .db import make_engine, make_sessionmaker
    from .org_import import import_tree

    engine = make_engine(config.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            checking, writing = ProgressBar("checking"), ProgressBar("writing ")

            def progress(done: int, total: int) -> None:
                (writing if checking.shown >= 100 else checking)(done, total)

            outcome = await import_tree(session, SystemClock(), data, progress=progress)
            await session.commit()
            return len(outcome.created), len(outcome.updated), len(outcome.unchanged)
    finally:
        await engine.dispose()


def cmd_org_import(args: argparse.Namespace, config: AppConfig) -> int:
    from .org_import import ImportFailed

    try:
        with open(args.file, "rb") as f:
            data = f.read()
    except OSError as exc:
        return fail(f"cannot read {args.file}: {exc.strerror}")
    try:
        created, updated, unchanged = asyncio.run(_org_import(config, data))
    except ImportFailed as exc:
        if sys.stderr.isatty():
            print(file=sys.stderr)  # below the bar
        for line, reason in exc.lines():  # in English, as the rest of the command line
            print(f"{args.file}:{line}: {reason}" if line else f"{args.file}: {reason}",
                  file=sys.stderr)
        return fail(f"{len(exc.problems)} problem(s); nothing was imported")
    print(f"{created} created, {updated} updated, {unchanged} left as they were")
    return 0


async def _user_create(config: AppConfig, args: argparse.Namespace, password: str) -> str:
    from .accounts import create_account, create_api_token
    from .db import make_engine, make_sessionmaker
    from .organizations import get_by_slug

    engine = make_engine(config.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            org = await get_by_slug(session, args.org)
            account = await create_account(session, SystemClock(), email=args.email,
                                           name=args.name, password=password, organization=org,
                                           role=args.role, locale=args.locale)
            token = await create_api_token(session, SystemClock(), account, "cli") \
                if args.api_token else ""
            await session.commit()
            return token
    finally:
        await engine.dispose()


def cmd_user_create(args: argparse.Namespace, config: AppConfig) -> int:
    from .errors import NotFound

    password = args.password or getpass.getpass("Password (10+ characters): ")
    try:
        token = asyncio.run(_user_create(config, args, password))
    except ValidationFailed as exc:
        return fail(exc.message)
    except NotFound:
        return fail(f"no organization with slug {args.org!r}")
    print(f"{args.role} {args.email} created in {args.org}")
    if token:
        print(f"API token (shown once): {token}")
    return 0


async def _demo(config: AppConfig, password: str) -> str:
    from workers import FUNCTIONS

    from .demo import load_demo
    from .queue import InProcessQueue
    from .runtime import build_runtime

    runtime = await build_runtime(config)
    queue = InProcessQueue(FUNCTIONS, {}, runtime.clock)
    runtime.queue = queue
    queue.ctx.update(runtime.job_context())
    try:
        summary = await load_demo(runtime, queue, password=password)
        await queue.drain()  # create the meeting links now rather than at the next start
        return summary
    finally:
        await runtime.close()


def cmd_demo(args: argparse.Namespace, config: AppConfig) -> int:
    from .migrate import upgrade

    if config.embedded:
        upgrade(config.database_url)
    try:
        summary = asyncio.run(_demo(config, args.password))
    except ValidationFailed as exc:
        return fail(f"demo data not loaded: {exc.message}")
    print(summary)
    return 0


def port_number(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number from 1 to 65535")
    return int(value)


def process_count(value: str) -> int:
    if not value.isdigit() or not 0 < int(value) <= 256:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of processes from 1 to 256")
    return int(value)


def listen_arguments(p: argparse.ArgumentParser) -> None:
    """uvicorn's names; an unset BASE_URL follows them."""
    p.add_argument("--host", help="address to listen on (default: the HOST setting, 127.0.0.1)")
    p.add_argument("--port", type=port_number,
                   help="port to listen on (default: the PORT setting, 8000)")
    p.epilog = "Unless BASE_URL is set, links in pages and e-mails use http://HOST:PORT."


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="webinars", description="Plan webinars, register members, "
                                "send calendar invitations.")
    sub = p.add_subparsers(dest="command", required=True)
    run_cmd = sub.add_parser("run", help="web app and in-process worker (the embedded default)",
                             description="Start the web app with the worker inside it. On the "
                             "embedded default this also migrates the SQLite database and "
                             "creates the first organizer.")
    listen_arguments(run_cmd)
    run_cmd.set_defaults(handler=cmd_run)
    serve_cmd = sub.add_parser("serve",
                               help="web app only; jobs go to the arq worker on REDIS_URL",
                               description="Start the web app only; jobs are put on Redis "
                               "(REDIS_URL) for `webinars worker`.")
    listen_arguments(serve_cmd)
    serve_cmd.add_argument("--workers", type=process_count, default=1, metavar="N",
                           help="web processes sharing the port, each with its own database "
                           "pool (default: 1, served by this process)")
    serve_cmd.set_defaults(handler=cmd_serve)
    w = sub.add_parser("worker", help="arq worker on REDIS_URL",
                       description="Run the arq worker: meeting creation, e-mail deliveries, "
                       "reminders and the reconcile job.")
    w.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    w.set_defaults(handler=cmd_worker)
    dbp = sub.add_parser("db", help="database commands", description="Database commands.")
    dbsub = dbp.add_subparsers(dest="db_command", required=True)
    dbsub.add_parser("upgrade", help="apply Alembic migrations up to the latest",
                     description="Apply every Alembic migration to DATABASE_URL."
                     ).set_defaults(handler=cmd_db_upgrade)
    dbsub.add_parser("rotate-credentials",
                     help="seal platform credentials again under the first CREDENTIALS_KEY",
                     description="After putting a new key in front of CREDENTIALS_KEY (the old "
                     "one still after it), seal every organization's platform credentials "
                     "again under the new key; then the old one can be dropped."
                     ).set_defaults(handler=cmd_db_rotate_credentials)
    org = sub.add_parser("org", help="organization commands", description="Organization commands.")
    orgsub = org.add_subparsers(dest="org_command", required=True)
    oc = orgsub.add_parser("create", help="add an organization to the tree",
                           description="Add an organization, optionally below a parent.")
    oc.add_argument("--slug", required=True)
    oc.add_argument("--name", required=True)
    oc.add_argument("--parent", help="slug of the parent organization")
    oc.add_argument("--timezone", help="IANA zone (default: the parent's or DEFAULT_TIMEZONE)")
    oc.add_argument("--level", default="other",
                    choices=["federal", "regional", "municipal", "primary", "other"])
    oc.set_defaults(handler=cmd_org_create)
    oi = orgsub.add_parser("import", help="import a tree of organizations from a CSV file",
                           description="Import organizations from a CSV file with the columns "
                           "slug,name,level,parent_slug,timezone (UTF-8, with or without a BOM, "
                           "; or , between fields). Every line is checked first; nothing is "
                           "written unless all are good. Existing slugs are updated.")
    oi.add_argument("file", help="the CSV file")
    oi.set_defaults(handler=cmd_org_import)
    user = sub.add_parser("user", help="organizer accounts", description="Organizer accounts.")
    usub = user.add_subparsers(dest="user_command", required=True)
    uc = usub.add_parser("create", help="create an organizer with a role in an organization",
                         description="Create an organizer account with a role (admin or "
                         "organizer) that covers the organization and everything below it.")
    uc.add_argument("--email", required=True)
    uc.add_argument("--name", required=True)
    uc.add_argument("--org", required=True, help="organization slug")
    uc.add_argument("--role", default="organizer", choices=["admin", "organizer"])
    uc.add_argument("--locale", default="ru", choices=["ru", "en"])
    uc.add_argument("--password", help="omit to be asked")
    uc.add_argument("--api-token", action="store_true", help="also issue an API token")
    uc.set_defaults(handler=cmd_user_create)
    demo = sub.add_parser("demo", help="load a demo union with a yearly plan",
                          description="Load demo data: a federal union, regional, municipal and "
                          "school organizations, an organizer at each level and a yearly plan "
                          "of about a dozen events.")
    demo.add_argument("--password", default="demo-password",
                      help="password of every demo organizer (default: demo-password)")
    demo.set_defaults(handler=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    try:
        config = load(host=getattr(args, "host", None), port=getattr(args, "port", None))
    except ConfigError as exc:
        return fail(str(exc))
    result: int = args.handler(args, config)
    return result


if __name__ == "__main__":
    sys.exit(main())
