"""A curated mutation run: does the suite notice when a rule that matters is broken?

Each mutant is one small, plausible change to the code that holds a rule (a registration's
seats, an attendee's SEQUENCE, what a feed shows, what input is refused, what is never sent).
For each, a copy of the repository gets the change and the tests that cover that module run
against it on SQLite; the mutant is *killed* when they fail. Survivors are behaviour no test
pins. Not part of the timed suite: run it in the background.

    .venv/bin/python scripts/mutants.py              # every mutant, two at a time
    .venv/bin/python scripts/mutants.py --group feeds --jobs 1
    .venv/bin/python scripts/mutants.py --list

tests/test_mutants.py checks in the suite that every mutant still applies to the code, so a
refactor cannot silently turn the run into a run of no-ops.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutant:
    group: str
    path: str
    find: str
    replace: str
    what: str


def m(group: str, path: str, find: str, replace: str, what: str) -> Mutant:
    return Mutant(group, path, find, replace, what)


R, D, F, V = "registrations", "deliveries", "feeds", "validation"
I = C = "itip/calendars"
REG, DEL, FEE, VAL = ("webinars/registrations.py", "webinars/deliveries.py", "webinars/feeds.py",
                      "webinars/validation.py")
NOT = "workers/notifications.py"
ITIP, CAL = "webinars/itip.py", "webinars/calendars.py"
WRK, CHK = "workers/deliveries.py", "workers/recheck.py"

MUTANTS: list[Mutant] = [
    # --- registrations: seats, revival, cancelling, limits, proof ---------------------------
    m(R, REG, "Webinar.registered_count < Webinar.capacity",
      "Webinar.registered_count <= Webinar.capacity", "one seat more than the capacity"),
    m(R, REG, "or_(Webinar.capacity.is_(None), Webinar.registered_count < Webinar.capacity)",
      "Webinar.registered_count < Webinar.capacity", "no seats at all without a capacity"),
    m(R, REG, "update(Webinar).where(Webinar.id == webinar_id, Webinar.registered_count > 0)",
      "update(Webinar).where(Webinar.registered_count > 0)",
      "cancelling frees a seat on every webinar"),
    m(R, REG, ".values(registered_count=Webinar.registered_count - 1)",
      ".values(registered_count=Webinar.registered_count)", "cancelling frees no seat"),
    m(R, REG, "    if not webinar.registration_open or webinar.registration_mode == "
      "RegistrationMode.CLOSED:\n        raise",
      "    if False:\n        raise", "registration while it is closed"),
    m(R, REG, 'if webinar.status != "scheduled" or closes_at(webinar) <= clock.now():',
      "if closes_at(webinar) <= clock.now():", "registration for a draft"),
    m(R, REG, "    if is_series(webinar):\n        return max(",
      "    if False:\n        return max(", "a course closes registration at its first session"),
    m(R, REG, "if existing is not None and existing.status != RegistrationStatus.CANCELLED:",
      "if False:", "a second registration of one address"),
    m(R, REG, "        registration.token = new_token()\n", "",
      "registering again keeps the old personal token"),
    m(R, REG, "        registration.join_token = new_token()\n", "",
      "registering again keeps the old join token"),
    m(R, REG, "        registration.address_confirmed_at = None\n", "",
      "registering again keeps the previous holder's proof"),
    m(R, REG, "        registration.sequence_offset += 1  # the new invitation", "        pass  #",
      "the invitation after a CANCEL repeats its SEQUENCE"),
    m(R, REG, "    registration.sequence_offset += 1  # their CANCEL", "    pass  #",
      "a registration's CANCEL is not above what they hold"),
    m(R, REG, "    if registration.status in (RegistrationStatus.CANCELLED, RegistrationStatus.DECLINED"
      "):\n        return registration\n    now = clock.now()\n    held_seat = registration."
      "status == RegistrationStatus.CONFIRMED\n    registration.status = status",
      "    if False:\n        return registration\n    now = clock.now()\n    held_seat = "
      "registration.status == RegistrationStatus.CONFIRMED\n    registration.status = status",
      "cancelling twice frees two seats"),
    m(R, REG, "    if wait:\n        raise limits.RateLimited",
      "    if False:\n        raise limits.RateLimited", "no registration limit"),
    m(R, REG, "            session, prefix, prefix + address,",
      "            session, prefix, prefix,", "a client's addresses are not told apart"),
    m(R, REG, "    if not proof_matches(secret, registration.token, proof):",
      "    if not proof:", "any proof confirms an address"),
    m(R, REG, "        select(Registration).where(Registration.join_token == join_token))",
      "        select(Registration).where(Registration.token == join_token))",
      "the personal token opens the join address"),
    m(R, REG, "        await session.execute(  # feeds made from its page",
      "        if False: await session.execute(  # feeds made from its page",
      "the one who cancelled keeps their feeds tied to the revived registration"),

    # --- deliveries written by changes -----------------------------------------------------
    m(D, DEL, "        if due > now:", "        if due > now - timedelta(minutes=5):",
      "a reminder whose moment passed a minute ago is planned"),
    m(D, DEL, 'Delivery.status.in_(("pending", "sending"))', 'Delivery.status == "pending"',
      "rows out with a worker are not superseded"),
    m(D, DEL, "    if registration_id is not None:\n        stmt",
      "    if False:\n        stmt", "cancelling one registration supersedes everyone's mail"),
    m(D, NOT, "kinds=ALL_KINDS,\n                               registration_id=registration.id)",
      "kinds=(DeliveryKind.INVITATION,),\n                               registration_id=registration.id)",
      "a cancelled registration keeps its reminders"),
    m(D, NOT, "[DeliveryKind.REMINDER] if replan else []", "[]",
      "a move keeps the old reminders"),
    m(D, NOT, "        if replan:\n            rows +=", "        if False:\n            rows +=",
      "a move plans no new reminders"),
    m(D, NOT, "max(end, now), now))", "now, now))", "the follow-up goes before the end"),
    m(D, NOT, "                                      Registration.status == RegistrationStatus"
              ".CONFIRMED,\n", "", "cancelled registrations get the webinar's mail"),

    # --- the worker's claim and re-check (workers/recheck.py), giving up (deliveries.py) ------
    m(D, CHK, "        return max(current, held + 1 if held is not None else 0), \"\"",
      "        return max(current, held if held is not None else 0), \"\"",
      "a CANCEL may repeat the SEQUENCE the attendee holds"),
    m(D, CHK, "            return max(current, held + 1), \"\"",
      "            return max(current, held), \"\"",
      "the invitation after a CANCEL repeats its SEQUENCE"),
    m(D, CHK, "    current = webinar.sequence + row.sequence_offset",
      "    current = webinar.sequence", "the attendee's offset is ignored"),
    m(D, CHK, "        if confirmed and not cancelled:\n            return None, \"registered again\"",
      "        if False:\n            return None, \"registered again\"",
      "a CANCEL goes out after they registered again"),
    m(D, CHK, "    if row.kind in (\"reminder\", \"followup\", \"deadline\") and row.reminders_off:",
      "    if False:", "reminders go out after one-click unsubscribe"),
    m(D, CHK, "        if webinar.status != \"scheduled\":\n            return None, \"the webinar is not",
      "        if False:\n            return None, \"the webinar is not",
      "reminders for a draft"),
    m(D, CHK, "        if series.ends_at(webinar) <= now:",
      "        if series.ends_at(webinar) < now - timedelta(hours=1):",
      "mail for a webinar that ended up to an hour ago"),
    m(D, CHK, "    return (first_try and planned != row.due_at) or (not first_try and planned > row.due_at)",
      "    return first_try and planned != row.due_at",
      "a retried reminder ignores that the webinar moved"),
    m(D, CHK, "        if not (webinar.recording_url or webinar.followup_note):",
      "        if not webinar.recording_url:", "a follow-up with only a note is dropped"),
    m(D, CHK, "        if (row.kind == \"update\" and held >= current",
      "        if (row.kind == \"update\" and held >= current - 1",
      "an update is dropped although the attendee holds an older version"),
    m(D, CHK, "unindexed(and_(Delivery.status == \"pending\", Delivery.due_at <= now + EARLY))",
      "unindexed(Delivery.status == \"pending\")",
      "rows are claimed (and sent) before they are due"),
    m(D, CHK, "unindexed(and_(Delivery.status == \"pending\", Delivery.due_at <= now + EARLY))",
      "unindexed(Delivery.due_at <= now + EARLY)", "two workers both claim a row"),
    m(D, WRK, "        if attempts >= MAX_ATTEMPTS:", "        if attempts >= MAX_ATTEMPTS * 100:",
      "a delivery is never given up"),
    m(D, CHK, "        trusted = r.address_confirmed_at is not None or r.registered_by_id is not None",
      "        trusted = True", "a stranger's typed name greets the mailbox"),

    # --- feeds ------------------------------------------------------------------------------
    m(F, FEE, "    if origin.address_confirmed_at is None:\n        return Registration.id == origin.id",
      "    if False:\n        return Registration.id == origin.id",
      "an unproven feed counts every registration of its address"),
    m(F, FEE, "        or_(Registration.created_at <= origin.address_confirmed_at,",
      "        or_(Registration.created_at.is_not(None),",
      "later registrations join without their own link"),
    m(F, FEE, "        _covered(origin), Registration.status == \"confirmed\"))).all())",
      "        _covered(origin)))).all())", "a cancelled registration still hides its event"),
    m(F, FEE, '             Webinar.visibility == "public",\n', "",
      "unlisted webinars in the plans"),
    m(F, FEE, "             Webinar.status.in_(PUBLISHED_STATUSES),\n", "",
      "drafts in the plans"),
    m(F, FEE, "             Webinar.start_at >= since)",
      "             Webinar.start_at.is_not(None))",
      "feeds never let old events go"),
    m(F, FEE, "PAST_WINDOW = timedelta(days=366)", "PAST_WINDOW = timedelta(days=30)",
      "past events leave after a month"),
    m(F, FEE, "    if feed is None or feed.revoked_at is not None:", "    if feed is None:",
      "a revoked feed keeps working"),
    m(F, FEE, "                      registration_id=registration.id, token_hash",
      "                      registration_id=None, token_hash",
      "a feed forgets the registration it was made from"),
    m(F, FEE, "    return [w for w in plans if w.id not in covered]", "    return plans",
      "registered events show twice (feed and invitation)"),
    m(F, FEE, "        moments.extend(", "        (",
      "Last-Modified ignores the registrations the feed counts"),
    m(F, FEE, "    return max(org.plan_changed_at or org.created_at for org in orgs)",
      "    return max(org.created_at for org in orgs)", "Last-Modified ignores plan changes"),
    m(F, FEE, '            if registration.status == "confirmed" else None)',
      "            )", "a cancelled registration's download keeps the join address"),

    # --- validation -------------------------------------------------------------------------
    m(V, VAL, "    value = clean_text(value) if multiline else one_line(value)",
      "    value = value.strip()", "control characters are stored"),
    m(V, VAL, "\\u2028\\u2029\\u202a-\\u202e\\u2066-\\u2069]+\")\n#: In longer text",
      "\\u2028\\u2029]+\")\n#: In longer text",
      "bidi overrides (U+202E) stay in names and titles"),
    m(V, VAL, "    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:",
      "    if False:", "a time the clocks skip is accepted"),
    m(V, VAL, "    return first, (\"occurs twice",
      "    return first, None\n    return first, (\"occurs twice",
      "a time that occurs twice is accepted"),
    m(V, VAL, "    if instant <= clock.now():\n        errors[\"start\"] = \"must be in the future\"",
      "    if instant < clock.now() - timedelta(days=1):\n"
      "        errors[\"start\"] = \"must be in the future\"", "a start in the past is accepted"),
    m(V, VAL, "    if instant > clock.now() + timedelta(days=5 * 366):",
      "    if instant > clock.now() + timedelta(days=50 * 366):", "a start decades away"),
    m(V, VAL, "        if not 1 <= minutes <= MAX_REMINDER:", "        if not 0 <= minutes <= MAX_REMINDER:",
      "a reminder at the very start"),
    m(V, VAL, "    if len(result) > 5:", "    if len(result) > 6:", "six reminders"),
    m(V, VAL, "    if any(not atom or set(atom) & _NOT_IN_ATOM for atom in local.split(\".\")):",
      "    if any(set(atom) & _NOT_IN_ATOM for atom in local.split(\".\")):",
      "an address with an empty atom (a..b@x)"),
    m(V, VAL, "    elif value > maximum:", "    elif value > maximum * 10:", "numbers above the maximum"),
    m(V, VAL, "    if not isinstance(value, str) or not is_timezone(value):",
      "    if not isinstance(value, str):", "any string is a time zone"),
    m(V, VAL, "    if \"\\x00\" in value:\n        errors[name] = \"contains a NUL character\"",
      "    if False:\n        errors[name] = \"contains a NUL character\"", "NUL characters pass"),
    m(V, VAL, "    if first < today and (current is None or first != current[0]):",
      "    if first < today and current is None:",
      "a running period's start moves to another past day"),
    m(V, VAL, "    if last < today and (current is None or last != current[1]):",
      "    if last < today and current is None:", "a running period ends before today"),

    # --- itip and calendars ---------------------------------------------------------------------
    m(I, ITIP, "    offsets = [m for m in (webinar.reminder_offsets or []) if 0 < m <= 24 * 60]",
      "    offsets = [m for m in (webinar.reminder_offsets or []) if 0 < m < 24 * 60]",
      "the invitation's alarm ignores a one-day reminder"),
    m(I, ITIP, '        event.add("STATUS", "CONFIRMED" if method == REQUEST else "CANCELLED")',
      '        event.add("STATUS", "CONFIRMED")', "a CANCEL says CONFIRMED"),
    m(I, ITIP, "        if method == REQUEST:\n            alarm = Alarm()",
      "        if True:\n            alarm = Alarm()", "a CANCEL carries an alarm"),
    m(I, ITIP, "        links = EventLinks(page_url=links.page_url, join_url=None)\n    master = vevent",
      "        pass\n    master = vevent", "a CANCEL keeps the join link"),
    m(I, ITIP, '    address.params["RSVP"] = "TRUE"', '    address.params["RSVP"] = "FALSE"',
      "no RSVP buttons"),
    m(I, ITIP, "        if cut - 1 > start and line[cut - 1] in b\"\\\\^\":",
      "        if False:", "folding splits an escape"),
    m(C, CAL, "    return \" \".join(name.replace('\"', \"'\").replace(\"^\", \" \").split())",
      "    return \" \".join(name.split())", "a CN that needs RFC 6868 escapes"),
    m(C, CAL, '    event.add("DTEND", end_at(webinar))', '    event.add("DTEND", webinar.start_at)',
      "events end when they start"),
    m(C, CAL, '    event.add("LOCATION", links.join_url or links.page_url)',
      '    event.add("LOCATION", links.page_url)', "the join address is not the location"),
    m(C, CAL, "    if item.webinar.status == \"cancelled\" and links.join_url:",
      "    if False:", "a cancelled event in a feed keeps the join link"),
    m(C, CAL, "        if \"ATTENDEE\" in event:\n            raise",
      "        if False:\n            raise", "a published calendar may list attendees"),
    m(C, CAL, "               item.links.page_url, item.links.join_url, list(item.categories)]",
      "               item.links.page_url, list(item.categories)]",
      "two registrants' downloads share one cached file (and join address)"),
    m(C, CAL, "                   dtstamp=item.webinar.updated_at, sequence=item.sequence)",
      "                   dtstamp=item.webinar.updated_at)",
      "the personal download carries the webinar's SEQUENCE, not the attendee's"),
    m(C, CAL, '        dates = f"{_utc_compact(webinar.start_at)}/{_utc_compact(meeting_end(webinar))}"',
      '        dates = f"{_utc_compact(webinar.start_at)}/{_utc_compact(webinar.start_at)}"',
      "Google's add link ends at the start"),
    m(C, CAL, '        params.update(ctz=webinar.timezone, recur=recur)',
      '        params.update(recur=recur)', "a course's Google link in the reader's zone"),
]

#: The tests that cover each group (run on SQLite, stopping at the first failure).
TESTS: dict[str, list[str]] = {
    "registrations": ["tests/test_registration.py", "tests/test_scheduling.py",
                      "tests/test_member_mail.py", "tests/test_feeds.py", "tests/test_limits.py",
                      "tests/test_capacity_race.py", "tests/test_join.py", "tests/test_api.py",
                      "tests/test_series.py"],
    "deliveries": ["tests/test_scheduling.py", "tests/test_deliveries.py",
                   "tests/test_member_mail.py", "tests/test_registration.py",
                   "tests/test_faults.py", "tests/test_worker_stop.py"],
    "feeds": ["tests/test_feeds.py", "tests/test_calendars.py", "tests/test_registration.py"],
    "validation": ["tests/test_api_validation.py", "tests/test_input_hygiene.py",
                   "tests/test_registration.py", "tests/test_organizer_pages.py",
                   "tests/test_api.py"],
    "itip/calendars": ["tests/test_itip.py", "tests/test_calendars.py", "tests/test_mail.py",
                       "tests/test_member_mail.py", "tests/test_feeds.py"],
}


def check_applies(mutant: Mutant) -> str:
    """The mutated source, after checking the snippet is there exactly once."""
    source = (ROOT / mutant.path).read_text()
    found = source.count(mutant.find)
    if found != 1:
        raise ValueError(f"{mutant.path}: {mutant.what!r} matches {found} places")
    return source.replace(mutant.find, mutant.replace)


def copy_repository(into: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for name in filter(None, files):
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    modules = ROOT / "tests" / "js" / "node_modules"
    if modules.exists():  # ical.js, the independent parser the tests use
        (into / "tests" / "js" / "node_modules").symlink_to(modules)


def run_tests(copy: Path, files: list[str], redis_db: int) -> bool:
    """True when the tests pass (the mutant survives)."""
    env = {**os.environ, "PYTHONPATH": str(copy), "TEST_REDIS_DB": str(redis_db)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-k", "not postgresql", *files],
        check=False, cwd=copy, env=env, capture_output=True, timeout=1800)
    return result.returncode == 0


def trial(mutant: Mutant | None, files: list[str], redis_db: int) -> bool:
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        copy = Path(tmp)
        copy_repository(copy)
        if mutant is not None:
            (copy / mutant.path).write_text(check_applies(mutant))
        return run_tests(copy, files, redis_db)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", choices=sorted(TESTS), help="only this group's mutants")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tried at once")
    parser.add_argument("--list", action="store_true", help="list the mutants and stop")
    args = parser.parse_args()
    chosen = [mu for mu in MUTANTS if args.group in (None, mu.group)]
    for mutant in chosen:
        check_applies(mutant)
    if args.list:
        for n, mutant in enumerate(chosen, 1):
            print(f"{n:3} {mutant.group:15} {mutant.path:28} {mutant.what}")
        return 0
    groups = sorted({mu.group for mu in chosen})
    print(f"{len(chosen)} mutants in {', '.join(groups)}; checking the unmutated code first")
    for group in groups:
        if not trial(None, TESTS[group], redis_db=5):
            print(f"the tests of {group} fail without any mutant: fix them first")
            return 2
    started = time.monotonic()
    results: dict[Mutant, bool] = {}

    def one(item: tuple[int, Mutant]) -> None:
        n, mutant = item
        survived = trial(mutant, TESTS[mutant.group], redis_db=5 + n % args.jobs)
        results[mutant] = survived
        print(f"{'SURVIVED' if survived else 'killed  '} {mutant.group:15} {mutant.what}",
              flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, enumerate(chosen)))
    killed = Counter(mu.group for mu, survived in results.items() if not survived)
    total = Counter(mu.group for mu in results)
    print(f"\n{'group':15} killed / mutants")
    for group in groups:
        print(f"{group:15} {killed[group]:3} / {total[group]:3}  "
              f"{100 * killed[group] / total[group]:.0f} %")
    print(f"{'all':15} {sum(killed.values()):3} / {len(results):3}  "
          f"{100 * sum(killed.values()) / len(results):.0f} %   "
          f"({time.monotonic() - started:.0f} s)")
    survivors = [mu for mu, survived in results.items() if survived]
    if survivors:
        print("\nsurvivors:")
        for mu in survivors:
            print(f"  {mu.group:15} {mu.path}: {mu.what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
