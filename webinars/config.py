"""The validated, typed configuration that every part of the service receives.

`settings.py` reads raw values; `load()` checks them and fails with a message that names the
setting. Tests build `AppConfig` directly instead of touching the environment.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import ip_address, ip_network
from pathlib import Path
from urllib.parse import urlsplit

from integrations.registry import CONNECTABLE

from .db import PoolSettings
from .timezones import is_timezone

SUPPORTED_LOCALES = ("ru", "en")


class ConfigError(Exception):
    """A setting is missing or malformed; the message names it."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"setting {name}: {reason}")
        self.name = name


@dataclass(frozen=True)
class AppConfig:
    database_url: str
    secret_key: str
    base_url: str = "http://127.0.0.1:8000"
    redis_url: str | None = None
    smtp_url: str | None = None
    mail_from: str = "webinars@localhost"
    mail_from_name: str = "Вебинары"
    default_timezone: str = "Europe/Moscow"
    default_locale: str = "ru"
    jitsi_base_url: str = "https://meet.jit.si"
    data_dir: Path = field(default_factory=lambda: Path("data"))
    embedded: bool = False
    #: Public registration limits: within this many seconds, at most `..._per_client` different
    #: addresses from one client and `..._per_address` registrations of one address.
    registration_limit_period: int = 3600
    registration_limit_per_client: int = 10
    registration_limit_per_address: int = 10
    #: Minutes before a start from which the personal page's "Join" button is active.
    join_opens_minutes: int = 15
    #: Seconds a process keeps a rendered public event page (0: render every time).
    page_cache_seconds: float = 1.0
    host: str = "127.0.0.1"
    port: int = 8000
    #: Proxies whose X-Forwarded-For is believed; empty, the client is the connecting peer.
    forwarded_allow_ips: tuple[str, ...] = ()
    #: Seconds. A claimed delivery's lease, renewed by its worker's heartbeat: it runs out only
    #: for rows nobody holds any more. Longer than the slowest batch (arq's job timeout is 300).
    delivery_lease: float = 600.0
    #: Seconds between a worker's heartbeats (it also renews its leases and looks for the dead).
    worker_heartbeat: float = 5.0
    #: Seconds of silence after which a worker is taken for dead and its rows are sent again.
    worker_gone_after: float = 30.0
    #: Seconds a due pending row may wait for its job before the reconcile sweep queues it again.
    reconcile_grace: float = 120.0
    #: Webhooks may go to loopback addresses (and http:// on them): development and tests only.
    webhook_allow_loopback: bool = False
    #: argon2id cost of new password hashes (old hashes keep theirs: they carry them).
    password_hash_time_cost: int = 3
    password_hash_memory_kib: int = 65536
    #: Secrets that seal platform credentials; the first seals, all open. Empty: none can be
    #: stored.
    credentials_keys: tuple[str, ...] = ()
    #: Per platform, its fixed addresses replaced ({"zoom": {"api": ...}}).
    platform_endpoints: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: This process's PostgreSQL connection pool (DATABASE_POOL_*).
    pool: PoolSettings = field(default_factory=PoolSettings)

    @property
    def https(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def uid_domain(self) -> str:
        return urlsplit(self.base_url).hostname or "localhost"


def check_timezone(name: str, value: str) -> str:
    if not is_timezone(value):
        raise ConfigError(name, f"{value!r} is not an IANA time zone")
    return value


def check_url(name: str, value: str, schemes: tuple[str, ...]) -> str:
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.hostname:
        raise ConfigError(name, f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}")
    return value.rstrip("/") if schemes[0].startswith("http") else value


def check_port(name: str, value: int) -> int:
    if not 0 < value < 65536:
        raise ConfigError(name, "must be a port number from 1 to 65535")
    return value


def check_proxies(name: str, values: Sequence[str]) -> tuple[str, ...]:
    """IP addresses and networks only: uvicorn quietly takes anything else for a name that
    never matches a peer, and its "*" believes every client, which the setting is to prevent."""
    checked = []
    for value in values:
        if value == "*":
            raise ConfigError(name, "'*' would believe every client; list the proxies' "
                              "addresses or networks")
        try:
            checked.append(str(ip_network(value) if "/" in value else ip_address(value)))
        except ValueError as exc:
            raise ConfigError(name, f"{value!r} is not an IP address or network ({exc})") from None
    return tuple(checked)


def check_worker_times(lease: float, heartbeat: float, gone_after: float, grace: float) -> None:
    """A live worker must never look dead: its lease and its silence allowance span several
    heartbeats, or a slow beat would hand its rows to another worker and send them twice."""
    for name, value in (("DELIVERY_LEASE", lease), ("WORKER_HEARTBEAT", heartbeat),
                        ("WORKER_GONE_AFTER", gone_after), ("RECONCILE_GRACE", grace)):
        if not 0 < value < 10 ** 7:  # also refuses nan and inf
            raise ConfigError(name, "must be a number of seconds above 0 (and below 10000000)")
    if gone_after < 3 * heartbeat:
        raise ConfigError("WORKER_GONE_AFTER", "must be at least three WORKER_HEARTBEATs "
                          f"({3 * heartbeat:g} s), or a live worker may be taken for dead")
    if lease < 2 * heartbeat:
        raise ConfigError("DELIVERY_LEASE", "must be at least two WORKER_HEARTBEATs "
                          f"({2 * heartbeat:g} s), or a live worker's rows run out between beats")


def check_pool(size: int, max_overflow: int, recycle: float, timeout: float) -> PoolSettings:
    """Whole connections and positive seconds: a pool of none would make every request wait
    DATABASE_POOL_TIMEOUT and fail, and a recycle of 0 would reconnect at every checkout."""
    if not 1 <= size <= 1000:
        raise ConfigError("DATABASE_POOL_SIZE", "must be a whole number of connections from 1 "
                          "to 1000 (per process)")
    if not 0 <= max_overflow <= 1000:
        raise ConfigError("DATABASE_MAX_OVERFLOW", "must be a whole number of connections from "
                          "0 to 1000 (per process, beyond DATABASE_POOL_SIZE)")
    if not 1 <= recycle <= 10 ** 6:  # also refuses nan and inf
        raise ConfigError("DATABASE_POOL_RECYCLE", "must be a number of seconds from 1 to "
                          "1000000 (a connection older than this is replaced)")
    if not 0 < timeout <= 3600:
        raise ConfigError("DATABASE_POOL_TIMEOUT", "must be a number of seconds above 0 (and "
                          "at most 3600) that a request waits for a free connection")
    return PoolSettings(size=size, max_overflow=max_overflow, recycle=recycle, timeout=timeout)


def listen_url(host: str, port: int) -> str:
    """The address the server listens on, as a URL: BASE_URL when that is not set."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


MIN_SECRET_LENGTH = 32
MIN_SECRET_ALPHABET = 8
MAKE_SECRET = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'
#: What only an example, a placeholder or a never-changed default contains (compared lower-case,
#: without separators).
EXAMPLE_WORDS = ("changeme", "changethis", "replaceme", "yoursecret", "secretkeyhere",
                 "randomcharacters", "randomstring", "insecure", "notasecret", "example",
                 "placeholder", "password")
#: Runs a person types instead of random characters, read forwards or backwards.
RUNS = ("abcdefghijklmnopqrstuvwxyz", "0123456789", "1234567890", "qwertyuiop", "asdfghjkl",
        "zxcvbnm", "qazwsxedcrfvtgbyhnujmikolp")


def _follows(a: str, b: str) -> bool:
    """`b` is what a person types after `a`: the same key again, or the next one of a run."""
    pair = (a + b).lower()
    return a == b or any(pair in run or pair in run[::-1] for run in RUNS)


def predictable_characters(value: str) -> int:
    """Characters that continue a run (aaa, abc, 987, qwe) or repeat three seen before.

    Random keys score low whatever their alphabet (under 45% even for 32 random digits, which
    have the smallest), while repeats, counting and keyboard rows score half or more.
    """
    return sum(1 for i in range(2, len(value))
               if _follows(value[i - 2], value[i - 1]) and _follows(value[i - 1], value[i])
               or value[i - 2:i + 1] in value[:i])


def weak_secret_reason(value: str) -> str | None:
    """Why `value` is no secret: too short, an example, too few characters, or predictable."""
    if len(value) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters long"
    plain = re.sub(r"[\s_.-]+", "", value.lower())
    if re.fullmatch(r"\s*<.*>\s*", value) or any(word in plain for word in EXAMPLE_WORDS):
        return "looks like an example or a placeholder, not a secret"
    if len(set(value)) < MIN_SECRET_ALPHABET:
        return f"uses fewer than {MIN_SECRET_ALPHABET} different characters"
    if 2 * predictable_characters(value) >= len(value):
        return "is too predictable (repeated parts, counting or keyboard runs)"
    return None


def check_endpoints(name: str, value: str, platforms: Sequence[str]
                    ) -> dict[str, dict[str, str]]:
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        raise ConfigError(name, f"is not JSON ({exc})") from None
    if not isinstance(parsed, dict):
        raise ConfigError(name, 'must be a JSON object such as {"zoom": {"api": "https://…"}}')
    checked: dict[str, dict[str, str]] = {}
    for platform, addresses in parsed.items():
        if platform not in platforms:
            raise ConfigError(name, f"{platform!r} is not a platform ({', '.join(platforms)})")
        if not isinstance(addresses, dict) or not all(
                isinstance(v, str) for v in addresses.values()):
            raise ConfigError(name, f"{platform}: must map names to URLs")
        checked[platform] = {k: check_url(name, v, ("https", "http"))
                             for k, v in addresses.items()}
    return checked


def check_credentials_keys(name: str, values: Sequence[str]) -> tuple[str, ...]:
    keys = tuple(v.strip() for v in values if v.strip())
    for key in keys:
        if (reason := weak_secret_reason(key)) is not None:
            raise ConfigError(name, f"{reason}; make one with: {MAKE_SECRET}")
    return keys


def embedded_secret_key(data_dir: Path, name: str = "secret_key") -> str:
    """Generate one of the embedded default's secrets once and keep it beside the SQLite
    file."""
    path = data_dir / name
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.write_text(key)
    path.chmod(0o600)
    return key


def load(*, host: str | None = None, port: int | None = None) -> AppConfig:
    """Read `settings` and validate every value; raise ConfigError naming the first bad one.

    `host` and `port` are the command line's --host and --port: they replace HOST and PORT,
    and an unset BASE_URL follows them.
    """
    try:
        import settings
    except ValueError as exc:  # starlette's Config names the setting in its message
        raise ConfigError("environment", str(exc)) from None

    data_dir = Path(settings.DATA_DIR)
    embedded = settings.DATABASE_URL is None
    if embedded:
        data_dir.mkdir(parents=True, exist_ok=True)
        database_url = f"sqlite+aiosqlite:///{(data_dir / 'webinars.db').resolve()}"
    else:
        database_url = settings.DATABASE_URL or ""
        if not database_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://")):
            raise ConfigError(
                "DATABASE_URL", "must start with sqlite+aiosqlite:/// or postgresql+asyncpg://"
            )

    if settings.SECRET_KEY is not None:
        secret_key = str(settings.SECRET_KEY)
        if (reason := weak_secret_reason(secret_key)) is not None:
            raise ConfigError("SECRET_KEY", f"{reason}; make one with: {MAKE_SECRET}")
    elif embedded:
        secret_key = embedded_secret_key(data_dir)
    else:
        raise ConfigError("SECRET_KEY", "is required when DATABASE_URL is set")

    if settings.CREDENTIALS_KEY:
        credentials_keys = check_credentials_keys("CREDENTIALS_KEY", settings.CREDENTIALS_KEY)
    elif embedded:
        credentials_keys = (embedded_secret_key(data_dir, "credentials_key"),)
    else:
        credentials_keys = ()

    redis_url = settings.REDIS_URL
    if redis_url is not None:
        check_url("REDIS_URL", redis_url, ("redis", "rediss"))
    smtp_url = str(settings.SMTP_URL) if settings.SMTP_URL is not None else None
    if smtp_url is not None:
        parts = urlsplit(smtp_url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ConfigError("SMTP_URL", "must be a URL starting with smtp:// or smtps://")
    if "@" not in settings.MAIL_FROM or " " in settings.MAIL_FROM.strip():
        raise ConfigError("MAIL_FROM", "must be a bare e-mail address such as events@example.org")
    if settings.DEFAULT_LOCALE not in SUPPORTED_LOCALES:
        raise ConfigError("DEFAULT_LOCALE", f"must be one of {', '.join(SUPPORTED_LOCALES)}")
    host = (settings.HOST if host is None else host).strip()
    if not host:
        raise ConfigError("HOST", "must not be empty")
    port = check_port("PORT", settings.PORT if port is None else port)
    base_url = settings.BASE_URL if settings.BASE_URL is not None else listen_url(host, port)

    for name in ("REGISTRATION_LIMIT_PERIOD", "REGISTRATION_LIMIT_PER_CLIENT",
                 "REGISTRATION_LIMIT_PER_ADDRESS"):
        if getattr(settings, name) < 1:
            raise ConfigError(name, "must be a whole number of at least 1")
    if not 0 <= settings.JOIN_OPENS_MINUTES <= 24 * 60:
        raise ConfigError("JOIN_OPENS_MINUTES", "must be a whole number of minutes from 0 to 1440")
    if not 0 <= settings.PAGE_CACHE_SECONDS <= 60:
        raise ConfigError("PAGE_CACHE_SECONDS", "must be a number of seconds from 0 to 60")
    check_worker_times(settings.DELIVERY_LEASE, settings.WORKER_HEARTBEAT,
                       settings.WORKER_GONE_AFTER, settings.RECONCILE_GRACE)
    if not 1 <= settings.PASSWORD_HASH_TIME_COST <= 20:
        raise ConfigError("PASSWORD_HASH_TIME_COST", "must be a whole number from 1 to 20")
    if not 1024 <= settings.PASSWORD_HASH_MEMORY_KIB <= 4 * 1024 * 1024:
        raise ConfigError("PASSWORD_HASH_MEMORY_KIB",
                          "must be a whole number of KiB from 1024 to 4194304")

    return AppConfig(
        registration_limit_period=settings.REGISTRATION_LIMIT_PERIOD,
        registration_limit_per_client=settings.REGISTRATION_LIMIT_PER_CLIENT,
        registration_limit_per_address=settings.REGISTRATION_LIMIT_PER_ADDRESS,
        join_opens_minutes=settings.JOIN_OPENS_MINUTES,
        page_cache_seconds=settings.PAGE_CACHE_SECONDS,
        database_url=database_url,
        secret_key=secret_key,
        base_url=check_url("BASE_URL", base_url, ("http", "https")),
        redis_url=redis_url,
        smtp_url=smtp_url,
        mail_from=settings.MAIL_FROM.strip(),
        mail_from_name=settings.MAIL_FROM_NAME,
        default_timezone=check_timezone("DEFAULT_TIMEZONE", settings.DEFAULT_TIMEZONE),
        default_locale=settings.DEFAULT_LOCALE,
        jitsi_base_url=check_url("JITSI_BASE_URL", settings.JITSI_BASE_URL, ("http", "https")),
        data_dir=data_dir,
        embedded=embedded,
        host=host,
        port=port,
        forwarded_allow_ips=check_proxies("FORWARDED_ALLOW_IPS",
                                          settings.FORWARDED_ALLOW_IPS or ()),
        delivery_lease=settings.DELIVERY_LEASE,
        worker_heartbeat=settings.WORKER_HEARTBEAT,
        worker_gone_after=settings.WORKER_GONE_AFTER,
        reconcile_grace=settings.RECONCILE_GRACE,
        webhook_allow_loopback=settings.WEBHOOK_ALLOW_LOOPBACK,
        password_hash_time_cost=settings.PASSWORD_HASH_TIME_COST,
        password_hash_memory_kib=settings.PASSWORD_HASH_MEMORY_KIB,
        credentials_keys=credentials_keys,
        platform_endpoints=check_endpoints("PLATFORM_ENDPOINTS", settings.PLATFORM_ENDPOINTS,
                                           CONNECTABLE),
        pool=check_pool(settings.DATABASE_POOL_SIZE, settings.DATABASE_MAX_OVERFLOW,
                        settings.DATABASE_POOL_RECYCLE, settings.DATABASE_POOL_TIMEOUT),
    )
