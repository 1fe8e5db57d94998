"""Bringing a whole tree (a region and its thousands of schools) in from one CSV file.

The file is checked as a whole first: every bad line is reported with its number and reason and
nothing is written unless every line is good. Then it is written in one transaction. Importing
the same file again changes nothing and says so: a slug that exists is updated (name, level,
zone, parent) or left as it is.

Columns (header names, any order): slug, name, level, parent_slug, timezone. level may be empty
(then "other"), timezone too (then the parent's). UTF-8 with or without a BOM; `;` or `,` between
fields, as spreadsheets write it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .clock import Clock
from .errors import DomainError
from .models import ORG_LEVELS, Organization
from .organizations import SLUG_RE, all_organizations, subtree_ids
from .timezones import is_timezone
from .validation import one_line

COLUMNS = ("slug", "name", "level", "parent_slug", "timezone")
REQUIRED = ("slug", "name", "parent_slug")
MAX_ROWS = 50_000
#: Deeper chains are surely a mistake (the union has four levels) and would exhaust the stack.
MAX_DEPTH = 30
#: progress(done, total): called now and then while checking and while writing.
Progress = Callable[[int, int], None]


class ImportFailed(DomainError):
    """The file cannot be imported; `problems` lists (line number, reason), 0 for the file."""

    status_code = 422

    def __init__(self, problems: list[tuple[int, str]]) -> None:
        super().__init__("; ".join(f"line {n}: {r}" if n else r for n, r in problems[:20]))
        self.problems = problems


@dataclass(frozen=True)
class Row:
    line: int
    slug: str
    name: str
    level: str
    parent_slug: str
    timezone: str


@dataclass
class Outcome:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def _no_progress(done: int, total: int) -> None:
    return None


def read_rows(data: bytes) -> list[Row]:
    """The file's rows, or ImportFailed naming every line that cannot be read."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFailed([(0, f"the file is not UTF-8 text (byte {exc.start + 1})")]) from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFailed([(0, "the file is empty")]) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        reason = f"missing column(s): {', '.join(missing)}; expected {','.join(COLUMNS)}"
        raise ImportFailed([(1, reason)])
    where = {c: header.index(c) for c in COLUMNS if c in header}
    rows: list[Row] = []
    problems: list[tuple[int, str]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append((line, f"has {len(cells)} fields, the header has {len(header)}"))
                continue
            value = {c: one_line(cells[i]) for c, i in where.items()}
            rows.append(Row(line, value["slug"], value["name"], value.get("level", ""),
                            value["parent_slug"], value.get("timezone", "")))
            if len(rows) > MAX_ROWS:
                raise ImportFailed([(0, f"more than {MAX_ROWS} rows; split the file")])
    except csv.Error as exc:
        problems.append((reader.line_num, f"is not valid CSV ({exc})"))
    if problems:
        raise ImportFailed(problems)
    return rows


def check_rows(rows: list[Row], existing: dict[str, Organization],
               administered: set[int] | None, progress: Progress = _no_progress) -> list[Row]:
    """The rows parents first, zones filled in; or ImportFailed listing every bad line.

    `administered`: the organizations the importing admin manages (None: anywhere, the CLI).
    Within it, an existing slug may be updated and a parent may be named; a row without a
    parent only names an existing top organization.
    """
    problems: list[tuple[int, str]] = []
    by_slug: dict[str, Row] = {}
    for number, row in enumerate(rows):
        reasons = []
        if not SLUG_RE.match(row.slug):
            reasons.append("slug: use 1-63 lower-case latin letters, digits and hyphens")
        elif row.slug in by_slug:
            reasons.append(f"slug: {row.slug} is already on line {by_slug[row.slug].line}")
        if not row.name or len(row.name) > 200:
            reasons.append("name: must be 1 to 200 characters")
        if row.level and row.level not in ORG_LEVELS:
            reasons.append(f"level: must be one of {', '.join(ORG_LEVELS)}")
        if row.timezone and not is_timezone(row.timezone):
            reasons.append(f"timezone: {row.timezone} is not an IANA time zone")
        old = existing.get(row.slug)
        if old is not None and administered is not None and old.id not in administered:
            reasons.append(f"slug: {row.slug} belongs to an organization outside your part "
                           "of the tree")
        if row.parent_slug == row.slug:
            reasons.append("parent_slug: an organization cannot be its own parent")
        if reasons:
            problems.append((row.line, "; ".join(reasons)))
        by_slug.setdefault(row.slug, row)
        if number % 1000 == 0:
            progress(number, len(rows) * 2)
    # Parents: in the file or stored; within the admin's part; no loops.
    by_id = {org.id: org for org in existing.values()}
    ordered: list[Row] = []
    zone: dict[str, str] = {}
    state: dict[str, int] = {}  # 1: being placed, 2: placed
    failed = {line for line, _ in problems}

    def place(row: Row, depth: int = 0) -> str | None:
        """Place the row after its parent; returns a reason when it cannot be placed."""
        if state.get(row.slug) == 2:
            return None if row.line not in failed else "bad"
        if depth > MAX_DEPTH:
            return f"parent_slug: more than {MAX_DEPTH} levels above {row.slug}"
        state[row.slug] = 1
        reason: str | None = None
        parent_zone = ""
        if not row.parent_slug:
            old = existing.get(row.slug)
            if administered is not None and (old is None or old.parent_id is not None):
                reason = "parent_slug: required (the organization it belongs to)"
        elif row.parent_slug in by_slug and row.parent_slug != row.slug:
            parent = by_slug[row.parent_slug]
            if state.get(parent.slug) == 1:
                reason = f"parent_slug: {row.parent_slug} leads back to {row.slug} (a loop)"
            else:
                below = place(parent, depth + 1)
                if below:
                    reason = f"parent_slug: line {parent.line} has a problem"
                parent_zone = zone.get(parent.slug, "")
        elif row.parent_slug in existing:
            parent_org = existing[row.parent_slug]
            if administered is not None and parent_org.id not in administered:
                reason = f"parent_slug: {row.parent_slug} is outside your part of the tree"
            parent_zone = parent_org.timezone
            # A stored parent must not sit below this row's organization (a loop through
            # stored rows the file does not mention).
            old = existing.get(row.slug)
            if old is not None and parent_org.id in subtree_ids(by_id.values(), [old.id]):
                reason = f"parent_slug: {row.parent_slug} is below {row.slug} (a loop)"
        else:
            reason = f"parent_slug: no organization {row.parent_slug} in the file or stored"
        old = existing.get(row.slug)
        zone[row.slug] = row.timezone or (old.timezone if old else "") or parent_zone
        if reason is None and not zone[row.slug]:
            reason = "timezone: required for an organization without a parent"
        state[row.slug] = 2
        if reason is None and row.line not in failed:
            ordered.append(row)
        return reason or ("bad" if row.line in failed else None)

    for number, row in enumerate(by_slug.values()):
        reason = place(row)
        if reason and reason != "bad" and row.line not in failed:
            problems.append((row.line, reason))
            failed.add(row.line)
        if number % 1000 == 0:
            progress(len(rows) + number, len(rows) * 2)
    if problems:
        raise ImportFailed(sorted(problems))
    progress(len(rows) * 2, len(rows) * 2)
    return [Row(r.line, r.slug, r.name, r.level or "other", r.parent_slug, zone[r.slug])
            for r in ordered]


async def import_tree(session: AsyncSession, clock: Clock, data: bytes, *,
                      administered: set[int] | None = None,
                      progress: Progress = _no_progress) -> Outcome:
    """Check the whole file, then write it (the caller commits: one transaction)."""
    rows = read_rows(data)
    orgs = await all_organizations(session)
    existing = {org.slug: org for org in orgs}
    ordered = check_rows(rows, existing, administered, progress)
    outcome = Outcome()
    now = clock.now()
    ids = {org.slug: org.id for org in orgs}
    total = len(ordered)
    done = 0
    # Parents come before their children: insert level by level (one executemany each) so
    # a child's parent id is known when it is written.
    pending = list(ordered)
    while pending:
        ready = [r for r in pending if not r.parent_slug or r.parent_slug in ids]
        later = [r for r in pending if r.parent_slug and r.parent_slug not in ids]
        new = [r for r in ready if r.slug not in existing]
        for row in ready:
            old = existing.get(row.slug)
            if old is None:
                continue
            parent_id = ids[row.parent_slug] if row.parent_slug else None
            values = (row.name, row.level, row.timezone, parent_id)
            if (old.name, old.level, old.timezone, old.parent_id) == values:
                outcome.unchanged.append(row.slug)
            else:
                old.name, old.level, old.timezone, old.parent_id = values
                outcome.updated.append(row.slug)
        if new:
            inserted = await session.execute(
                insert(Organization).returning(Organization.id, Organization.slug),
                [{"slug": r.slug, "name": r.name, "level": r.level, "timezone": r.timezone,
                  "parent_id": ids[r.parent_slug] if r.parent_slug else None,
                  "created_at": now} for r in new])
            ids.update({slug: id_ for id_, slug in inserted.all()})
            outcome.created.extend(r.slug for r in new)
        done += len(ready)
        progress(done, total)
        if not ready:  # cannot happen after check_rows; never loop forever
            raise ImportFailed([(later[0].line, "parent_slug: cannot be placed")])
        pending = later
    await session.flush()
    return outcome
