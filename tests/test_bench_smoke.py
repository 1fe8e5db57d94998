"""Every benchmark at a tiny size, so a change to the schema or the services that breaks one
fails here instead of the next time somebody measures.

Each runs as its command does (`main(argv)` with BENCH_PG_URL, BENCH_DB and BENCH_REDIS_URL in
the environment, a real `webinars worker` process, the SMTP sink in a process of its own),
against a database of this test run's own (dropped afterwards) and a Redis database of its own:
`TEST_BENCH_REDIS_DB` (default 8), flushed at the start and at the end. At this size the
figures say nothing about speed; what is checked is that every message arrived exactly once,
every row was recorded as sent, and the figures were printed and are numbers in a sane range.
"""

from __future__ import annotations

import asyncio
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench import fanout, reminders, reschedule
from bench.common import Target, drop, worker_env

REDIS_DB = int(os.environ.get("TEST_BENCH_REDIS_DB", "8"))
PG_URL = os.environ.get("TEST_PG_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432").replace(
    "postgresql+asyncpg://", "postgresql://", 1)


@pytest.fixture
def target(monkeypatch: pytest.MonkeyPatch) -> Iterator[Target]:
    """The benchmark's database and Redis database, named through the environment as a person
    running the command names them."""
    made = Target(pg_url=PG_URL, database=f"webinars_bench_{os.getpid()}",
                  redis_url=f"redis://127.0.0.1:6379/{REDIS_DB}")
    monkeypatch.setenv("BENCH_PG_URL", made.pg_url)
    monkeypatch.setenv("BENCH_DB", made.database)
    monkeypatch.setenv("BENCH_REDIS_URL", made.redis_url)
    try:
        yield made
    finally:
        asyncio.run(drop(made))


def sane(value: float, low: float, high: float) -> bool:
    return math.isfinite(value) and low < value < high


