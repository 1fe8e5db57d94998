"""Settings: defaults for the embedded mode, and start-up errors that name the bad setting."""

from __future__ import annotations

import importlib
import re
import secrets
import sys
from pathlib import Path

import pytest

from webinars.config import AppConfig, ConfigError, load, weak_secret_reason

from .conftest import SECRET

ALL = ["DATA_DIR", "DATABASE_URL", "REDIS_URL", "SMTP_URL", "MAIL_FROM", "BASE_URL", "SECRET_KEY",
       "DEFAULT_TIMEZONE", "DEFAULT_LOCALE", "HOST", "PORT", "JITSI_BASE_URL",
       "FORWARDED_ALLOW_IPS", "DELIVERY_LEASE", "WORKER_HEARTBEAT", "WORKER_GONE_AFTER",
       "RECONCILE_GRACE", "WEBHOOK_ALLOW_LOOPBACK", "PASSWORD_HASH_TIME_COST",
       "PASSWORD_HASH_MEMORY_KIB", "CREDENTIALS_KEY", "PLATFORM_ENDPOINTS"]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.chdir(tmp_path)
    for name in ALL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    yield monkeypatch
    monkeypatch.undo()
    sys.modules.pop("settings", None)
    importlib.import_module("settings")


def reload_and_load(*, host: str | None = None, port: int | None = None) -> AppConfig:
    """Import settings afresh, as a new process would, so its errors go through load()."""
    sys.modules.pop("settings", None)
    return load(host=host, port=port)


def test_embedded_default_uses_sqlite_and_keeps_one_generated_secret(
    env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    first = reload_and_load()
    assert first.embedded
    assert first.database_url.startswith("sqlite+aiosqlite:///")
    assert first.database_url.endswith("data/webinars.db")
    assert first.default_timezone == "Europe/Moscow" and first.default_locale == "ru"
    assert first.redis_url is None and first.smtp_url is None
    assert len(first.secret_key) >= 32
    assert reload_and_load().secret_key == first.secret_key  # generated once, then kept
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("name", "value", "extra"),
    [
        ("SECRET_KEY", None, {"DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1/x"}),
        ("SECRET_KEY", "short", {}),
        ("DATABASE_URL", "mysql://x", {"SECRET_KEY": secrets.token_urlsafe(48)}),
        ("REDIS_URL", "localhost:6379", {}),
        ("SMTP_URL", "mail.example.org", {}),
        ("MAIL_FROM", "Events <events@example.org>", {}),
        ("BASE_URL", "example.org", {}),
        ("DEFAULT_TIMEZONE", "Moscow/Europe", {}),
        ("DEFAULT_LOCALE", "de", {}),
        ("PORT", "eighty", {}),
        ("PORT", "70000", {}),
        ("HOST", " ", {}),
        ("FORWARDED_ALLOW_IPS", "proxy.example.org", {}),
        ("FORWARDED_ALLOW_IPS", "10.0.0.1, 10.0.0.1/8", {}),  # host bits set: matches nobody
        ("FORWARDED_ALLOW_IPS", "*", {}),
        ("JITSI_BASE_URL", "ftp://meet.example", {}),
        ("DELIVERY_LEASE", "ten minutes", {}),
        ("DELIVERY_LEASE", "8", {"WORKER_HEARTBEAT": "5"}),  # runs out between two beats
        ("WORKER_HEARTBEAT", "0", {}),
        ("WORKER_GONE_AFTER", "10", {}),  # two beats of the default 5 s: a live one looks dead
        ("RECONCILE_GRACE", "inf", {}),
        ("PASSWORD_HASH_TIME_COST", "0", {}),
        ("PASSWORD_HASH_MEMORY_KIB", "64", {}),  # below 1 MiB: cheap to guess
    ],
)
def test_a_bad_setting_stops_start_up_naming_it(
    env: pytest.MonkeyPatch, name: str, value: str | None, extra: dict[str, str]
) -> None:
    for key, val in extra.items():
        env.setenv(key, val)
    if value is not None:
        env.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        reload_and_load()
    assert name in str(caught.value)


