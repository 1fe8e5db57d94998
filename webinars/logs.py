"""Keep secrets out of logs: personal addresses carry tokens in their path."""

from __future__ import annotations

import logging
import re

#: /r/<token>, /j/<token>, /feeds/<token>.ics, /hooks/<platform>/<key>,
#: /account/setup/<token> and what follows them.
SECRET_PATH = re.compile(r"^(/(?:r|j|feeds|account/setup)/|/hooks/[^/?#]+/)[^/?#.]+")


def redact_path(path: str) -> str:
    return SECRET_PATH.sub(r"\1…", path)


class RedactTokens(logging.Filter):
    """For uvicorn's access log, whose record args are (client, method, path, version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact_path(args[2]), *args[3:])
        return True


def install() -> None:
    logging.getLogger("uvicorn.access").addFilter(RedactTokens())
