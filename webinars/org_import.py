"""Bringing a whole tree (a region and its thousands of schools) in from one CSV file.

The file is checked as a whole first: every bad line is reported with its number and reason and
nothing is written unless every line is good. Then it is written in one transaction. Importing
the same file again changes nothing and says so: a slug that exists is updated (name, level,
zone, parent) or left as it is.

Columns (header names, any order): slug, name, level, parent_slug, timezone. level may be empty
(then "other"), timezone too (then the parent's). UTF-8 with or without a BOM; `;` or `,` between
fields, as spreadsheets write it.

Every reason is a `Reason`: an English text marked for the catalogs, translated where it is
shown (the admin's language on the web; English on the command line), with the file's own
words (slugs, zones, numbers) put in after translation.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from .catalogs import N_, gettext
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


@dataclass(frozen=True)
class Reason:
    """Why a line (or the file) cannot be imported. `text` is an English msgid with named
    fields, marked with N_() where it is written; `column` is the CSV column as the file's
    header names it, the same in every language; `values` are the file's own words."""

    text: str
    column: str = ""
    values: tuple[tuple[str, str | int], ...] = ()

    def say(self, lang: str | None = None) -> str:
        """The reason in `lang` (None: the English text)."""
        text = gettext(lang, self.text) if lang else self.text
        said = text.format(**dict(self.values))
        return f"{self.column}: {said}" if self.column else said


def reason(text: str, column: str = "", **values: str | int) -> Reason:
    return Reason(text, column, tuple(values.items()))


#: A row whose own line is already reported: the rows below it say "line N has a problem".
_REPORTED = Reason("")


