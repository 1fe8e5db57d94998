"""Organization import benchmark: how fast a region with thousands of schools comes in from
one CSV file, checked as a whole and written in one transaction.

    .venv/bin/python bench/org_import.py [--schools 5000] [--municipalities 50]

A fresh PostgreSQL database (BENCH_PG_URL, BENCH_DB; see bench/common.py) gets a federal
organization; then the file (a region, its municipalities and schools, `;`-separated with a
BOM, as Excel in Russia saves it) is imported, and imported again (every row left as it
was). Printed: rows, seconds and rows/s of each import. Target: 5,000 rows well under 5 s.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Target, prepare


@dataclass(frozen=True)
class Figures:
    rows: int
    first: float  # seconds: check and create every row
    again: float  # seconds: check every row, none changes
    created: int
    unchanged: int

    @property
    def rate(self) -> float:
        return self.rows / self.first

    @property
    def rate_again(self) -> float:
        return self.rows / self.again


def region_file(schools: int, municipalities: int) -> bytes:
    lines = ["slug;name;level;parent_slug;timezone",
             "region;Региональная организация;regional;union;Asia/Yekaterinburg"]
    lines += [f"m{m};Муниципальная организация {m};municipal;region;"
              for m in range(municipalities)]
    lines += [f"s{s};Первичная организация школы № {s};primary;m{s % municipalities};"
              for s in range(schools)]
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode("utf-8")


async def run(target: Target, schools: int, municipalities: int) -> Figures:
    from webinars.clock import SystemClock
    from webinars.db import make_engine, make_sessionmaker
    from webinars.org_import import import_tree
    from webinars.organizations import create_organization

    await prepare(target)
    engine = make_engine(target.database_url)
    clock = SystemClock()
    data = region_file(schools, municipalities)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as session:
            await create_organization(session, clock, slug="union", name="Профсоюз",
                                      timezone="Europe/Moscow", level="federal")
            await session.commit()
        seconds = []
        outcomes = []
        for _ in range(2):
            started = time.perf_counter()
            async with sessionmaker() as session:
                outcomes.append(await import_tree(session, clock, data))
                await session.commit()
            seconds.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return Figures(rows=1 + municipalities + schools, first=seconds[0], again=seconds[1],
                   created=len(outcomes[0].created), unchanged=len(outcomes[1].unchanged))


def main(argv: Sequence[str] | None = None) -> Figures:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--schools", type=int, default=5000)
    p.add_argument("--municipalities", type=int, default=50)
    args = p.parse_args(argv)
    target = Target.from_env(default_db="webinars_bench")
    figures = asyncio.run(run(target, args.schools, args.municipalities))
    print(target.describe())
    print(f"first import:  {figures.rows} rows in {figures.first:.2f} s = "
          f"{figures.rate:.0f} rows/s ({figures.created} created)")
    print(f"second import: {figures.rows} rows in {figures.again:.2f} s = "
          f"{figures.rate_again:.0f} rows/s ({figures.unchanged} left as they were)")
    return figures


if __name__ == "__main__":
    main()
