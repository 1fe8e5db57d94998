"""Independent iCalendar checks: every artefact must pass parsers other than the one that wrote it.

`check_icaljs` parses with ical.js (Node, tests/js) and returns what it read; `check_libical`
parses with libical through GObject introspection, applies the RFC 5546 per-METHOD restrictions
and returns its X-LIC-ERROR lines. Both fail the test loudly when their tool is missing: CI
installs them (`apt-get install gir1.2-ical-3.0 python3-gi`, `cd tests/js && npm install`), and a
check that silently skips is a check that cannot fail. See shared/reference/ical-interop.md, §5.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

JS_DIR = Path(__file__).resolve().parent / "js"
CHECK_MJS = JS_DIR / "check.mjs"
SYSTEM_PYTHON = "/usr/bin/python3"
TIMEOUT = 60

LIBICAL_SCRIPT = r"""
import json, sys
try:
    import gi
    gi.require_version("ICalGLib", "3.0")
    from gi.repository import ICalGLib as I
except (ImportError, ValueError) as exc:
    print(json.dumps({"missing": str(exc)}))
    sys.exit(3)
c = I.Component.new_from_string(open(sys.argv[1], encoding="utf-8").read())
if c is None:
    print(json.dumps({"unparseable": True}))
    sys.exit(2)
c.check_restrictions()  # RFC 5546 per-METHOD table
text = c.as_ical_string().replace("\r\n ", "").replace("\n ", "")
errs = sorted({l.strip() for l in text.splitlines() if l.startswith("X-LIC-ERROR")})
print(json.dumps({"errors": errs}))
"""

#: Google's own exports omit ORGANIZER in PUBLISH; ical-interop.md §5 treats it as a warning.
MISSING_ORGANIZER = ("restrictions for ORGANIZER property. "
                     "Expected 1 instances of the property and got 0")


def _write_temp(data: bytes) -> Path:
    with tempfile.NamedTemporaryFile("wb", suffix=".ics", delete=False) as handle:
        handle.write(data)
        return Path(handle.name)


def check_icaljs(data: bytes) -> list[dict[str, Any]]:
    """Parse with ical.js; return one dict per VEVENT.

    Keys: uid, sequence, start and end (ISO 8601 in UTC, e.g. 2026-12-08T09:00:00.000Z), method,
    status, attendees (a count), summary, location, occurrences (recurring events only).
    A file ical.js rejects fails the test with ical.js's reason.
    """
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not installed: ical.js checks need Node.js (apt-get install nodejs)")
    if not (JS_DIR / "node_modules" / "ical.js").exists():
        pytest.fail("ical.js is not installed: run `cd tests/js && npm install`")
    path = _write_temp(data)
    try:
        proc = subprocess.run([node, str(CHECK_MJS), str(path)], cwd=JS_DIR, capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)
    finally:
        path.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"ical.js check produced no result (exit {proc.returncode}): {proc.stderr}")
    try:
        result = json.loads(lines[-1])
    except ValueError:
        pytest.fail(f"ical.js check printed malformed output (exit {proc.returncode})")
    if "error" in result:
        pytest.fail(f"ical.js rejected the calendar: {result['error']}")
    events: list[dict[str, Any]] = result["events"]
    return events


def check_libical(data: bytes) -> list[str]:
    """Parse with libical and apply RFC 5546 restrictions; return its X-LIC-ERROR lines.

    An empty list means libical found nothing wrong. "PUBLISH without ORGANIZER" is tolerated
    (ical-interop.md §5). A file libical cannot parse at all fails the test.
    """
    if not Path(SYSTEM_PYTHON).exists():
        pytest.fail(f"{SYSTEM_PYTHON} is missing: libical checks run with the system Python")
    path = _write_temp(data)
    try:
        proc = subprocess.run([SYSTEM_PYTHON, "-c", LIBICAL_SCRIPT, str(path)],
                              capture_output=True, text=True, timeout=TIMEOUT, check=False)
    finally:
        path.unlink(missing_ok=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if not lines:
        pytest.fail(f"libical check produced no result (exit {proc.returncode}): {proc.stderr}")
    result = json.loads(lines[-1])
    if "missing" in result:
        pytest.fail("libical's GObject bindings are missing: apt-get install gir1.2-ical-3.0 "
                    f"python3-gi ({result['missing']})")
    if result.get("unparseable"):
        pytest.fail("libical could not parse the calendar at all")
    errors: list[str] = result["errors"]
    publish = re.search(rb"(^|\n)METHOD:PUBLISH\r?\n", data) is not None
    return [e for e in errors if not (publish and MISSING_ORGANIZER in e)]


def check_lines(data: bytes) -> list[str]:
    """RFC 5545 §3.1 at the byte level: UTF-8, every line ends in CRLF, none over 75 octets.

    Returns the problems found (empty when the bytes are well-formed).
    """
    problems: list[str] = []
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"not UTF-8: {exc}")
    if not data.endswith(b"\r\n"):
        problems.append("the last line does not end in CRLF")
    if b"\r\r" in data:
        problems.append("doubled CR")
    for number, line in enumerate(data.split(b"\r\n"), start=1):
        if b"\n" in line:
            problems.append(f"line {number}: bare LF")
        if b"\r" in line:
            problems.append(f"line {number}: bare CR")
        if len(line) > 75:
            problems.append(f"line {number}: {len(line)} octets (limit 75)")
    return problems