class ImportFailed(DomainError):
    """The file cannot be imported; `problems` lists (line number, its reasons), 0 for the
    file as a whole."""

    status_code = 422

    def __init__(self, problems: Sequence[tuple[int, Sequence[Reason]]]) -> None:
        self.problems = [(line, tuple(reasons)) for line, reasons in problems]
        super().__init__("; ".join(f"line {n}: {r}" if n else r for n, r in self.lines()[:20]))

    def lines(self, lang: str | None = None) -> list[tuple[int, str]]:
        """(line number, every reason of that line in `lang`), in the file's order."""
        return [(line, "; ".join(r.say(lang) for r in reasons))
                for line, reasons in self.problems]


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
        raise ImportFailed([(0, [reason(N_("the file is not UTF-8 text (byte {byte})"),
                                        byte=exc.start + 1)])]) from exc
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFailed([(0, [reason(N_("the file is empty"))])]) from None
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise ImportFailed([(1, [reason(N_("missing column(s): {missing}; expected {expected}"),
                                        missing=", ".join(missing),
                                        expected=",".join(COLUMNS))])])
    where = {c: header.index(c) for c in COLUMNS if c in header}
    rows: list[Row] = []
    problems: list[tuple[int, list[Reason]]] = []
    try:
        for cells in reader:
            line = reader.line_num
            if not any(c.strip() for c in cells):
                continue
            if len(cells) != len(header):
                problems.append((line, [reason(N_("has {fields} fields, the header has {header}"),
                                               fields=len(cells), header=len(header))]))
                continue
            value = {c: one_line(cells[i]) for c, i in where.items()}
            rows.append(Row(line, value["slug"], value["name"], value.get("level", ""),
                            value["parent_slug"], value.get("timezone", "")))
            if len(rows) > MAX_ROWS:
                raise ImportFailed([(0, [reason(N_("more than {limit} rows; split the file"),
                                                limit=MAX_ROWS)])])
    except csv.Error as exc:
        problems.append((reader.line_num, [reason(N_("is not valid CSV ({error})"),
                                                  error=str(exc))]))
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
    problems: list[tuple[int, list[Reason]]] = []
    by_slug: dict[str, Row] = {}
    for number, row in enumerate(rows):
        reasons = []
        if not SLUG_RE.match(row.slug):
            reasons.append(reason(N_("use 1-63 lower-case latin letters, digits and hyphens"),
                                  "slug"))
        elif row.slug in by_slug:
            reasons.append(reason(N_("{slug} is already on line {line}"), "slug",
                                  slug=row.slug, line=by_slug[row.slug].line))
        if not row.name or len(row.name) > 200:
            reasons.append(reason(N_("must be 1 to 200 characters"), "name"))
        if row.level and row.level not in ORG_LEVELS:
            reasons.append(reason(N_("must be one of {levels}"), "level",
                                  levels=", ".join(ORG_LEVELS)))
        if row.timezone and not is_timezone(row.timezone):
            reasons.append(reason(N_("{zone} is not an IANA time zone"), "timezone",
                                  zone=row.timezone))
        old = existing.get(row.slug)
        if old is not None and administered is not None and old.id not in administered:
            reasons.append(reason(N_("{slug} belongs to an organization outside your part of "
                                     "the tree"), "slug", slug=row.slug))
        if row.parent_slug == row.slug:
            reasons.append(reason(N_("an organization cannot be its own parent"),
                                  "parent_slug"))
        if reasons:
            problems.append((row.line, reasons))
        by_slug.setdefault(row.slug, row)
        if number % 1000 == 0:
            progress(number, len(rows) * 2)
    # Parents: in the file or stored; within the admin's part; no loops.
    by_id = {org.id: org for org in existing.values()}
    ordered: list[Row] = []
    zone: dict[str, str] = {}
    state: dict[str, int] = {}  # 1: being placed, 2: placed
    failed = {line for line, _ in problems}

    def place(row: Row, depth: int = 0) -> Reason | None:
        """Place the row after its parent; returns a reason when it cannot be placed
        (`_REPORTED` when its own line is already reported)."""
        if state.get(row.slug) == 2:
            return None if row.line not in failed else _REPORTED
        if depth > MAX_DEPTH:
            return reason(N_("more than {limit} levels above {slug}"), "parent_slug",
                          limit=MAX_DEPTH, slug=row.slug)
        state[row.slug] = 1
        why: Reason | None = None
        parent_zone = ""
        if not row.parent_slug:
            old = existing.get(row.slug)
            if administered is not None and (old is None or old.parent_id is not None):
                why = reason(N_("required (the organization it belongs to)"), "parent_slug")
        elif row.parent_slug in by_slug and row.parent_slug != row.slug:
            parent = by_slug[row.parent_slug]
            if state.get(parent.slug) == 1:
                why = reason(N_("{parent} leads back to {slug} (a loop)"), "parent_slug",
                             parent=row.parent_slug, slug=row.slug)
            else:
                below = place(parent, depth + 1)
                if below:
                    why = reason(N_("line {line} has a problem"), "parent_slug",
                                 line=parent.line)
                parent_zone = zone.get(parent.slug, "")
        elif row.parent_slug in existing:
            parent_org = existing[row.parent_slug]
            if administered is not None and parent_org.id not in administered:
                why = reason(N_("{parent} is outside your part of the tree"), "parent_slug",
                             parent=row.parent_slug)
            parent_zone = parent_org.timezone
            # A stored parent must not sit below this row's organization (a loop through
            # stored rows the file does not mention).
            old = existing.get(row.slug)
            if old is not None and parent_org.id in subtree_ids(by_id.values(), [old.id]):
                why = reason(N_("{parent} is below {slug} (a loop)"), "parent_slug",
                             parent=row.parent_slug, slug=row.slug)
        else:
            why = reason(N_("no organization {parent} in the file or stored"), "parent_slug",
                         parent=row.parent_slug)
        old = existing.get(row.slug)
        zone[row.slug] = row.timezone or (old.timezone if old else "") or parent_zone
        if why is None and not zone[row.slug]:
            why = reason(N_("required for an organization without a parent"), "timezone")
        state[row.slug] = 2
        if why is None and row.line not in failed:
            ordered.append(row)
        return why or (_REPORTED if row.line in failed else None)

    for number, row in enumerate(by_slug.values()):
        why = place(row)
        if why and why is not _REPORTED and row.line not in failed:
            problems.append((row.line, [why]))
            failed.add(row.line)
        if number % 1000 == 0:
            progress(len(rows) + number, len(rows) * 2)
    if problems:
        raise ImportFailed(sorted(problems, key=lambda problem: problem[0]))
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
            raise ImportFailed([(later[0].line, [reason(N_("cannot be placed"), "parent_slug")])])
        pending = later
    await session.flush()
    return outcome