def test_secret_values_are_not_echoed_in_errors(env: pytest.MonkeyPatch) -> None:
    env.setenv("SECRET_KEY", "tiny-secret")
    with pytest.raises(ConfigError) as caught:
        reload_and_load()
    assert "tiny-secret" not in str(caught.value)


def test_base_url_follows_the_port_unless_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("PORT", "8123")
    assert reload_and_load().base_url == "http://127.0.0.1:8123"
    env.setenv("BASE_URL", "https://events.example.org/")
    assert reload_and_load().base_url == "https://events.example.org"


def test_base_url_follows_the_command_line_unless_set(env: pytest.MonkeyPatch) -> None:
    env.setenv("HOST", "0.0.0.0")
    env.setenv("PORT", "8123")
    flags = reload_and_load(host="::1", port=9001)
    assert (flags.host, flags.port) == ("::1", 9001)
    assert flags.base_url == "http://[::1]:9001"
    assert reload_and_load(port=9001).base_url == "http://0.0.0.0:9001"
    env.setenv("BASE_URL", "https://events.example.org")
    assert reload_and_load(host="127.0.0.1", port=9001).base_url == "https://events.example.org"


def test_trusted_proxies_are_none_unless_listed(env: pytest.MonkeyPatch) -> None:
    assert reload_and_load().forwarded_allow_ips == ()
    env.setenv("FORWARDED_ALLOW_IPS", "10.0.0.0/8, 192.0.2.1,2001:db8::/32")
    assert reload_and_load().forwarded_allow_ips == ("10.0.0.0/8", "192.0.2.1", "2001:db8::/32")


GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


@pytest.mark.parametrize("weak", [
    "x" * 48,                                            # one repeated character
    "ab" * 24,                                           # a tiny alphabet
    "aAbB1!" * 8,
    "<48 random characters>" * 2,                        # the README's placeholder, pasted twice
    "<48 random characters from secrets.token_urlsafe>",  # a placeholder of any length
    "changeme" * 5,                                      # an example word repeated to the length
    "your-secret-key" * 3,
    "secret-" * 6,
    "0123456789" * 4,                                    # a counting pattern
    "abcdefghijklmnopqrstuvwxyz0123456789",
    "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210",
    "qwertyuiopasdfghjklzxcvbnm1234567890",              # the keyboard, row by row
    "Password123Password123Password123",
    "abcdefgh" * 4 + "12345678",                         # mostly one repeated unit
])
def test_an_obviously_weak_secret_key_stops_start_up(env: pytest.MonkeyPatch, weak: str) -> None:
    env.setenv("SECRET_KEY", weak)
    with pytest.raises(ConfigError) as caught:
        reload_and_load()
    message = str(caught.value)
    assert "SECRET_KEY" in message and GENERATE in message
    assert weak not in message


@pytest.mark.parametrize("good", [  # named, not shown: random ids differ between workers
    pytest.param(secrets.token_urlsafe(48), id="urlsafe-64"),
    pytest.param(secrets.token_urlsafe(24), id="urlsafe-32"),  # exactly 32 characters
    pytest.param(secrets.token_hex(16), id="hex-32"),          # 128 random bits
    pytest.param(secrets.token_hex(32), id="hex-64"),
    SECRET,                      # the tests' own key
    "bench-secret-key-that-is-long-enough-0123456789",  # bench/common.py
])
def test_a_strong_secret_key_is_accepted(env: pytest.MonkeyPatch, good: str) -> None:
    env.setenv("SECRET_KEY", good)
    env.setenv("DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/x")
    assert reload_and_load().secret_key == good


def test_the_example_in_the_readme_is_rejected(env: pytest.MonkeyPatch) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    examples = re.findall(r"^SECRET_KEY=(.*)$", readme, flags=re.MULTILINE)
    assert examples
    for example in examples:
        env.setenv("SECRET_KEY", example)
        with pytest.raises(ConfigError, match="SECRET_KEY"):
            reload_and_load()


def test_what_the_message_says_to_run_is_always_accepted() -> None:
    assert all(weak_secret_reason(secrets.token_urlsafe(48)) is None for _ in range(2000))
    assert all(weak_secret_reason(secrets.token_hex(16)) is None for _ in range(2000))
