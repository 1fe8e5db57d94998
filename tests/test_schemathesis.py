"""Schemathesis against the API on a real port: every check, the stateful phase included.

A bounded run (a fixed number of examples per operation and a fixed seed, no time budget, no
health check that depends on the machine's speed) over a database with the API tests'
organization tree, on SQLite and PostgreSQL; about 30 s each. Whatever it finds is a place where
the server and /api/v1/openapi.json disagree, or a 5xx. The `st` CLI runs as a subprocess
against the app on a real port: its report names the failing case and how to replay it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from webinars.api.openapi import DOCUMENT

from .api_support import make_world
from .browser import live_app

#: Operations whose 422s come from rules the document states in words but no schema can:
#: a start in the future (relative to the server's clock) and within five years, an
#: organization that exists, an end of a filter after its start, a pasted link that belongs to
#: its platform, a webhook address that is https:// and no internal address literal, a
#: platform's credentials having exactly its fields, an adopting organization below the event's
#: (and a date of its own for a copy of an indicative item), a course's sessions in the future,
#: within five years and at local times the zone's clocks do not skip.
#: Schema-valid data may rightly get those 422s, so the positive-data check accepts 422 there,
#: and only there; 400 and 415 (malformed requests) stay failures.
RULES_BEYOND_SCHEMA = ("createWebinar", "updateWebinar", "createRegistration", "listWebinars",
                       "createWebhook", "updateWebhook", "savePlatformConnection",
                       "createAdoption", "setSeries", "moveSession")
POSITIVE_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]
EXAMPLES = 25
#: Every operation but the one serving the document, which Schemathesis leaves out.
OPERATIONS = sum(1 for path, item in DOCUMENT["paths"].items() for key in item
                 if key != "parameters" and path != "/openapi.json")
SEED = 20261201


def config_file(path: Path, organizations: list[int], starts: list[str]) -> Path:
    """schemathesis.toml for this run.

    Most operations need an organization that exists and a start in the near future to get
    past creation; dictionaries offer some (not all) generated bodies such values, so the
    stateful phase can follow the document's links from a created webinar.
    """
    lines = [
        'suppress-health-check = ["too_slow"]',  # timing-based: would flake on a busy machine
        "[generation]",
        f"max-examples = {EXAMPLES}",
        'database = "none"',
        "[phases.stateful]",
        "max-steps = 12",
        "[parameters]",
        '"body.organization_id" = { dictionary = "organizations", probability = 0.8 }',
        '"body.start" = { dictionary = "starts", probability = 0.8 }',
        "[dictionaries.organizations]",
        f"values = {json.dumps(organizations)}",
        "[dictionaries.starts]",
        f"values = {json.dumps(starts)}",
        # updateWebinar takes the same fields as createWebinar; the coverage phase walks every
        # value of an enum, and the ~600 zones cost 800 requests per operation: once is enough.
        "[[operations]]",
        'include-operation-id = "updateWebinar"',
        "phases.coverage.enabled = false",
        "[[operations]]",
        f"include-operation-id = {json.dumps(list(RULES_BEYOND_SCHEMA))}",
        f"checks.positive_data_acceptance.expected-statuses = {json.dumps(POSITIVE_STATUSES)}",
    ]
    target = path / "schemathesis.toml"
    target.write_text("\n".join(lines) + "\n")
    return target


def test_schemathesis_finds_nothing(database_url: str, tmp_path: Path) -> None:
    with live_app(database_url, tmp_path) as (served, server):
        assert served.runtime is not None
        world = served.run(make_world(served.runtime, served.clock))
        served.run(served.queue.drain())
        now = served.clock.now()
        starts = [(now + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ"),  # an instant
                  (now + timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")]  # a wall time
        config = config_file(tmp_path, [world.north.id, world.north_city.id], starts)
        command = [
            str(Path(sys.executable).with_name("st")), "--config-file", str(config), "run",
            f"{server.url}/api/v1/openapi.json",
            "--checks", "all",
            "--phases", "examples,coverage,fuzzing,stateful",
            "--header", f"Authorization: Bearer {world.north_token}",
            "--seed", str(SEED),
            "--workers", "1",
            "--request-timeout", "30",
            "--no-color",
        ]
        began = time.monotonic()
        result = subprocess.run(command, check=False, capture_output=True, text=True,
                                timeout=600, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"})
        took = time.monotonic() - began
        served.run(served.queue.drain())
    output = result.stdout + result.stderr
    print(output[-6000:], f"\nschemathesis took {took:.1f}s")
    assert result.returncode == 0, output[-20000:]
    # Not a vacuous pass: every operation ran, and the stateful phase followed links.
    assert f"Tested: {OPERATIONS}" in output, output[-3000:]
    covered = re.search(r"API Links:\s+(\d+) covered", output)
    assert covered and int(covered.group(1)) >= 10, output[-3000:]
