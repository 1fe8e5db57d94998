"""Personal tokens never reach the logs."""

from __future__ import annotations

import logging

import pytest

from webinars.logs import RedactTokens, redact_path


@pytest.mark.parametrize(("path", "shown"), [
    ("/r/AbC-_secret", "/r/…"),
    ("/r/AbC-_secret.ics", "/r/….ics"),
    ("/r/AbC-_secret/cancel", "/r/…/cancel"),
    ("/j/AbC-_secret?x=1", "/j/…?x=1"),
    ("/feeds/AbC-_secret.ics", "/feeds/….ics"),
    ("/w/0123abcd", "/w/0123abcd"),
    ("/dashboard", "/dashboard"),
])
def test_token_paths_are_redacted(path: str, shown: str) -> None:
    assert redact_path(path) == shown


def test_uvicorn_access_lines_lose_the_token(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("uvicorn.access.test")
    logger.addFilter(RedactTokens())
    with caplog.at_level(logging.INFO, logger="uvicorn.access.test"):
        logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/r/s3cr3t-token", "1.1",
                    200)
    assert "s3cr3t-token" not in caplog.text and '"GET /r/… HTTP/1.1" 200' in caplog.text
