"""Reading API input at the edge: the JSON body and query filters (path ids: `web.routing`).

Nothing here trusts the client: sizes are capped before parsing, every string is checked to be
encodable, and every failure becomes a 4xx with the field and the reason, never a 500.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request

from . import formats
from .openapi import INSTANT_FILTER, MAX_BODY_BYTES, SCHEMAS

_TYPE_NAMES = {"string": "a string", "integer": "an integer", "boolean": "true or false",
               "array": "a list", "object": "an object", "null": "null"}
_DIGITS = re.compile(r"[0-9]{1,12}")
#: Reasons that say more than "must be one of" a list of hundreds.
_REF_REASONS = {"TimeZone": "is not a known IANA time zone (e.g. Europe/Moscow)"}


async def read_json(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 415 if it is not JSON, 413 if too large, 400 if malformed."""
    content_type = request.headers.get("content-type")
    if content_type is not None:
        media = content_type.split(";")[0].strip().lower()
        if media != "application/json" and not (
            media.startswith("application/") and media.endswith("+json")
        ):
            raise HTTPException(415, "send the body as application/json")
    length = request.headers.get("content-length")
    if length is not None:
        if not _DIGITS.fullmatch(length):
            raise HTTPException(400, "malformed Content-Length")
        if int(length) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPException(413, f"the body must be at most {MAX_BODY_BYTES} bytes")
    try:
        data = json.loads(bytes(body))
    except (ValueError, RecursionError) as exc:  # bad UTF-8, bad JSON, absurd numbers, nesting
        raise HTTPException(400, "the body is not valid JSON") from exc
    if not isinstance(data, dict):
        raise HTTPException(400, "the body must be a JSON object")
    if not _encodable(data):
        raise HTTPException(400, "the body contains text that is not valid Unicode")
    return data


def _encodable(data: Any) -> bool:
    """False if any key or string holds a lone surrogate (JSON allows it, UTF-8 does not)."""
    stack = [data]
    while stack:
        item = stack.pop()
        strings: list[Any] = []
        if isinstance(item, dict):
            strings.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            strings.append(item)
        for text in strings:
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                return False
    return True


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _integral(value: Any) -> Any:
    """JSON Schema counts 5.0 as an integer; so do we."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _matches(pattern: str, text: str) -> bool:
    """`pattern` as JSON Schema reads it (ECMA-262), where `$` never matches before a newline."""
    match = re.search(pattern, text)
    return match is not None and (not pattern.endswith("$") or match.end() == len(text))


def check_value(value: Any, schema: Mapping[str, Any]) -> tuple[Any, str | None]:
    """Check one value against a (small) JSON Schema; return it normalised, or the reason."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        value, reason = check_value(value, SCHEMAS[name])
        return value, _REF_REASONS.get(name, reason) if reason else None
    value = _integral(value)
    types = schema.get("type")
    allowed = [types] if isinstance(types, str) else list(types or [])
    if allowed and _type_of(value) not in allowed:
        return value, "must be " + " or ".join(_TYPE_NAMES[t] for t in allowed)
    if value is None:
        return value, None
    if "enum" in schema and value not in schema["enum"]:
        return value, f"must be one of {', '.join(schema['enum'])}"
    if isinstance(value, str):
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            return value, f"must be at most {schema['maxLength']} characters"
        if "minLength" in schema and len(value) < schema["minLength"]:
            return value, f"must be at least {schema['minLength']} characters"
        if "pattern" in schema and not _matches(schema["pattern"], value):
            return value, "is not in the documented form"
        if "format" in schema and not formats.CHECKERS[schema["format"]](value):
            return value, formats.REASONS[schema["format"]]
        if "anyOf" in schema:
            reasons = [check_value(value, branch)[1] for branch in schema["anyOf"]]
            if None not in reasons:
                return value, next(r for r in reasons if r != "is not in the documented form")
    if isinstance(value, int) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            return value, f"must be at least {schema['minimum']}"
        if "maximum" in schema and value > schema["maximum"]:
            return value, f"must be at most {schema['maximum']}"
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return value, f"must have at most {schema['maxItems']} items"
        items: list[Any] = []
        for item in value:
            item, reason = check_value(item, schema.get("items", {}))
            if reason:
                return value, f"each item {reason}"
            items.append(item)
        value = items
    return value, None


def check_shape(data: Mapping[str, Any], schema: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                             dict[str, str]]:
    """Check a body against its request schema from the OpenAPI document.

    Returns the normalised body and `{field: reason}` for unknown, missing and mistyped fields;
    the domain validator then applies the rules a schema cannot express.
    """
    properties: Mapping[str, Any] = schema["properties"]
    fields: dict[str, str] = {}
    result: dict[str, Any] = {}
    for name, value in data.items():
        if name not in properties:
            fields[name] = "is not a known field"
            continue
        result[name], reason = check_value(value, properties[name])
        if not reason and name == "start":
            result[name], reason = start_value(result[name])
        if reason:
            fields[name] = reason
    for name in schema.get("required", []):
        if name not in data:
            fields[name] = "is required"
    return result, fields


def start_value(value: Any) -> tuple[Any, str | None]:
    """The documented start in a form the domain validator reads, or why it cannot be.

    Dates at the ends of the calendar are refused here, where converting zones would overflow.
    """
    text = formats.to_python(value)
    if text is None:
        return value, "must be in the future and within five years"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return value, "must be a real date and time, e.g. 2027-03-01T15:00"
    if not 2 <= parsed.year <= 9998:
        return value, "must be in the future and within five years"
    return text, None


def query_int(raw: str | None, name: str, fields: dict[str, str], *, default: int,
              minimum: int, maximum: int) -> int:
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw.strip()):
        fields[name] = "must be a whole number"
        return default
    value = int(raw.strip())
    if not minimum <= value <= maximum:
        fields[name] = f"must be between {minimum} and {maximum}"
        return default
    return value


def query_instant(raw: str | None, name: str, fields: dict[str, str], *,
                  end_of_day: bool) -> datetime | None:
    """A date (midnight UTC; with `end_of_day` the next midnight) or date and time.

    The forms are those `openapi.INSTANT_FILTER` documents. An instant beyond what Python
    holds (the year 0000, or 0001-01-01 with a positive offset) is clamped to the calendar's
    end: as a filter it includes or excludes everything, like any other far date.
    """
    if raw is None:
        return None
    if check_value(raw, INSTANT_FILTER)[1] is not None:
        fields[name] = "must be a date or date and time, e.g. 2027-03-01 or 2027-03-01T12:00:00Z"
        return None
    text = formats.to_python(raw)
    if text is None:  # the year 0000
        return datetime.min.replace(tzinfo=UTC)
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            instant = datetime(day.year, day.month, day.day, tzinfo=UTC)
            if end_of_day:
                return datetime.max.replace(tzinfo=UTC) if day == date.max else (
                    instant + timedelta(days=1))
            return instant
        parsed = datetime.fromisoformat(text)
    except ValueError:  # 2027-02-30T10:00 has the documented form, but no such day exists
        fields[name] = "must be a real date, e.g. 2027-03-01"
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        end = datetime.min if parsed.year == 1 else datetime.max
        return end.replace(tzinfo=UTC)