def test_fanout_sends_every_update_once(target: Target, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    figures = fanout.main(["--registrants", "30", "--workers", "2"], log_dir=tmp_path)
    printed = capsys.readouterr().out

    assert figures.messages == 31  # 30 registrants and the warm-up one
    assert "2 `webinars worker` processes" in printed
    assert figures.received == 31, "every update reached the SMTP server, none twice"
    assert figures.outcomes == {"sent": 31}
    assert sane(figures.message_bytes, 2_000, 100_000)  # a real update with its calendar
    assert sane(figures.commit, 0, 30)
    assert 0 < figures.first <= figures.seconds < 60
    assert sane(figures.raw_before, 10, 100_000) and sane(figures.raw_after, 10, 100_000)
    assert sane(figures.ratio, 0, 2)
    assert f"all 31 received after      {figures.seconds:.2f} s" in printed
    assert "the SMTP server accepted 31; update rows: 31 sent" in printed
    assert f"product / raw = {figures.ratio:.2f}" in printed
    assert f"PostgreSQL database {target.database}, Redis {target.redis_url}" in printed
    assert 20 < figures.memory_ready <= figures.memory_peak < 2048  # MiB: a Python worker's
    assert f"peak {figures.memory_peak:.0f} MiB" in printed
    assert 0 < figures.worker_cpu < 60  # the worker did the sending, and it was measured
    assert f"worker CPU: {1000 * figures.worker_cpu / 31:.2f} ms per message" in printed


def test_reminders_arrive_once_and_never_early(target: Target, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    figures = reminders.main(["--reminders", "20", "--lead", "10"], log_dir=tmp_path)
    printed = capsys.readouterr().out

    assert figures.webinars == 10 and figures.reminders == 20
    assert figures.received == 20, "every reminder reached the SMTP server, none twice"
    assert figures.outcomes == {"sent": 20}
    assert len(figures.lateness) == 20
    assert min(figures.lateness) >= 0, "nothing leaves before it is due"
    assert figures.p50 <= figures.p99 <= max(figures.lateness) < 10
    assert f"p50 {figures.p50:.3f} s   p99 {figures.p99:.3f} s" in printed
    assert "the SMTP server accepted 20; reminder rows: 20 sent" in printed
    assert sane(figures.raw_after, 10, 100_000) and figures.first == min(figures.lateness)
    assert figures.raw_before is None or sane(figures.raw_before, 10, 100_000)
    assert f"drain {figures.drain:.0f} reminders/s, raw (a client alone) " in printed
    assert f"{figures.raw_after:.0f} after messages/s over 5 connections: " in printed
    assert f"{figures.drain / figures.raw:.2f} of raw" in printed
    assert 0 < figures.worker_cpu < 60
    assert f"worker CPU: {1000 * figures.worker_cpu / 20:.2f} ms per reminder" in printed
    assert f"target p99 ≤ 1.5 s: {'met' if figures.p99 <= 1.5 else 'MISSED'}" in printed


def test_the_environment_names_where_a_benchmark_writes() -> None:
    assert Target.from_env({}) == Target("postgresql://postgres@127.0.0.1:5432",
                                         "webinars_bench", "redis://127.0.0.1:6379/15")
    mine = Target.from_env({"BENCH_PG_URL": "postgresql://bench@db.internal:5433/",
                            "BENCH_DB": "webinars_bench_anna",
                            "BENCH_REDIS_URL": "redis://127.0.0.1:6379/7"})
    assert mine.database_url == "postgresql+asyncpg://bench@db.internal:5433/webinars_bench_anna"
    env = worker_env(mine, smtp_port=2525, pool=5)
    assert env["DATABASE_URL"] == mine.database_url
    assert env["REDIS_URL"] == "redis://127.0.0.1:6379/7"
    assert env["SMTP_URL"] == "smtp://127.0.0.1:2525?pool=5"
    # Both are wiped at the start: a name that is not one, or a Redis address that leaves the
    # database to a default, is refused rather than guessed.
    for bad in ({"BENCH_DB": "bench; DROP DATABASE postgres"},
                {"BENCH_REDIS_URL": "redis://127.0.0.1:6379"},
                {"BENCH_PG_URL": "postgresql+asyncpg://postgres@127.0.0.1:5432"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Target.from_env(bad)


def test_rescheduling_writes_no_update_in_the_request_at_any_size(
        target: Target, capsys: pytest.CaptureFixture[str]) -> None:
    figures = reschedule.main(["--sizes", "3,40", "--repeat", "2"])
    printed = capsys.readouterr().out

    assert [f.registrants for f in figures] == [3, 40]
    for f in figures:
        assert len(f.seconds) == 2 and all(sane(s, 0, 30) for s in f.seconds)
        assert f.rows_written == 0, "the members' updates are the worker's to write"
        assert f.events == 3  # the warm-up and the two measured reschedules
        assert f"{f.registrants:>11,}   {f.median * 1000:6.1f} ms" in printed
    assert f"PostgreSQL database {target.database}, Redis {target.redis_url}" in printed


def test_org_import_creates_then_leaves_every_row(target: Target,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from bench import org_import

    figures = org_import.main(["--schools", "40", "--municipalities", "4"])
    printed = capsys.readouterr().out

    assert figures.rows == 45 and figures.created == 45 and figures.unchanged == 45
    assert sane(figures.rate, 1, 10_000_000) and sane(figures.rate_again, 1, 10_000_000)
    assert f"first import:  45 rows in {figures.first:.2f} s" in printed
    assert "(45 left as they were)" in printed
    assert f"PostgreSQL database {target.database}, Redis {target.redis_url}" in printed


def test_the_event_page_bench_measures_both_servers_and_the_page_stays_right(
        target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import pages

    figures = pages.main(["--rounds", "1", "--seconds", "1", "--connections", "4", "--writes"],
                         log_dir=tmp_path)
    printed = capsys.readouterr().out

    assert len(figures.product) == len(figures.bare) == 1
    assert sane(figures.product[0], 1, 1_000_000) and sane(figures.bare[0], 1, 1_000_000)
    assert sane(figures.product_p99[0], 0, 30) and sane(figures.bare_p99[0], 0, 30)
    assert figures.registrations >= 1, "a registration went in during the run"
    assert figures.seats_shown == figures.seats_expected, "the page shows the seats left"
    assert f"product / bare: {figures.ratio:.2f}" in printed


def test_the_organization_page_bench_measures_the_page_of_many_events(
        target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import pages

    figures = pages.main(["--page", "org", "--events", "3", "--rounds", "1", "--seconds", "1",
                          "--connections", "4"], log_dir=tmp_path)
    printed = capsys.readouterr().out
    assert printed.startswith("Organization page vs bare")
    assert sane(figures.product[0], 1, 1_000_000) and sane(figures.bare[0], 1, 1_000_000)
    assert f"product / bare: {figures.ratio:.2f} (target ≥ 0.30)" in printed


def test_a_rush_of_registrations_fills_the_seats_exactly(
        target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import registrations

    figures = registrations.main(["--members", "20", "--capacity", "5"], log_dir=tmp_path)
    printed = capsys.readouterr().out

    assert figures.statuses == {200: 20}, "every member got the page, no 5xx"
    assert (figures.confirmed, figures.waitlisted, figures.counter) == (5, 15, 5)
    assert figures.exact and len(figures.latencies) == 20
    assert sane(figures.p99, 0, 60) and f"p99 {figures.p99 * 1000:.0f} ms" in printed
    assert "database: 5 seated, 15 waitlisted, seat counter 5 — exact" in printed


def test_the_lists_bench_measures_every_page_and_feed_at_each_size(
        target: Target, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bench import lists

    figures = lists.main(["--sizes", "3,30", "--repeat", "2", "--cold", "1"], log_dir=tmp_path)
    printed = capsys.readouterr().out

    pages = ["org page", "archive", "archive, last page", "dashboard", "registrants",
             "registrants, last page", "deliveries"]
    feeds = ["feed, built", "feed, kept", "feed, 304", "served feed, kept", "served feed, 304"]
    for size in (3, 30):
        for what in pages + feeds:
            row = figures.get(size, what)
            assert row.seconds and all(sane(s, 0, 30) for s in row.seconds), (size, what)
            assert f"{what:24}" in printed
        assert all(figures.get(size, what).nbytes > 1000 for what in pages)
        built = figures.get(size, "feed, built")
        assert built.nbytes == figures.get(size, "feed, kept").nbytes \
            == figures.get(size, "served feed, kept").nbytes
        assert figures.get(size, "feed, 304").status == 304
        assert figures.get(size, "served feed, 304").nbytes == 0
    # Thirty events make a longer feed than three: every event is in it.
    assert figures.get(30, "feed, built").nbytes > 5 * figures.get(3, "feed, built").nbytes
    assert f"PostgreSQL database {target.database}, Redis {target.redis_url}" in printed
