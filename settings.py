"""Every setting of the service, read once from the environment and then from `.env`.

This is the only module that reads the environment. A malformed value stops the import with
an error that names the setting; `webinars.config.load()` turns these values into the one
typed configuration the rest of the code receives.
"""

from __future__ import annotations

from pathlib import Path

from starlette.config import Config
from starlette.datastructures import CommaSeparatedStrings, Secret

config = Config(".env" if Path(".env").is_file() else None)

# Where the embedded default keeps its SQLite file, the generated secret key and the outbox.
DATA_DIR: str = config("DATA_DIR", default="data")

# Storage and queue
DATABASE_URL: str | None = config("DATABASE_URL", default=None)
REDIS_URL: str | None = config("REDIS_URL", default=None)
# PostgreSQL connections of each process (every `webinars serve` process and every worker has
# its own pool): DATABASE_POOL_SIZE kept open, up to DATABASE_MAX_OVERFLOW more under load;
# the sum over all processes must stay below the server's max_connections. A connection is
# replaced after DATABASE_POOL_RECYCLE seconds; a request waits DATABASE_POOL_TIMEOUT seconds
# for a free one before it fails. (docs/deploy.md: how to size them.)
DATABASE_POOL_SIZE: int = config("DATABASE_POOL_SIZE", cast=int, default=5)
DATABASE_MAX_OVERFLOW: int = config("DATABASE_MAX_OVERFLOW", cast=int, default=10)
DATABASE_POOL_RECYCLE: float = config("DATABASE_POOL_RECYCLE", cast=float, default=1800.0)
DATABASE_POOL_TIMEOUT: float = config("DATABASE_POOL_TIMEOUT", cast=float, default=30.0)

# Mail
SMTP_URL: Secret | None = config("SMTP_URL", cast=Secret, default=None)
MAIL_FROM: str = config("MAIL_FROM", default="webinars@localhost")
MAIL_FROM_NAME: str = config("MAIL_FROM_NAME", default="Вебинары")

# Web
# Where `webinars run` and `serve` listen; their --host and --port flags take precedence.
HOST: str = config("HOST", default="127.0.0.1")
PORT: int = config("PORT", cast=int, default=8000)
# The public address in links, e-mails and calendars; unset, the address the server listens on
# (worked out in webinars.config.load(), which knows the flags).
BASE_URL: str | None = config("BASE_URL", default=None)
SECRET_KEY: Secret | None = config("SECRET_KEY", cast=Secret, default=None)
# Reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed (IP addresses or
# networks, uvicorn's name); unset, nobody's: the client is always the connecting peer.
FORWARDED_ALLOW_IPS: CommaSeparatedStrings | None = config(
    "FORWARDED_ALLOW_IPS", cast=CommaSeparatedStrings, default=None)

# Public registration limits (benchmarks and load tests set them explicitly): within the
# period, how many different addresses one client may register, and how often one address
# may be registered, before the form answers 429.
REGISTRATION_LIMIT_PERIOD: int = config("REGISTRATION_LIMIT_PERIOD", cast=int, default=3600)
REGISTRATION_LIMIT_PER_CLIENT: int = config("REGISTRATION_LIMIT_PER_CLIENT", cast=int, default=10)
REGISTRATION_LIMIT_PER_ADDRESS: int = config("REGISTRATION_LIMIT_PER_ADDRESS", cast=int,
                                             default=10)
# Minutes before the start from which a member's "Join" button is active.
JOIN_OPENS_MINUTES: int = config("JOIN_OPENS_MINUTES", cast=int, default=15)
# Seconds each web process keeps a rendered public event page: the longest a change takes to
# show on it (0 renders every visit).
PAGE_CACHE_SECONDS: float = config("PAGE_CACHE_SECONDS", cast=float, default=1.0)

# Workers (seconds). A claimed delivery belongs to its worker for DELIVERY_LEASE, renewed by the
# worker's heartbeat every WORKER_HEARTBEAT; a worker silent for WORKER_GONE_AFTER (or, on the
# same machine, whose process is gone) is taken for dead and its rows are sent by another.
# RECONCILE_GRACE: how long a pending row may wait for its job before the sweep queues it again.
DELIVERY_LEASE: float = config("DELIVERY_LEASE", cast=float, default=600.0)
WORKER_HEARTBEAT: float = config("WORKER_HEARTBEAT", cast=float, default=5.0)
WORKER_GONE_AFTER: float = config("WORKER_GONE_AFTER", cast=float, default=30.0)
RECONCILE_GRACE: float = config("RECONCILE_GRACE", cast=float, default=120.0)

# Password hashing (argon2id). The defaults are argon2-cffi's (RFC 9106's low-memory choice,
# about 0.1 s a login here); tune them to the machine, never below OWASP's 19 MiB and 2 passes
# in production. The test suite lowers them: hashing is not what it tests.
PASSWORD_HASH_TIME_COST: int = config("PASSWORD_HASH_TIME_COST", cast=int, default=3)
PASSWORD_HASH_MEMORY_KIB: int = config("PASSWORD_HASH_MEMORY_KIB", cast=int, default=65536)

# People and places
DEFAULT_TIMEZONE: str = config("DEFAULT_TIMEZONE", default="Europe/Moscow")
DEFAULT_LOCALE: str = config("DEFAULT_LOCALE", default="ru")

# Webhooks: endpoints are refused at send time when they resolve to a private, loopback or
# otherwise internal address (SSRF). Development and tests may allow loopback (and http:// to
# it); never in production.
WEBHOOK_ALLOW_LOOPBACK: bool = config("WEBHOOK_ALLOW_LOOPBACK", cast=bool, default=False)

# Conferencing
JITSI_BASE_URL: str = config("JITSI_BASE_URL", default="https://meet.jit.si")
# Seals organizations' platform credentials (MultiFernet), separate from SECRET_KEY so either
# can be rotated: comma-separated secrets, the first seals, all open (add a new one in front,
# run `webinars rotate-credentials`, then drop the old one). Unset with DATABASE_URL: platforms
# that need credentials cannot be connected. The embedded default generates one.
CREDENTIALS_KEY: CommaSeparatedStrings | None = config(
    "CREDENTIALS_KEY", cast=CommaSeparatedStrings, default=None)
# The platforms' fixed API addresses where they differ from the real ones (a regional cloud,
# a proxy, the test suite's fakes), as JSON: {"zoom": {"api": "https://…", "oauth": "…"}}.
PLATFORM_ENDPOINTS: str = config("PLATFORM_ENDPOINTS", default="{}")
